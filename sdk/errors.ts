/**
 * The one error table of Sovereign Chat. The relay replies with these codes and the SDK rejects
 * with them, so an app can branch on `error.code` whichever side found the problem.
 * Codes are stable API: add new ones, never rename or reuse.
 */
export const ERROR_MESSAGES = {
  // Frame-level problems: the client sent something the protocol does not allow.
  BAD_JSON: 'The frame is not valid JSON.',
  BAD_FRAME: 'The frame must be a JSON object with an "id" and a "type".',
  UNKNOWN_TYPE: 'Unknown request type.',
  INVALID_FIELD: 'A field has the wrong type or format.',
  EMPTY_FIELD: 'A required field is empty.',
  RATE_LIMITED: 'Too many requests; wait and try again.',
  TOO_MANY_CONNECTIONS: 'Too many connections from this address; close some and try again.',
  // Accounts and sessions.
  USERNAME_TAKEN: 'This username is already taken.',
  BAD_CREDENTIALS: 'Wrong username or password.',
  NOT_AUTHENTICATED: 'Log in first.',
  ALREADY_AUTHENTICATED: 'This connection is already logged in; log out first.',
  SESSION_INVALID: 'The session has expired or was ended; log in again.',
  UNKNOWN_USER: 'No such user.',
  // Rooms and messages.
  NOT_IN_ROOM: 'Join the room first.',
  TOO_MANY_ROOMS: 'This connection has joined too many rooms.',
  BAD_SIGNATURE: 'The message signature does not verify.',
  WRONG_AUTHOR: 'A message may only be sent by its author.',
  DUPLICATE_MESSAGE: 'A message with this id was already accepted.',
  CLOCK_SKEW: 'The message timestamp is too far from the relay clock.',
  MESSAGE_TOO_BIG: 'The message is too long to travel on this relay; shorten it or split it in two.',
  // Avatars (HTTP upload).
  BAD_IMAGE: 'Avatars must be PNG, JPEG or WebP images.',
  IMAGE_TOO_LARGE: 'The image is too large.',
  FORBIDDEN_ORIGIN: 'This web origin may not use the relay.',
  // Relay-side failures.
  STORAGE_FAILED: 'The relay could not save the change; nothing was stored. Try again later.',
  INTERNAL: 'Internal relay error.',
  // Raised by the SDK itself, never sent by the relay.
  NETWORK: 'The relay cannot be reached.',
  TIMEOUT: 'The relay did not answer in time.',
  INVALID_INPUT: 'The input is not valid.',
  NOT_AN_IMAGE: 'The file is not an image this browser can read.',
  FILE_TOO_LARGE: 'The file is too large.',
  STORAGE_UNAVAILABLE: 'This browser could not save or read its local data.',
  CLOSED: 'The client was closed.',
  WRONG_RELAY: 'This address leads to another relay.',
  BAD_RELAY_FRAME: 'The relay sent a malformed frame.',
} as const;

export type ErrorCode = keyof typeof ERROR_MESSAGES;

/**
 * The codes the SDK raises itself and a relay never sends (the last group above). A relay that
 * sends one anyway is not believed: NETWORK or TIMEOUT from it would make the outbox retry a refused
 * message forever, as if the network had lost it.
 */
export const RAISED_BY_THE_SDK: ReadonlySet<string> = new Set<ErrorCode>([
  'NETWORK',
  'TIMEOUT',
  'INVALID_INPUT',
  'NOT_AN_IMAGE',
  'FILE_TOO_LARGE',
  'STORAGE_UNAVAILABLE',
  'CLOSED',
  'WRONG_RELAY',
  'BAD_RELAY_FRAME',
]);

/** Extra machine-readable facts some errors carry. */
export interface ErrorDetails {
  /** The request field at fault (INVALID_FIELD, EMPTY_FIELD). */
  field?: string;
  /** How long to wait before retrying (RATE_LIMITED). */
  retryAfterMs?: number;
  /** The sequence number the earlier copy got (DUPLICATE_MESSAGE), so a retrying outbox can settle. */
  seq?: number;
}

/** The error object as it travels inside a reply frame. */
export interface WireError extends ErrorDetails {
  code: ErrorCode;
  message: string;
}

/**
 * The request never got its answer: the connection was lost or froze (NETWORK), the reply was late
 * (TIMEOUT), or the client was closed meanwhile (CLOSED). The same request may work on the next
 * connection; every other code is the relay's (or the SDK's) answer to the request itself.
 */
export function isTransient(error: unknown): boolean {
  return error instanceof SovError && (error.code === 'NETWORK' || error.code === 'TIMEOUT' || error.code === 'CLOSED');
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_MESSAGES, value);
}

/** The single error class: relay replies and SDK rejections alike. */
export class SovError extends Error implements ErrorDetails {
  override readonly name = 'SovError';
  readonly code: ErrorCode;
  readonly field?: string;
  readonly retryAfterMs?: number;
  readonly seq?: number;

  constructor(code: ErrorCode, message: string = ERROR_MESSAGES[code], details: ErrorDetails = {}) {
    super(message);
    this.code = code;
    if (details.field !== undefined) this.field = details.field;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.seq !== undefined) this.seq = details.seq;
  }

  toWire(): WireError {
    const wire: WireError = { code: this.code, message: this.message };
    if (this.field !== undefined) wire.field = this.field;
    if (this.retryAfterMs !== undefined) wire.retryAfterMs = this.retryAfterMs;
    if (this.seq !== undefined) wire.seq = this.seq;
    return wire;
  }

  static fromWire(wire: WireError): SovError {
    const code = isErrorCode(wire.code) ? wire.code : 'INTERNAL';
    return new SovError(code, typeof wire.message === 'string' ? wire.message : ERROR_MESSAGES[code], wire);
  }
}
