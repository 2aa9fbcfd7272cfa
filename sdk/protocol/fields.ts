/**
 * Field validators for text: names, rooms and message text. The relay requires them of every
 * request (./requests.ts builds its schemas from them), and the SDK checks them before sending, so
 * a user learns of a bad name without a round trip. Every check throws SovError with the field
 * name, so a client learns exactly what was wrong; the relay never trusts a client to have
 * validated anything. The checks on bytes, integers and the KDF settings are in ./kdf.ts.
 */
import { SovError } from '../errors.ts';
import { LIMITS } from './frames.ts';

/** Checks `value` for the field named `field`, returns it (normalized where said) or throws SovError. */
export type Check<T> = (value: unknown, field: string) => T;

export const invalid = (field: string, why: string): SovError =>
  new SovError('INVALID_FIELD', `Field "${field}" ${why}.`, { field });

// Characters that can hide or reorder text are refused in names so that one user cannot
// impersonate another visually: C0/C1 controls, line and paragraph separators, and every
// default-ignorable code point (zero-width characters, bidi controls, variation selectors,
// fillers, tags), except U+FE0F, which asks for the emoji form of the character before it.
const NAME_FORBIDDEN = /[\p{Cc}\p{Zl}\p{Zp}]|(?!\uFE0F)\p{Default_Ignorable_Code_Point}/u;
// Usernames are the unique handle: no invisible character at all, emoji selector included.
const USERNAME_INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;
// Message text may hold line breaks and tabs, nothing else from the control range.
const TEXT_FORBIDDEN = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const USERNAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]*[\p{L}\p{M}\p{N}]$/u;
const ROOM_PATTERN = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}_-]*$/u;

/** A JSON object (not null, not a list): its fields may be read, each still to be checked. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function string(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  if (!value.isWellFormed()) throw invalid(field, 'contains a broken Unicode sequence');
  return value;
}

function nonEmpty(value: unknown, field: string): string {
  const text = string(value, field);
  if (text.trim() === '')
    throw new SovError('EMPTY_FIELD', `Field "${field}" must not be empty.`, {
      field,
    });
  return text;
}

/** A person's first or last name: trimmed, NFKC, 1-64 characters, nothing invisible. */
export const personName: Check<string> = (value, field) => {
  const name = nonEmpty(value, field).trim().normalize('NFKC');
  if ([...name].length > LIMITS.maxNameLength)
    throw invalid(field, `must be at most ${LIMITS.maxNameLength} characters`);
  if (NAME_FORBIDDEN.test(name)) throw invalid(field, 'contains control or invisible characters');
  return name;
};

/**
 * A username as displayed: NFKC, 3-32 letters or digits of any script with `.`, `_`, `-` inside.
 * Uniqueness is decided by `usernameKey`.
 */
export const username: Check<string> = (value, field) => {
  const name = nonEmpty(value, field).trim().normalize('NFKC');
  const length = [...name].length;
  if (length < LIMITS.minUsernameLength || length > LIMITS.maxUsernameLength) {
    throw invalid(field, `must be ${LIMITS.minUsernameLength} to ${LIMITS.maxUsernameLength} characters`);
  }
  if (!USERNAME_PATTERN.test(name) || USERNAME_INVISIBLE.test(name)) {
    throw invalid(field, 'may hold only letters, digits and . _ - (not at the start or end)');
  }
  return name;
};

/** Case-insensitive identity of a username: "Ivan", "IVAN" and "ｉｖａｎ" are one account. */
export function usernameKey(name: string): string {
  return name.normalize('NFKC').toLowerCase().normalize('NFKC');
}

/** Room names are NFKC, lower case, 1-48 letters, digits, `_` or `-`: "General" is "general". */
export const roomName: Check<string> = (value, field) => {
  const room = nonEmpty(value, field).trim().normalize('NFKC').toLowerCase();
  if ([...room].length > LIMITS.maxRoomLength)
    throw invalid(field, `must be at most ${LIMITS.maxRoomLength} characters`);
  if (!ROOM_PATTERN.test(room)) throw invalid(field, 'may hold only letters, digits, _ and -');
  return room;
};

/** Message text is signed, so it is checked but never altered. */
export const messageText: Check<string> = (value, field) => {
  const text = nonEmpty(value, field);
  if (text.length > LIMITS.maxTextLength) throw invalid(field, `must be at most ${LIMITS.maxTextLength} characters`);
  if (TEXT_FORBIDDEN.test(text)) throw invalid(field, 'contains control characters');
  return text;
};

/** A room name as the relay keeps it ("General" is "general"); throws SovError (EMPTY_FIELD, INVALID_FIELD) when it cannot be one. */
export const normalizeRoomName = (name: string): string => roomName(name, 'room');

/** `text` unchanged when a message may carry it; throws SovError (EMPTY_FIELD, INVALID_FIELD) when it is empty, too long or holds control characters. */
export const checkMessageText = (text: string): string => messageText(text, 'text');
