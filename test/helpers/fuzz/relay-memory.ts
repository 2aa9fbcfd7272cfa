/**
 * The relay's resident memory and its bound over a run (invariant d).
 */
import fs from 'node:fs';

/** Resident memory of a process in MB, from /proc/<pid>/status (Linux). */
export function rssMb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The bound on the relay's RSS growth during a run (end minus start, per relay process). Over a
 * fuzz run the relay legitimately keeps more and more:
 * - the messages the fuzz got accepted: up to 2 x --history = 2,000 per room in memory, in the
 *   nine rooms the generators use; most are short, but the big room holds 4,000-"€" messages, so
 *   it alone can reach ~17 MB of two-byte strings;
 * - accounts and sessions the fuzz registered (~1 KB each, some thousands over a long run);
 * - the login limiter's per-name buckets (capped at 100,000 keys) and the signature key cache
 *   (capped at 50,000 keys).
 * On top of that V8 and glibc keep freed heap and buffers mapped after bursts (64 KB frames,
 * 768 KB join replies), which RSS counts. Measured on the 2-core machine: +23 to +31 MB after the
 * CI run's 10,000 frames; +117 MB after the long run's 1,000,000 fuzz frames (1.7 million with
 * the flood pings; peak +147 MB). Of that, live data is the small part: heap snapshots of the relay
 * at 227,000 and 479,000 frames held 17.5 and 28.2 MB, the difference being room histories
 * filling towards their cap, accounts, sessions and replay-window ids. So 150 MB is generous for
 * the test and still holds a million frames, while a leak of 100 bytes per frame would break it
 * within the long run (raise it with scripts/fuzz-long.ts --rss-bound for much longer runs).
 */
export const RSS_BOUND_MB = 150;

export interface RelayRecord {
  pid: number;
  startRss: number;
  peakRss: number;
  endRss: number;
  frames: number;
  died: string | null;
}
