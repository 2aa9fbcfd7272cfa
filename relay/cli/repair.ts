/**
 * `sov-relay repair [--data DIR]`: makes a data folder the relay refused to start on usable again.
 *
 * For each log holding a damaged line (one that fails its checksum, is not JSON, or does not have
 * its store's shape) or a torn tail, it saves the file as it was to `<name>.bak-<time>`, rewrites
 * the log with every line that checks out (lines from before checksums are kept when their record
 * checks out: they have no checksum to verify), and says what it dropped. It guesses nothing: a
 * dropped record is gone from the relay, and the backup keeps it for a person to look at. The
 * relay holds the folder's lock meanwhile, so it cannot run while a relay uses the folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DataFolderError, lockDataFolder, replaceFile, writeSynced } from '../data-folder.ts';
import { readAccountRecord } from '../store/accounts.ts';
import { readMessageLogRecord } from '../store/history.ts';
import { formatLine, scanLines, splitTornTail } from '../store/log-line.ts';
import { readSessionRecord } from '../store/sessions.ts';

const USAGE = `Usage: sov-relay repair [--data DIR]

Sets aside the damaged lines of the relay's logs in DIR (default: $SOV_DATA, else ./data), so
that the relay starts again. Each log with damage is first saved as <name>.bak-<time>. Stop the
relay first.`;

/** The logs, each with the check its store reads it with. */
const LOGS: [string, (value: unknown) => unknown][] = [
  ['accounts.log', readAccountRecord],
  ['sessions.log', readSessionRecord],
  ['messages.log', readMessageLogRecord],
];

/** How much of a dropped line the report shows: enough to recognise it, not a 4,000-character message. */
const SHOWN_CHARS = 120;

interface LogRepair {
  name: string;
  kept: number;
  /** Kept lines from before checksums (rewritten with one). */
  legacy: number;
  dropped: { number: number; problem: string; text: string }[];
  tornBytes: number;
  backup: string | null;
}

async function repairLog(
  folder: string,
  name: string,
  read: (value: unknown) => unknown,
  stamp: string,
): Promise<LogRepair | null> {
  const file = path.join(folder, name);
  if (!fs.existsSync(file)) return null;
  const content = fs.readFileSync(file);
  const { text, tornBytes } = splitTornTail(content);
  const kept: string[] = [];
  const repair: LogRepair = {
    name,
    kept: 0,
    legacy: 0,
    dropped: [],
    tornBytes,
    backup: null,
  };
  for (const line of scanLines(text, read)) {
    if (!line.ok) {
      repair.dropped.push(line);
      continue;
    }
    kept.push(line.json);
    if (line.legacy) repair.legacy++;
  }
  repair.kept = kept.length;
  if (repair.dropped.length === 0 && tornBytes === 0) return repair;
  repair.backup = `${name}.bak-${stamp}`;
  writeSynced(path.join(folder, repair.backup), content, 'wx');
  await replaceFile(file, kept.map((json) => `${formatLine(json)}\n`).join(''));
  return repair;
}

const lines = (count: number): string => `${count} line${count === 1 ? '' : 's'}`;

function reportOf(repair: LogRepair): string[] {
  const { name } = repair;
  const report = repair.dropped.map(
    (line) =>
      `${name} line ${line.number} dropped: ${line.problem}: ${JSON.stringify(line.text.slice(0, SHOWN_CHARS))}${line.text.length > SHOWN_CHARS ? '...' : ''}`,
  );
  if (repair.tornBytes > 0)
    report.push(`${name}: a torn last line (${repair.tornBytes} bytes, never acknowledged) dropped`);
  if (repair.backup === null) return [`${name}: ${lines(repair.kept)}, all good`];
  const legacy =
    repair.legacy > 0 ? ` (${repair.legacy} of them from before checksums, kept because their records check out)` : '';
  report.push(
    `${name}: kept ${lines(repair.kept)}${legacy}, dropped ${repair.dropped.length}; the file as it was is ${repair.backup}`,
  );
  return report;
}

/** Runs the command; resolves with the exit code (0 repaired or nothing to do, 1 folder unusable, 2 bad arguments). */
export async function runRepair(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        data: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`sov-relay repair: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // The relay's own default (config.ts), so `repair` finds the folder `sov-relay` used.
  const folder = parsed.values.data ?? env.SOV_DATA ?? './data';
  if (!fs.existsSync(folder)) {
    process.stderr.write(`sov-relay repair: there is no data folder at ${folder}\n`);
    return 1;
  }
  let unlock: () => void;
  try {
    unlock = lockDataFolder(folder);
  } catch (error) {
    if (!(error instanceof DataFolderError)) throw error;
    process.stderr.write(`sov-relay repair: ${error.message}; stop it first\n`);
    return 1;
  }
  try {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    let changed = false;
    for (const [name, read] of LOGS) {
      const repair = await repairLog(folder, name, read, stamp);
      if (!repair) continue;
      changed ||= repair.backup !== null;
      process.stdout.write(`${reportOf(repair).join('\n')}\n`);
    }
    process.stdout.write(changed ? 'Repaired: the relay can start on this folder again.\n' : 'Nothing to repair.\n');
    return 0;
  } catch (error) {
    // A folder the command cannot read or write (permissions, a full or failing disk).
    if ((error as NodeJS.ErrnoException).code === undefined) throw error;
    process.stderr.write(`sov-relay repair: ${(error as Error).message}\n`);
    return 1;
  } finally {
    unlock();
  }
}
