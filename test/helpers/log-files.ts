/**
 * The relay's log files as tests stage and inspect them, in the relay's own line format
 * (relay/store/log-line.ts), with no check of what the records hold.
 */
import fs from 'node:fs';
import { formatLine, scanLines, splitTornTail } from '../../relay/store/log-line.ts';

// Tests poke at arbitrary fields of what they read back.
type AnyRecord = Record<string, any>;

/** Every record in `file`; throws on a line the relay would refuse. */
export function readRecords(file: string): AnyRecord[] {
  const records: AnyRecord[] = [];
  for (const line of scanLines(splitTornTail(fs.readFileSync(file)).text, (value) => value as AnyRecord)) {
    if (!line.ok) throw new Error(`${file} line ${line.number}: ${line.problem}`);
    records.push(line.record);
  }
  return records;
}

/** Lines as the relay writes them, newline included. */
export function logLines(records: unknown[]): string {
  return records
    .map((record) => `${formatLine(typeof record === 'string' ? record : JSON.stringify(record))}\n`)
    .join('');
}

export function writeRecords(file: string, records: unknown[]): void {
  fs.writeFileSync(file, logLines(records));
}

export function appendRecords(file: string, records: unknown[]): void {
  fs.appendFileSync(file, logLines(records));
}
