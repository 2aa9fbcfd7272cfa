/**
 * A wall clock the test moves: a relay started with `env()` sees Date.now() shifted by whatever
 * `set()` last wrote (the clock-shift shim, clock-shift.c, reads it at every clock read). Only the
 * wall clock moves: the relay's timers and the test's own clock keep real time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tempDataDir } from './relay-process.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;

export class ClockShift {
  private readonly file = path.join(tempDataDir(), 'clock-shift');
  private readonly fd: number;
  private current = 0;

  constructor() {
    fs.writeFileSync(this.file, Buffer.alloc(8));
    // Rewritten in place, never truncated: the shim has the file mapped, and reading a mapping past
    // the end of its file is SIGBUS.
    this.fd = fs.openSync(this.file, 'r+');
    process.once('exit', () => fs.closeSync(this.fd));
  }

  /** Environment for a process whose clock this moves. */
  env(shim: string): NodeJS.ProcessEnv {
    return { LD_PRELOAD: shim, SOV_CLOCK_SHIFT: this.file };
  }

  /** Moves the clock to `ms` ahead of real time (it never goes back in these tests, but could). */
  set(ms: number): void {
    const bytes = Buffer.alloc(8);
    bytes.writeBigInt64LE(BigInt(Math.round(ms)));
    fs.writeSync(this.fd, bytes, 0, 8, 0);
    this.current = ms;
  }

  /** The shifted clock: what the relay's Date.now() says now. */
  now(): number {
    return Date.now() + this.current;
  }
}
