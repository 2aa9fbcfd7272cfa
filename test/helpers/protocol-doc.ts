/**
 * What PROTOCOL.md itself says, read from the document, so that tests hold the relay to the
 * published protocol rather than to the code under test (sdk/errors.ts could gain a code the
 * document never mentions, and a test reading the code would not notice).
 */
import fs from 'node:fs';

/** The error codes of PROTOCOL.md's "Errors" table: every code a relay may send, and no other. */
export function documentedErrorCodes(): ReadonlySet<string> {
  const text = fs.readFileSync(new URL('../../PROTOCOL.md', import.meta.url), 'utf8');
  const section = text.split(/^## /m).find((part) => part.startsWith('Errors\n'));
  if (!section) throw new Error('PROTOCOL.md has no "## Errors" section');
  const lines = section.split('\n');
  const header = lines.findIndex((line) => /^\|\s*code\s*\|\s*meaning\s*\|$/.test(line));
  if (header < 0) throw new Error('PROTOCOL.md "Errors" has no "| code | meaning |" table');
  const codes = new Set<string>();
  // The rows run from after the |---| line to the first line that is not a table row.
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const code = /^\|\s*`([A-Z][A-Z_]*)`\s*\|/.exec(line)?.[1];
    if (!code) throw new Error(`PROTOCOL.md "Errors" table: a row without a code: ${line}`);
    codes.add(code);
  }
  if (codes.size === 0) throw new Error('PROTOCOL.md "Errors" table is empty');
  return codes;
}
