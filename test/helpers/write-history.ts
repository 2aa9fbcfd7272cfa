/**
 * Writes room history into a data folder through the relay's own store, as an operator who can
 * write the folder would: whatever the log's line format (a checksum on each line included), the
 * relay's own code writes the lines, so the relay loads and serves them as its own. Imported by
 * tests that fill a stopped relay's folder, and run by test/browser/relay-for-tests.mjs:
 *
 *   node --import tsx test/helpers/write-history.ts FOLDER < messages.json
 *
 * messages.json: an array of messages without `seq`, oldest first; each goes into the room its
 * `room` field names and gets that room's next number (1, 2, 3...). The store does not check
 * signatures (the relay's request handler does), so altered and re-signed messages go in as given.
 */
import { pathToFileURL } from 'node:url';
import { AccountIds } from '../../relay/store/account-ids.ts';
import { HistoryStore } from '../../relay/store/history.ts';
import type { ChatMessage } from '../../sdk/protocol.ts';

/** Appends `messages` (oldest first) to the history in `folder`; the relay must not be running on it. */
export async function writeHistory(folder: string, messages: Array<Omit<ChatMessage, 'seq'>>): Promise<void> {
  const history = await HistoryStore.open(folder, new AccountIds(), 10_000, (level, message, fields) =>
    console.error(level, message, fields ?? ''),
  );
  for (const message of messages) await history.accept(message);
  await history.close();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const folder = process.argv[2];
  if (!folder) throw new Error('usage: write-history.ts FOLDER < messages.json');
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  await writeHistory(folder, JSON.parse(input) as Array<Omit<ChatMessage, 'seq'>>);
}
