/*
 * clock-shift: an LD_PRELOAD shim that moves a process's wall clock (and only the wall clock) by an
 * amount a test sets while the process runs, so expiry measured in days can be tested in seconds
 * without mocking anything inside the relay. See clock-shift.ts.
 *
 *   SOV_CLOCK_SHIFT=/path/to/file  LD_PRELOAD=clock-shift.so
 *
 * The file holds one little-endian int64: milliseconds added to CLOCK_REALTIME (what Date.now()
 * and new Date() read, through gettimeofday or clock_gettime). It is mapped shared, so a write by
 * the test is seen at the next clock read; it must be rewritten in place, never truncated (a read
 * past the end of a mapping is SIGBUS). CLOCK_MONOTONIC is left alone: timers, timeouts and
 * performance.now() keep real time, so nothing fires early or late because the date jumped.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const volatile int64_t *shift_ms;
static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_gettimeofday)(struct timeval *, void *);

__attribute__((constructor)) static void start(void) {
  real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
  real_gettimeofday = dlsym(RTLD_NEXT, "gettimeofday");
  const char *file = getenv("SOV_CLOCK_SHIFT");
  if (!file) return;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  void *map = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map != MAP_FAILED) shift_ms = map;
}

/* Read once per call: the test may change it between two reads. */
static int64_t shift(void) {
  return shift_ms ? *shift_ms : 0;
}

int clock_gettime(clockid_t clock, struct timespec *time) {
  int r = real_clock_gettime(clock, time);
  if (r == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
    int64_t ns = (int64_t)time->tv_sec * 1000000000 + time->tv_nsec + shift() * 1000000;
    time->tv_sec = ns / 1000000000;
    time->tv_nsec = ns % 1000000000;
  }
  return r;
}

int gettimeofday(struct timeval *time, void *zone) {
  int r = real_gettimeofday(time, zone);
  if (r == 0) {
    int64_t us = (int64_t)time->tv_sec * 1000000 + time->tv_usec + shift() * 1000;
    time->tv_sec = us / 1000000;
    time->tv_usec = us % 1000000;
  }
  return r;
}

time_t time(time_t *out) {
  struct timeval now;
  gettimeofday(&now, NULL);
  if (out) *out = now.tv_sec;
  return now.tv_sec;
}
