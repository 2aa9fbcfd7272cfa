/** `sov-relay`: reads flags, starts the relay, and on SIGINT/SIGTERM flushes everything and exits 0 (`sov-relay repair`: cli/repair.ts). */
import { ConfigError, parseConfig, relayVersion, usage } from './config.ts';
import { runRepair } from './cli/repair.ts';
import { DataFolderError } from './data-folder.ts';
import { EngineUnavailableError } from './engine/choose-engine.ts';
import { ListenError } from './engine/engine.ts';
import { MetricsListenError } from './metrics.ts';
import { createLogger, errorText } from './logger.ts';
import { startRelay } from './server.ts';

async function main(): Promise<void> {
  if (process.argv[2] === 'repair') {
    process.exitCode = await runRepair(process.argv.slice(3));
    return;
  }
  let command;
  try {
    command = parseConfig(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`sov-relay: ${error.message}\nRun sov-relay --help for the flags.\n`);
    process.exit(2);
  }
  if (command.action !== 'run') {
    process.stdout.write(`${command.action === 'help' ? usage() : `sov-relay ${relayVersion()}`}\n`);
    return;
  }
  const { config } = command;
  const log = createLogger({
    format: config.logFormat,
    level: config.logLevel,
  });
  let relay;
  try {
    relay = await startRelay(config, log);
  } catch (error) {
    const known = [DataFolderError, EngineUnavailableError, ListenError, MetricsListenError].some(
      (kind) => error instanceof kind,
    );
    const system = (error as NodeJS.ErrnoException).code !== undefined;
    process.stderr.write(`sov-relay: ${known || system ? (error as Error).message : errorText(error)}\n`);
    process.exit(1);
  }
  const stop = (signal: string): void => {
    log('info', `${signal}: shutting down`);
    relay.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log('error', 'shutdown failed', { error: errorText(error) });
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Only now: a supervisor that reads this line may signal at once, and before the handlers
  // exist a signal kills the process without the flush.
  // The id lets an operator check that a new front door leads here (its hello names the same one).
  log('info', 'relay started', {
    version: relayVersion(),
    url: relay.url,
    relayId: relay.relayId,
    pid: process.pid,
  });
  process.stdout.write(`listening on ${relay.url}\n`);
}

void main();
