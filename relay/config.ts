/** Command-line flags and SOV_* environment variables to a relay configuration. Flags win over env. */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AddressListError, parseTrustedProxies } from './client-address.ts';
import type { ProxyMatcher } from './client-address.ts';
import { DEFAULT_CONNECTION_BUDGET } from '../sdk/protocol/budget.ts';
import { relayPackageRoot } from './package-root.ts';
import { LOG_FORMATS, LOG_LEVELS, errorText } from './logger.ts';
import type { LogFormat, LogLevel } from './logger.ts';

/** Which server should run the routes: uWebSockets.js, node:http with ws, or uWS where its addon loads and node otherwise. */
export type EngineWish = 'auto' | 'uws' | 'node';
export const ENGINE_WISHES: readonly EngineWish[] = ['auto', 'uws', 'node'];

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
  /** The reverse proxies whose X-Forwarded-For is believed (see client-address.ts). */
  trustedProxies: ProxyMatcher;
  /** Open WebSockets allowed per client address. */
  maxConnectionsPerAddress: number;
  /** Bytes the relay sends down one connection before it must be replaced; 0: unlimited. */
  connectionBudget: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** Where the Prometheus endpoint listens; null when it is off. */
  metrics: { host: string; port: number } | null;
}

/** What the command line asks for: run the relay, or print the help or the version and stop. */
export type CommandLine = { action: 'run'; config: RelayConfig } | { action: 'help' } | { action: 'version' };

interface FlagSpec {
  env: string;
  value: string;
  help: string;
  defaultValue?: string;
}

const FLAGS: Record<string, FlagSpec> = {
  host: {
    env: 'SOV_HOST',
    value: 'HOST',
    defaultValue: '127.0.0.1',
    help: 'address to listen on; 0.0.0.0 for every interface',
  },
  port: {
    env: 'SOV_PORT',
    value: 'PORT',
    defaultValue: '8080',
    help: 'port to listen on; 0 picks a free one',
  },
  data: {
    env: 'SOV_DATA',
    value: 'DIR',
    defaultValue: './data',
    help: 'folder for accounts, sessions, history and avatars (created if missing)',
  },
  history: {
    env: 'SOV_HISTORY',
    value: 'N',
    defaultValue: '1000',
    help: 'messages kept per room',
  },
  origins: {
    env: 'SOV_ORIGINS',
    value: 'LIST',
    defaultValue: '*',
    help: 'comma-separated web origins allowed to connect, e.g. https://a.org,https://b.org; * allows any (safe: auth is by token, not cookie)',
  },
  'tls-cert': {
    env: 'SOV_TLS_CERT',
    value: 'FILE',
    help: 'PEM certificate chain; with --tls-key serves https and wss',
  },
  'tls-key': {
    env: 'SOV_TLS_KEY',
    value: 'FILE',
    help: 'PEM private key for --tls-cert',
  },
  'session-days': {
    env: 'SOV_SESSION_DAYS',
    value: 'N',
    defaultValue: '30',
    help: 'days a session lives without use (sliding)',
  },
  rate: {
    env: 'SOV_RATE',
    value: 'N',
    defaultValue: '20',
    help: 'requests per second per connection, bursts of twice that',
  },
  'registrations-per-hour': {
    env: 'SOV_REGISTRATIONS_PER_HOUR',
    value: 'N',
    defaultValue: '30',
    help: 'new accounts per hour per IP address',
  },
  engine: {
    env: 'SOV_ENGINE',
    value: ENGINE_WISHES.join('|'),
    defaultValue: 'auto',
    help: 'uws: uWebSockets.js (fastest, a native addon); node: node:http and ws (pure JavaScript); auto: uws where its native addon loads, else node',
  },
  'trust-proxy': {
    env: 'SOV_TRUST_PROXY',
    value: 'LIST',
    help: 'comma-separated addresses or CIDR blocks of your reverse proxies, e.g. 127.0.0.1,10.0.0.0/8; their X-Forwarded-For names the client (default: believe nobody)',
  },
  'max-connections-per-address': {
    env: 'SOV_MAX_CONNECTIONS_PER_ADDRESS',
    value: 'N',
    defaultValue: '50',
    help: 'open WebSockets per client address, so one host cannot take every file descriptor; raise it when many users share one NAT address',
  },
  'conn-budget': {
    env: 'SOV_CONN_BUDGET',
    value: 'BYTES',
    defaultValue: String(DEFAULT_CONNECTION_BUDGET),
    help: 'bytes the relay sends down one connection before the client must move to a new one (networks that freeze a connection after ~16 KB); 0: unlimited, for relays whose users are on no such network',
  },
  'log-format': {
    env: 'SOV_LOG_FORMAT',
    value: LOG_FORMATS.join('|'),
    defaultValue: 'text',
    help: 'text: one readable line per record; json: one JSON object per line for log shippers',
  },
  'log-level': {
    env: 'SOV_LOG_LEVEL',
    value: LOG_LEVELS.join('|'),
    defaultValue: 'info',
    help: 'the least severe records written',
  },
  metrics: {
    env: 'SOV_METRICS',
    value: 'HOST:PORT',
    help: 'serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464 or [::1]:9464; it has no auth, so keep it private (default off)',
  },
};

export function usage(): string {
  const rows: Array<[string, string]> = Object.entries(FLAGS).map(([name, spec]) => {
    const fallback = spec.defaultValue === undefined ? '' : ` (default ${spec.defaultValue})`;
    return [`--${name} ${spec.value}`, `${spec.help}${fallback}  [${spec.env}]`];
  });
  rows.push(['--version', 'print the version'], ['--help', 'show this text']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = [
    'Usage: sov-relay [flags]',
    '',
    'Runs a Sovereign Chat relay. Every flag can also be set by the environment variable shown.',
    '',
  ];
  return [...lines, ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`)].join('\n');
}

export class ConfigError extends Error {}

/** The version in the sov-relay package's package.json (relay/package.json in the repository). */
export function relayVersion(): string {
  const manifest: unknown = JSON.parse(fs.readFileSync(path.join(relayPackageRoot(), 'package.json'), 'utf8'));
  return typeof manifest === 'object' && manifest !== null && 'version' in manifest
    ? String(manifest.version)
    : 'unknown';
}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new ConfigError(`--${name} must be a whole number from ${min} to ${max}, got "${text}"`);
  return value;
}

function choice<T extends string>(name: string, text: string, options: readonly T[]): T {
  const found = options.find((option) => option === text);
  if (found === undefined) throw new ConfigError(`--${name} must be one of ${options.join(', ')}, got "${text}"`);
  return found;
}

/** HOST:PORT, with an IPv6 host in brackets as in URLs ([::1]:9464). */
function listenAddress(name: string, text: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^\s:[\]]+):(\d+)$/.exec(text);
  if (match === null || (text.startsWith('[') && !net.isIPv6(match[1]!))) {
    throw new ConfigError(`--${name} must be HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464, got "${text}"`);
  }
  return { host: match[1]!, port: wholeNumber(name, match[2]!, 0, 65535) };
}

/**
 * Read once here so a wrong path fails before anything starts, naming the file: the engines read
 * it only after the data folder is locked and the logs replayed, and uWebSockets.js then says just
 * "App construction failed".
 */
function readableFile(name: string, file: string): string {
  try {
    fs.readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a folder'
            : (code ?? errorText(error));
    throw new ConfigError(`--${name}: cannot read ${file} (${reason})`);
  }
  return file;
}

/** Below 4 KB a connection could carry little more than its hello and one reply. */
function budgetBytes(text: string): number {
  const bytes = wholeNumber('conn-budget', text, 0, 1_000_000_000);
  if (bytes !== 0 && bytes < 4096)
    throw new ConfigError(`--conn-budget must be 0 (unlimited) or at least 4096 bytes, got "${text}"`);
  return bytes;
}

/** Reads the command line and environment. Throws ConfigError on bad input. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (parsed.values.help) return { action: 'help' };
  if (parsed.values.version) return { action: 'version' };
  const get = (name: string): string | undefined => {
    const value = (parsed.values as Record<string, unknown>)[name];
    const spec = FLAGS[name]!;
    return typeof value === 'string' ? value : (env[spec.env] ?? spec.defaultValue);
  };
  const origins = get('origins')!.trim();
  const cert = get('tls-cert');
  const key = get('tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError('--tls-cert and --tls-key go together');
  const originList = origins
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  for (const origin of originList) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin))
      throw new ConfigError(`--origins: "${origin}" is not an origin like https://example.org`);
  }
  let trustedProxies;
  try {
    trustedProxies = parseTrustedProxies(get('trust-proxy') ?? '');
  } catch (error) {
    if (!(error instanceof AddressListError)) throw error;
    throw new ConfigError(`--trust-proxy: ${error.message}`);
  }
  const metrics = get('metrics')?.trim();
  const config: RelayConfig = {
    host: get('host')!,
    port: wholeNumber('port', get('port')!, 0, 65535),
    dataDir: get('data')!,
    historySize: wholeNumber('history', get('history')!, 1, 1_000_000),
    origins: originList.includes('*') || originList.length === 0 ? null : originList,
    tls:
      cert !== undefined && key !== undefined
        ? {
            cert: readableFile('tls-cert', cert),
            key: readableFile('tls-key', key),
          }
        : null,
    sessionDays: wholeNumber('session-days', get('session-days')!, 1, 3650),
    requestsPerSecond: wholeNumber('rate', get('rate')!, 1, 1_000_000),
    registrationsPerHour: wholeNumber('registrations-per-hour', get('registrations-per-hour')!, 1, 1_000_000),
    engine: choice('engine', get('engine')!, ENGINE_WISHES),
    trustedProxies,
    maxConnectionsPerAddress: wholeNumber(
      'max-connections-per-address',
      get('max-connections-per-address')!,
      1,
      1_000_000,
    ),
    connectionBudget: budgetBytes(get('conn-budget')!),
    logFormat: choice('log-format', get('log-format')!, LOG_FORMATS),
    logLevel: choice('log-level', get('log-level')!, LOG_LEVELS),
    // Empty (SOV_METRICS= in a unit file or container spec) means off, like leaving it out.
    metrics: metrics === undefined || metrics === '' ? null : listenAddress('metrics', metrics),
  };
  return { action: 'run', config };
}

/** Browsers always send Origin on WebSocket upgrades and CORS requests; other clients send none and are allowed. */
export function originAllowed(config: RelayConfig, origin: string): boolean {
  return origin === '' || config.origins === null || config.origins.includes(origin);
}
