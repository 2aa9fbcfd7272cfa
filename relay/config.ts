/** Command-line flags and SOV_* environment variables to a relay configuration. Flags win over env. */
import { parseArgs } from 'node:util';
import type { EngineWish } from './engine/choose-engine.ts';

export interface RelayConfig {
  host: string;
  port: number;
  dataDir: string;
  historySize: number;
  /** Web origins allowed to open a WebSocket or upload an avatar; null allows any. */
  origins: string[] | null;
  tls: { cert: string; key: string } | null;
  sessionDays: number;
  /** Sustained requests per second per connection (bursts up to twice that). */
  requestsPerSecond: number;
  registrationsPerHour: number;
  engine: EngineWish;
  maxConnectionsPerAddress: number;
}

interface FlagSpec {
  env: string;
  value: string;
  help: string;
  defaultValue?: string;
}

const FLAGS: Record<string, FlagSpec> = {
  host: { env: 'SOV_HOST', value: 'HOST', defaultValue: '127.0.0.1', help: 'address to listen on; 0.0.0.0 for every interface' },
  port: { env: 'SOV_PORT', value: 'PORT', defaultValue: '8080', help: 'port to listen on; 0 picks a free one' },
  data: { env: 'SOV_DATA', value: 'DIR', defaultValue: './data', help: 'folder for accounts, sessions, history and avatars (created if missing)' },
  history: { env: 'SOV_HISTORY', value: 'N', defaultValue: '1000', help: 'messages kept per room' },
  origins: {
    env: 'SOV_ORIGINS',
    value: 'LIST',
    defaultValue: '*',
    help: 'comma-separated web origins allowed to connect, e.g. https://a.org,https://b.org; * allows any (safe: auth is by token, not cookie)',
  },
  'tls-cert': { env: 'SOV_TLS_CERT', value: 'FILE', help: 'PEM certificate chain; with --tls-key serves https and wss' },
  'tls-key': { env: 'SOV_TLS_KEY', value: 'FILE', help: 'PEM private key for --tls-cert' },
  'session-days': { env: 'SOV_SESSION_DAYS', value: 'N', defaultValue: '30', help: 'days a session lives without use (sliding)' },
  rate: { env: 'SOV_RATE', value: 'N', defaultValue: '20', help: 'requests per second per connection, bursts of twice that' },
  engine: { env: 'SOV_ENGINE', value: 'auto|uws|node', defaultValue: 'auto', help: 'uws where uWebSockets.js loads, else node; or force one' },
  'max-connections-per-address': { env: 'SOV_MAX_CONNECTIONS_PER_ADDRESS', value: 'N', defaultValue: '50', help: 'open connections per client address' },
  'registrations-per-hour': { env: 'SOV_REGISTRATIONS_PER_HOUR', value: 'N', defaultValue: '30', help: 'new accounts per hour per IP address' },
};

export function usage(): string {
  const lines = ['Usage: sov-relay [flags]', '', 'Runs a Sovereign Chat relay. Every flag can also be set by the environment variable shown.', ''];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const left = `  --${name} ${spec.value}`.padEnd(34);
    const fallback = spec.defaultValue === undefined ? '' : ` (default ${spec.defaultValue})`;
    lines.push(`${left}${spec.help}${fallback}  [${spec.env}]`);
  }
  lines.push(`${'  --help'.padEnd(34)}show this text`);
  return lines.join('\n');
}

export class ConfigError extends Error {}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new ConfigError(`--${name} must be a whole number from ${min} to ${max}, got "${text}"`);
  return value;
}

function engineWish(text: string): EngineWish {
  if (text === 'auto' || text === 'uws' || text === 'node') return text;
  throw new ConfigError(`--engine must be auto, uws or node, got "${text}"`);
}

/** Returns the config, or null when --help was asked for. Throws ConfigError on bad input. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): RelayConfig | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (parsed.values.help) return null;
  const get = (name: string): string | undefined => {
    const value = (parsed.values as Record<string, unknown>)[name];
    const spec = FLAGS[name]!;
    return typeof value === 'string' ? value : (env[spec.env] ?? spec.defaultValue);
  };
  const origins = get('origins')!.trim();
  const cert = get('tls-cert');
  const key = get('tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError('--tls-cert and --tls-key go together');
  const originList = origins.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
  for (const origin of originList) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) throw new ConfigError(`--origins: "${origin}" is not an origin like https://example.org`);
  }
  return {
    host: get('host')!,
    port: wholeNumber('port', get('port')!, 0, 65535),
    dataDir: get('data')!,
    historySize: wholeNumber('history', get('history')!, 1, 1_000_000),
    origins: originList.includes('*') || originList.length === 0 ? null : originList,
    tls: cert !== undefined && key !== undefined ? { cert, key } : null,
    sessionDays: wholeNumber('session-days', get('session-days')!, 1, 3650),
    requestsPerSecond: wholeNumber('rate', get('rate')!, 1, 1_000_000),
    registrationsPerHour: wholeNumber('registrations-per-hour', get('registrations-per-hour')!, 1, 1_000_000),
    engine: engineWish(get('engine')!),
    maxConnectionsPerAddress: wholeNumber('max-connections-per-address', get('max-connections-per-address')!, 1, 10_000_000),
  };
}

/** Browsers always send Origin on WebSocket upgrades and CORS requests; other clients send none and are allowed. */
export function originAllowed(config: RelayConfig, origin: string): boolean {
  return origin === '' || config.origins === null || config.origins.includes(origin);
}
