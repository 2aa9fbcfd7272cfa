/**
 * One-line log records on stderr (stdout carries only the "listening on" line, so scripts and
 * systemd can read it). Fields are JSON so a line never breaks, whatever a client sent.
 */
export type LogLevel = 'info' | 'warn' | 'error';

export interface Logger {
  (level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

export const stderrLogger: Logger = (level, message, fields) => {
  const extra = fields === undefined ? '' : ` ${JSON.stringify(fields)}`;
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}${extra}\n`);
};

export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
