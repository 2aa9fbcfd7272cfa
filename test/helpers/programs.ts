/** Programs from the system's packages that some tests drive (nginx, Caddy, mkfs.ext4). */
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** Finds a program on PATH or in the sbin folders (nginx and mkfs.ext4 live in /usr/sbin). */
export function findProgram(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) if (dir && fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  return null;
}

/**
 * The program's path, or null after marking the test skipped with a visible reason. On CI (`CI`
 * set) a missing program fails the test instead: .ci/run installs it, so its absence is a broken
 * setup, not a pass.
 */
export function requireProgram(t: TestContext, name: string): string | null {
  const found = findProgram(name);
  if (found !== null) return found;
  const why = `${name} is not installed (Debian: apt-get install ${name})`;
  if (process.env.CI) throw new Error(`${why}; CI must install it`);
  t.diagnostic(`skipped: ${why}`);
  t.skip(why);
  return null;
}
