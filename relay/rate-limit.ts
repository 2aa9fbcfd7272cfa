/**
 * Token buckets: `burst` tokens, refilled at `perSecond`. Used per connection (request floods),
 * and keyed per username and per IP (password guessing, registration spam).
 */

/**
 * Refilling in floating point leaves 0.9999999999999999 tokens where exactly one is due (60 s at
 * 1/60 a second), so a client that came back after exactly the retryAfterMs it was given was
 * refused for one more millisecond. A token counts as there within a billionth of one.
 */
const WHOLE_TOKEN = 1 - 1e-9;

export class TokenBucket {
  private tokens: number;
  private updated: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.updated = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updated) / 1000) * this.perSecond);
    this.updated = now;
  }

  /** Takes one token; returns 0 when allowed, else how many ms until a token is available. */
  take(now = Date.now()): number {
    const wait = this.wait(now);
    if (wait === 0) this.tokens -= 1;
    return wait;
  }

  /** Like take, without consuming: lets a check happen before the work that may cost a token. */
  wait(now = Date.now()): number {
    this.refill(now);
    return this.tokens >= WHOLE_TOKEN ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  isFull(now = Date.now()): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }
}

/**
 * While locks fill 90% of the table or more, it is scanned for room at most this often: an attacker
 * who keeps it full of locks could otherwise make every new name cost a walk over every key.
 */
const LOCKED_TABLE_RESCAN_MS = 1000;

/** A scan makes room down to this share of the cap, so the next 10% of new keys need no scan. */
const PRUNE_TO = 0.9;

/**
 * Buckets by key with a hard cap on how many keys it tracks, so an attacker cycling through
 * usernames or addresses cannot grow relay memory without bound (100,000 buckets with their
 * usernames: 16 MB of heap, measured).
 *
 * Making room never lifts a lock: only buckets that are not refusing are forgotten, full ones
 * first (they hold nothing a fresh bucket would not), then the oldest that still have tries left
 * (forgetting one gives its key its full budget back, which an attacker buys only with a flood
 * past the cap). Before this, the oldest keys went whatever they held, and 102,000 failed logins
 * under junk names from 3,400 addresses (7.8 s as reported, 4.9 s in test/relay/rate-limit.test.ts)
 * unlocked a name that was being guessed.
 *
 * When every tracked key is locked, there is no room to make: a new key is refused, as if locked,
 * until the first lock lifts. The trade-off, chosen over forgetting a lock or letting new keys go
 * uncounted: under a flood big enough to lock the whole table, new names (and the people behind
 * them) wait, at most as long as one lock lasts; no lock is ever lifted early.
 */
export class KeyedLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  /** When locks filled the table at the last scan: no new scan before this time (ms since epoch). */
  private noScanUntil = 0;

  /**
   * @param perSecond - tokens added back per second to each key's bucket
   * @param burst - tokens a key starts with: the tries before it is refused
   * @param maxKeys - most keys tracked at once; tests pass a small table to reach the cap quickly
   */
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** How many keys are tracked now (never more than `maxKeys`). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`; returns 0 when allowed, else how many ms until it may try again. */
  take(key: string, now = Date.now()): number {
    const bucket = this.buckets.get(key);
    if (bucket) return bucket.take(now);
    const wait = this.makeRoom(now);
    if (wait > 0) return wait;
    const fresh = new TokenBucket(this.perSecond, this.burst, now);
    this.buckets.set(key, fresh);
    return fresh.take(now);
  }

  /** Like take, without consuming: 0 when `key` may try now. A key with no room to be counted waits. */
  wait(key: string, now = Date.now()): number {
    return this.buckets.get(key)?.wait(now) ?? this.makeRoom(now);
  }

  /** 0 when a new key fits, else how long until one may (the table is full of locks). */
  private makeRoom(now: number): number {
    if (this.buckets.size < this.maxKeys) return 0;
    if (now < this.noScanUntil) return this.noScanUntil - now;
    const firstUnlock = this.prune(now);
    if (this.buckets.size >= this.maxKeys * PRUNE_TO) {
      // Mostly locks: the next walk waits a second, and while nothing at all could be freed, until
      // the first lock lifts. Meanwhile new keys are refused without one.
      this.noScanUntil = Math.max(now + LOCKED_TABLE_RESCAN_MS, this.buckets.size >= this.maxKeys ? firstUnlock : 0);
    }
    return this.buckets.size < this.maxKeys ? 0 : this.noScanUntil - now;
  }

  /**
   * Forgets buckets that are not refusing, until the table is below PRUNE_TO of the cap: full ones,
   * then the oldest. Returns when the first of the locks that remain lifts.
   */
  private prune(now: number): number {
    const target = this.maxKeys * PRUNE_TO;
    const withTriesLeft: string[] = [];
    let firstUnlock = Infinity;
    for (const [key, bucket] of this.buckets) {
      const wait = bucket.wait(now);
      if (wait > 0) firstUnlock = Math.min(firstUnlock, now + wait);
      else if (bucket.isFull(now)) this.buckets.delete(key);
      else withTriesLeft.push(key);
    }
    for (const key of withTriesLeft) {
      if (this.buckets.size < target) break;
      this.buckets.delete(key);
    }
    return firstUnlock;
  }
}
