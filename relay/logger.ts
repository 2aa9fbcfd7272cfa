/**
 * One-line log records on stderr (stdout carries only the "listening on" line, so scripts and
 * systemd can read it). `text` is for people: time, level, message, then the fields as JSON so a
 * line never breaks, whatever a client sent. `json` is one object per line for log shippers.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export interface Logger {
  (level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  format: LogFormat;
  /** The least severe level written; anything below it is dropped. */
  level: LogLevel;
  /** Where each finished line (ending in a newline) goes; stderr by default. */
  write?: (line: string) => void;
}

/**
 * Field names whose values never reach the log, at any depth: credentials a request carries and
 * the text of messages. Call sites do not log them on purpose; this catches the careless
 * `{ request }` that would put a user's password verifier or private words in a file that
 * outlives them. Matched case-insensitively.
 */
const SECRET_FIELDS = new Set(['password', 'authkey', 'newauthkey', 'token', 'text', 'sig']);
export const REDACTED = '[redacted]';

function safeValue(key: string, value: unknown): unknown {
  if (SECRET_FIELDS.has(key.toLowerCase())) return REDACTED;
  // JSON.stringify writes an Error as {} and throws on a bigint.
  if (value instanceof Error) return errorText(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * `head` first, then the fields, as one JSON object; `head` is written again last so a field
 * cannot forge the record's own keys (time, level, msg), which keep their place at the front.
 */
function recordJson(head: Record<string, unknown>, fields: Record<string, unknown> | undefined): string {
  try {
    return JSON.stringify({ ...head, ...fields, ...head }, safeValue);
  } catch (error) {
    // A cyclic object: logging must never be what throws.
    return JSON.stringify({ ...head, unloggableFields: errorText(error) });
  }
}

/** Messages are ours, but some quote what a client sent: a newline must not forge a second record. */
function oneLine(message: string): string {
  return message.replace(/[\u0000-\u001f]/g, (char) => JSON.stringify(char).slice(1, -1));
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level);
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  return (level, message, fields) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const time = new Date().toISOString();
    if (options.format === 'json') write(`${recordJson({ time, level, msg: message }, fields)}\n`);
    else write(`${time} ${level} ${oneLine(message)}${fields === undefined ? '' : ` ${recordJson({}, fields)}`}\n`);
  };
}

export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
