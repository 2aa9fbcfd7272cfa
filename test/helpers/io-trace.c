/*
 * io-trace: an LD_PRELOAD shim that records every change a process makes below one folder, so a
 * test can rebuild what a disk would hold after a power cut (see io-trace.ts, which compiles this
 * file, reads the trace and does the rebuilding).
 *
 *   SOV_IO_TRACE=/path/to/trace  SOV_IO_TRACE_ROOT=/abs/folder  LD_PRELOAD=io-trace.so  UV_USE_IO_URING=0
 *
 * Recorded, for paths at or below the root only: opens (the fd, the canonical path, the flags, file
 * or folder), writes with their offset and bytes, truncations, fsync/fdatasync, renames, unlinks,
 * mkdir and rmdir. Each call gives two records: BEGIN before it is made (its arguments) and DONE
 * (with what it did: a write's offset and bytes) or FAILED after it returns. io-trace.ts applies a
 * call at its DONE and counts a sync only for what was DONE before the sync's BEGIN; a call with a
 * BEGIN and no end was in flight when the process died.
 *
 * Anything this shim does not see (io_uring, raw syscalls, mmap, a dup'ed fd) would make the trace
 * incomplete; io-trace.ts checks that replaying the whole trace gives exactly the files on disk.
 * libuv (Node 20 ships 1.46) sends file I/O through io_uring when UV_USE_IO_URING=1.
 *
 * Record: a 48-byte header (kind, phase, fd, call id, two numbers, path lengths, data length), then
 * the paths and the data, appended to the trace under a lock, so records never mix.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OPEN = 1, WRITE, TRUNCATE, SYNC, RENAME, UNLINK, MKDIR, RMDIR, UNTRACKABLE };
enum { BEGIN = 1, DONE, FAILED };

struct header {
  uint16_t kind;
  uint16_t phase;
  int32_t fd;
  uint64_t id; /* pairs a BEGIN with its DONE or FAILED */
  uint64_t a;  /* OPEN: flags; WRITE: offset (BEGIN of a write at the file position: all ones); TRUNCATE: length */
  uint64_t b;  /* OPEN DONE: 1 for a folder; WRITE BEGIN: length asked for */
  uint32_t path_length;
  uint32_t path2_length;
  uint64_t data_length;
};

/*
 * The files being traced, by fd, with the identity each had when opened. libuv closes fds with a
 * raw close syscall that no wrapper sees, so an fd number may since belong to a socket or another
 * file: every traced call first checks that the fd still is the file that was opened.
 * fds above MAX_FD are not tracked; opening one under the root records UNTRACKABLE instead.
 */
#define MAX_FD 65536
static struct {
  unsigned char tracked;
  dev_t dev;
  ino_t ino;
} fds[MAX_FD];

static int trace_fd = -1;
static char root[PATH_MAX];
static size_t root_length;
static uint64_t next_id = 1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_mkdirat)(int, const char *, mode_t);
static int (*real_rmdir)(const char *);

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

__attribute__((constructor)) static void start(void) {
  RESOLVE(open);
  RESOLVE(open64);
  RESOLVE(openat);
  RESOLVE(openat64);
  RESOLVE(close);
  RESOLVE(dup2);
  RESOLVE(dup3);
  RESOLVE(write);
  RESOLVE(pwrite);
  RESOLVE(pwrite64);
  RESOLVE(writev);
  RESOLVE(pwritev);
  RESOLVE(pwritev64);
  RESOLVE(ftruncate);
  RESOLVE(ftruncate64);
  RESOLVE(fsync);
  RESOLVE(fdatasync);
  RESOLVE(rename);
  RESOLVE(renameat);
  RESOLVE(unlink);
  RESOLVE(unlinkat);
  RESOLVE(mkdir);
  RESOLVE(mkdirat);
  RESOLVE(rmdir);
  const char *file = getenv("SOV_IO_TRACE");
  const char *folder = getenv("SOV_IO_TRACE_ROOT");
  if (!file || !folder || strlen(folder) >= sizeof root) return;
  strcpy(root, folder);
  root_length = strlen(root);
  while (root_length > 1 && root[root_length - 1] == '/') root[--root_length] = '\0';
  trace_fd = real_open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static int below_root(const char *path) {
  return trace_fd >= 0 && strncmp(path, root, root_length) == 0 && (path[root_length] == '\0' || path[root_length] == '/');
}

static void untrack(int fd) {
  if (fd >= 0 && fd < MAX_FD) __atomic_store_n(&fds[fd].tracked, 0, __ATOMIC_RELEASE);
}

static int is_tracked(int fd) {
  if (trace_fd < 0 || fd < 0 || fd >= MAX_FD || !__atomic_load_n(&fds[fd].tracked, __ATOMIC_ACQUIRE)) return 0;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_dev == fds[fd].dev && st.st_ino == fds[fd].ino) return 1;
  untrack(fd);
  return 0;
}

/* The absolute form of `path` as seen from `dirfd`, without resolving symlinks (the test's root is a realpath). */
static int absolute(int dirfd, const char *path, char *out) {
  if (path[0] == '/') return snprintf(out, PATH_MAX, "%s", path) < PATH_MAX;
  char base[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (!getcwd(base, sizeof base)) return 0;
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof base - 1);
    if (n < 0) return 0;
    base[n] = '\0';
  }
  return snprintf(out, PATH_MAX, "%s/%s", base, path) < PATH_MAX;
}

/* Writes all of `parts` to the trace (a regular file: partial writes are rare, but handled). */
static void write_all(struct iovec *parts, int n) {
  for (int i = 0; i < n;) {
    ssize_t done = real_writev(trace_fd, parts + i, n - i);
    if (done < 0) {
      if (errno == EINTR) continue;
      return;
    }
    while (i < n && (size_t)done >= parts[i].iov_len) done -= parts[i++].iov_len;
    if (i < n) {
      parts[i].iov_base = (char *)parts[i].iov_base + done;
      parts[i].iov_len -= done;
    }
  }
}

/*
 * Appends one record; `data` holds `count` buffers of which the first `data_length` bytes are
 * recorded. One lock around it all, so records never mix; a kill in the middle leaves a torn last
 * record, which io-trace.ts expects.
 */
static void emit(uint16_t kind, uint16_t phase, int fd, uint64_t id, uint64_t a, uint64_t b, const char *path, const char *path2, const struct iovec *data, int count, size_t data_length) {
  struct header h = { kind, phase, fd, id, a, b, path ? strlen(path) : 0, path2 ? strlen(path2) : 0, data_length };
  struct iovec parts[64];
  int n = 0;
  parts[n++] = (struct iovec){ &h, sizeof h };
  if (h.path_length) parts[n++] = (struct iovec){ (void *)path, h.path_length };
  if (h.path2_length) parts[n++] = (struct iovec){ (void *)path2, h.path2_length };
  int saved = errno;
  pthread_mutex_lock(&lock);
  size_t left = data_length;
  for (int i = 0; i < count && left > 0; i++) {
    size_t take = data[i].iov_len < left ? data[i].iov_len : left;
    if (take > 0) parts[n++] = (struct iovec){ data[i].iov_base, take };
    left -= take;
    if (n == 64) {
      write_all(parts, n);
      n = 0;
    }
  }
  if (n > 0) write_all(parts, n);
  pthread_mutex_unlock(&lock);
  errno = saved;
}

static uint64_t new_id(void) {
  return __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
}

static void ended(uint16_t kind, int fd, uint64_t id, int ok) {
  emit(kind, ok ? DONE : FAILED, fd, id, 0, 0, NULL, NULL, NULL, 0, 0);
}

/* ## Opening and closing */

/* The BEGIN of an open names the path as given (made absolute); DONE names where the fd really points. */
static uint64_t opening(int dirfd, const char *path, int flags) {
  char full[PATH_MAX];
  if (trace_fd < 0 || !absolute(dirfd, path, full) || !below_root(full)) return 0;
  uint64_t id = new_id();
  emit(OPEN, BEGIN, -1, id, (uint64_t)flags, 0, full, NULL, NULL, 0, 0);
  return id;
}

static void opened(uint64_t id, int fd, int flags) {
  if (trace_fd < 0) return;
  char link[64], path[PATH_MAX];
  ssize_t n = -1;
  if (fd >= 0) {
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path - 1);
  }
  if (n >= 0) path[n] = '\0';
  int below = n >= 0 && below_root(path);
  if (!below) {
    if (id) ended(OPEN, fd, id, 0);
    return;
  }
  if (!id) {
    /* Reached the root through a path that did not start with it (a symlink): record a BEGIN after all. */
    id = new_id();
    emit(OPEN, BEGIN, -1, id, (uint64_t)flags, 0, path, NULL, NULL, 0, 0);
  }
  if (fd >= MAX_FD) {
    emit(UNTRACKABLE, DONE, fd, id, 0, 0, path, NULL, NULL, 0, 0);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ended(OPEN, fd, id, 0);
    return;
  }
  emit(OPEN, DONE, fd, id, (uint64_t)flags, S_ISDIR(st.st_mode), path, NULL, NULL, 0, 0);
  fds[fd].dev = st.st_dev;
  fds[fd].ino = st.st_ino;
  __atomic_store_n(&fds[fd].tracked, 1, __ATOMIC_RELEASE);
}

static int traced_open(int (*real)(const char *, int, ...), int (*real_at)(int, const char *, int, ...), int dirfd, const char *path, int flags, mode_t mode) {
  uint64_t id = opening(dirfd, path, flags);
  int fd = real ? real(path, flags, mode) : real_at(dirfd, path, flags, mode);
  opened(id, fd, flags);
  return fd;
}

/* The mode argument exists only when the flags ask for a new file. */
#define MODE_ARGUMENT(flags)                                                            \
  mode_t mode = 0;                                                                      \
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {                          \
    va_list args;                                                                       \
    va_start(args, flags);                                                              \
    mode = va_arg(args, mode_t);                                                        \
    va_end(args);                                                                       \
  }

int open(const char *path, int flags, ...) {
  MODE_ARGUMENT(flags);
  return traced_open(real_open, NULL, AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
  MODE_ARGUMENT(flags);
  return traced_open(real_open64, NULL, AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
  MODE_ARGUMENT(flags);
  return traced_open(NULL, real_openat, dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
  MODE_ARGUMENT(flags);
  return traced_open(NULL, real_openat64, dirfd, path, flags, mode);
}

/* Untracked before the real close: once closed, another thread may get the same number for another file. */
int close(int fd) {
  untrack(fd);
  return real_close(fd);
}

int dup2(int oldfd, int newfd) {
  untrack(newfd);
  return real_dup2(oldfd, newfd);
}

int dup3(int oldfd, int newfd, int flags) {
  untrack(newfd);
  return real_dup3(oldfd, newfd, flags);
}

/* ## Writes, truncation, syncs */

#define AT_POSITION UINT64_MAX

static uint64_t writing(int fd, uint64_t offset, size_t length) {
  if (!is_tracked(fd)) return 0;
  uint64_t id = new_id();
  emit(WRITE, BEGIN, fd, id, offset, length, NULL, NULL, NULL, 0, 0);
  return id;
}

/* A write at the file position: where it landed is read back from the position it left. */
static void wrote(uint64_t id, int fd, ssize_t n, uint64_t offset, const struct iovec *data, int count) {
  if (!id) return;
  if (n < 0) {
    ended(WRITE, fd, id, 0);
    return;
  }
  if (offset == AT_POSITION) offset = (uint64_t)(lseek(fd, 0, SEEK_CUR) - n);
  emit(WRITE, DONE, fd, id, offset, 0, NULL, NULL, data, count, (size_t)n);
}

static size_t total(const struct iovec *data, int count) {
  size_t sum = 0;
  for (int i = 0; i < count; i++) sum += data[i].iov_len;
  return sum;
}

ssize_t write(int fd, const void *buffer, size_t length) {
  uint64_t id = writing(fd, AT_POSITION, length);
  ssize_t n = real_write(fd, buffer, length);
  struct iovec data = { (void *)buffer, length };
  wrote(id, fd, n, AT_POSITION, &data, 1);
  return n;
}

#define PWRITE_WRAPPER(name)                                                     \
  ssize_t name(int fd, const void *buffer, size_t length, off_t offset) {        \
    uint64_t id = writing(fd, (uint64_t)offset, length);                         \
    ssize_t n = real_##name(fd, buffer, length, offset);                         \
    struct iovec data = { (void *)buffer, length };                              \
    wrote(id, fd, n, (uint64_t)offset, &data, 1);                                \
    return n;                                                                    \
  }

PWRITE_WRAPPER(pwrite)
PWRITE_WRAPPER(pwrite64)

ssize_t writev(int fd, const struct iovec *data, int count) {
  uint64_t id = writing(fd, AT_POSITION, total(data, count));
  ssize_t n = real_writev(fd, data, count);
  wrote(id, fd, n, AT_POSITION, data, count);
  return n;
}

#define PWRITEV_WRAPPER(name)                                                    \
  ssize_t name(int fd, const struct iovec *data, int count, off_t offset) {      \
    uint64_t id = writing(fd, (uint64_t)offset, total(data, count));             \
    ssize_t n = real_##name(fd, data, count, offset);                            \
    wrote(id, fd, n, (uint64_t)offset, data, count);                             \
    return n;                                                                    \
  }

PWRITEV_WRAPPER(pwritev)
PWRITEV_WRAPPER(pwritev64)

#define FTRUNCATE_WRAPPER(name)                                                  \
  int name(int fd, off_t length) {                                               \
    if (!is_tracked(fd)) return real_##name(fd, length);                         \
    uint64_t id = new_id();                                                      \
    emit(TRUNCATE, BEGIN, fd, id, (uint64_t)length, 0, NULL, NULL, NULL, 0, 0);  \
    int r = real_##name(fd, length);                                             \
    ended(TRUNCATE, fd, id, r == 0);                                             \
    return r;                                                                    \
  }

FTRUNCATE_WRAPPER(ftruncate)
FTRUNCATE_WRAPPER(ftruncate64)

static int synced(int fd, int (*real)(int)) {
  if (!is_tracked(fd)) return real(fd);
  uint64_t id = new_id();
  emit(SYNC, BEGIN, fd, id, 0, 0, NULL, NULL, NULL, 0, 0);
  int r = real(fd);
  ended(SYNC, fd, id, r == 0);
  return r;
}

int fsync(int fd) { return synced(fd, real_fsync); }
int fdatasync(int fd) { return synced(fd, real_fdatasync); }

/* ## Folder changes */

static uint64_t changing(uint16_t kind, int dirfd, const char *path, int dirfd2, const char *path2) {
  char first[PATH_MAX], second[PATH_MAX];
  if (trace_fd < 0 || !absolute(dirfd, path, first)) return 0;
  if (path2 && !absolute(dirfd2, path2, second)) return 0;
  if (!below_root(first) && !(path2 && below_root(second))) return 0;
  uint64_t id = new_id();
  emit(kind, BEGIN, -1, id, 0, 0, first, path2 ? second : NULL, NULL, 0, 0);
  return id;
}

static int changed(uint16_t kind, uint64_t id, int r) {
  if (id) ended(kind, -1, id, r == 0);
  return r;
}

int rename(const char *from, const char *to) {
  uint64_t id = changing(RENAME, AT_FDCWD, from, AT_FDCWD, to);
  return changed(RENAME, id, real_rename(from, to));
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
  uint64_t id = changing(RENAME, fromfd, from, tofd, to);
  return changed(RENAME, id, real_renameat(fromfd, from, tofd, to));
}

int unlink(const char *path) {
  uint64_t id = changing(UNLINK, AT_FDCWD, path, AT_FDCWD, NULL);
  return changed(UNLINK, id, real_unlink(path));
}

int unlinkat(int dirfd, const char *path, int flags) {
  uint16_t kind = flags & AT_REMOVEDIR ? RMDIR : UNLINK;
  uint64_t id = changing(kind, dirfd, path, AT_FDCWD, NULL);
  return changed(kind, id, real_unlinkat(dirfd, path, flags));
}

int mkdir(const char *path, mode_t mode) {
  uint64_t id = changing(MKDIR, AT_FDCWD, path, AT_FDCWD, NULL);
  return changed(MKDIR, id, real_mkdir(path, mode));
}

int mkdirat(int dirfd, const char *path, mode_t mode) {
  uint64_t id = changing(MKDIR, dirfd, path, AT_FDCWD, NULL);
  return changed(MKDIR, id, real_mkdirat(dirfd, path, mode));
}

int rmdir(const char *path) {
  uint64_t id = changing(RMDIR, AT_FDCWD, path, AT_FDCWD, NULL);
  return changed(RMDIR, id, real_rmdir(path));
}
