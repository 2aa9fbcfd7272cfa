/** `sov-relay`: reads flags, starts the relay, and on SIGINT/SIGTERM flushes everything and exits 0 (`sov-relay repair`: cli/repair.ts). */
import { ConfigError, parseConfig, usage } from './config.ts';
import { runRepair } from './cli/repair.ts';
import { DataFolderError } from './data-folder.ts';
import { errorText, stderrLogger } from './logger.ts';
import { startRelay } from './server.ts';

async function main(): Promise<void> {
  if (process.argv[2] === 'repair') {
    process.exitCode = await runRepair(process.argv.slice(3));
    return;
  }
  let config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`sov-relay: ${error.message}\nRun sov-relay --help for the flags.\n`);
    process.exit(2);
  }
  if (config === null) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  let relay;
  try {
    relay = await startRelay(config, stderrLogger);
  } catch (error) {
    const known = error instanceof DataFolderError || (error as NodeJS.ErrnoException).code !== undefined;
    process.stderr.write(`sov-relay: ${known ? (error as Error).message : errorText(error)}\n`);
    process.exit(1);
  }
  process.stdout.write(`listening on ${relay.url}\n`);
  const stop = (signal: string): void => {
    stderrLogger('info', `${signal}: shutting down`);
    relay.close().then(
      () => process.exit(0),
      (error: unknown) => {
        stderrLogger('error', 'shutdown failed', { error: errorText(error) });
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
