/**
 * The C shims in this folder (io-trace.c, clock-shift.c), compiled with the system C compiler into
 * a temporary folder once per test process, for LD_PRELOAD into a relay started by a test.
 *
 * Without a C compiler (or off Linux) the tests that need a shim are skipped, except under CI
 * (`CI` set): there a missing compiler is a broken machine, and the test fails saying so, because a
 * skipped durability test looks exactly like a passing one.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT, tempDataDir } from './relay-process.ts';

export type ShimName = 'io-trace' | 'clock-shift';

export interface Shim {
  /** For node:test's `skip` option: the reason, or false when the test is to run. */
  skip: string | false;
  /** The compiled library; throws why it could not be built. */
  file(): string;
}

const built = new Map<ShimName, Shim>();
let buildFolder: string | undefined;

function compile(name: ShimName): string {
  if (process.platform !== 'linux') throw new Error(`the ${name} shim is for Linux (LD_PRELOAD over glibc)`);
  buildFolder ??= tempDataDir();
  const output = path.join(buildFolder, `${name}.so`);
  const source = path.join(PACKAGE_ROOT, 'test', 'helpers', `${name}.c`);
  const compiler = process.env.CC || 'gcc';
  try {
    execFileSync(
      compiler,
      ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', output, source, '-ldl', '-lpthread'],
      { stdio: 'pipe' },
    );
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString() || (error as Error).message;
    throw new Error(`could not compile ${source} with ${compiler}: ${detail}`);
  }
  return output;
}

/** The shim `name`, compiled on first use. */
export function preloadShim(name: ShimName): Shim {
  let shim = built.get(name);
  if (!shim) {
    let file: string | undefined;
    let failure: Error | undefined;
    try {
      file = compile(name);
    } catch (error) {
      failure = error as Error;
    }
    shim = {
      skip: failure && !process.env.CI ? `needs a C compiler for test/helpers/${name}.c: ${failure.message}` : false,
      file() {
        if (failure) throw failure;
        return file!;
      },
    };
    built.set(name, shim);
  }
  return shim;
}
