/** The canonical bytes of a chat message, the only thing authors sign. */
import { utf8 } from '../encoding.ts';
import { PROTOCOL_VERSION } from './frames.ts';
import type { ChatMessage } from './frames.ts';

export type UnsignedMessage = Pick<ChatMessage, 'room' | 'author' | 'cid' | 'ts' | 'text'>;

/**
 * The exact bytes an author signs. A JSON array of strings and integers serializes identically in
 * every conforming JS engine (ES2019 well-formed JSON.stringify), so no hand-written canonical form
 * is needed; the leading label keeps these signatures from being valid for any other purpose.
 */
export function signedBytes(message: UnsignedMessage): Uint8Array {
  return utf8(
    JSON.stringify([
      'sov/message',
      PROTOCOL_VERSION,
      message.room,
      message.author,
      message.cid,
      message.ts,
      message.text,
    ]),
  );
}
