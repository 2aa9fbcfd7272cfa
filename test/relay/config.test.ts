import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig, relayVersion, usage } from '../../relay/config.ts';
import type { RelayConfig } from '../../relay/config.ts';
import { tempDataDir } from '../helpers/relay-process.ts';

/** Parses with an empty environment, so the machine's SOV_* variables cannot leak in. */
function configOf(argv: string[], env: NodeJS.ProcessEnv = {}): RelayConfig {
  const command = parseConfig(argv, env);
  assert.equal(command.action, 'run');
  return command.config;
}

function refuses(argv: string[], message: RegExp, env: NodeJS.ProcessEnv = {}): void {
  assert.throws(
    () => parseConfig(argv, env),
    (error: unknown) => error instanceof ConfigError && message.test(error.message),
    argv.join(' '),
  );
}

describe('relay configuration', () => {
  test('defaults: auto engine, no trusted proxies, 50 connections per address, text logs at info, no metrics', () => {
    const config = configOf([]);
    assert.equal(config.engine, 'auto');
    assert.ok(!config.trustedProxies.trusts('127.0.0.1'));
    assert.equal(config.maxConnectionsPerAddress, 50);
    assert.equal(config.logFormat, 'text');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.metrics, null);
  });

  test('reads every new setting from its flag', () => {
    const config = configOf([
      '--engine',
      'node',
      '--trust-proxy',
      '10.0.0.0/8,::1',
      '--max-connections-per-address',
      '500',
      '--log-format',
      'json',
      '--log-level',
      'debug',
      '--metrics',
      '127.0.0.1:9100',
    ]);
    assert.equal(config.engine, 'node');
    assert.ok(config.trustedProxies.trusts('10.1.1.1'));
    assert.ok(config.trustedProxies.trusts('::1'));
    assert.ok(!config.trustedProxies.trusts('11.1.1.1'));
    assert.equal(config.maxConnectionsPerAddress, 500);
    assert.equal(config.logFormat, 'json');
    assert.equal(config.logLevel, 'debug');
    assert.deepEqual(config.metrics, { host: '127.0.0.1', port: 9100 });
  });

  test('reads every new setting from its SOV_* variable, and a flag wins over it', () => {
    const env = {
      SOV_ENGINE: 'uws',
      SOV_TRUST_PROXY: '192.168.0.0/16',
      SOV_MAX_CONNECTIONS_PER_ADDRESS: '7',
      SOV_LOG_FORMAT: 'json',
      SOV_LOG_LEVEL: 'warn',
      SOV_METRICS: '[::1]:9100',
    };
    const config = configOf([], env);
    assert.equal(config.engine, 'uws');
    assert.ok(config.trustedProxies.trusts('192.168.3.4'));
    assert.equal(config.maxConnectionsPerAddress, 7);
    assert.equal(config.logFormat, 'json');
    assert.equal(config.logLevel, 'warn');
    assert.deepEqual(config.metrics, { host: '::1', port: 9100 });
    assert.equal(configOf(['--engine', 'node'], env).engine, 'node');
  });

  test('metrics take a host name, IPv4 or bracketed IPv6, and an empty value means off', () => {
    assert.deepEqual(configOf(['--metrics', 'localhost:0']).metrics, {
      host: 'localhost',
      port: 0,
    });
    assert.deepEqual(configOf(['--metrics', '[2001:db8::1]:65535']).metrics, {
      host: '2001:db8::1',
      port: 65535,
    });
    assert.equal(configOf([], { SOV_METRICS: '' }).metrics, null);
  });

  test('refuses bad values with a message naming the flag', () => {
    refuses(['--engine', 'bun'], /^--engine must be one of auto, uws, node, got "bun"$/);
    refuses(['--log-format', 'xml'], /^--log-format must be one of text, json/);
    refuses(['--log-level', 'trace'], /^--log-level must be one of debug, info, warn, error/);
    refuses(['--max-connections-per-address', '0'], /^--max-connections-per-address must be a whole number from 1/);
    refuses(
      ['--trust-proxy', '10.0.0.0/8,proxy.local'],
      /^--trust-proxy: "proxy\.local" is not an IP address or CIDR block$/,
    );
    refuses([], /^--trust-proxy: "10\.0\.0\.0\/40"/, {
      SOV_TRUST_PROXY: '10.0.0.0/40',
    });
    for (const metrics of ['9100', ':9100', '::1:9100', '[::1]', '[nonsense]:9100', 'host:99999', 'host:port', 'a b:1'])
      refuses(['--metrics', metrics], /^--metrics must be/);
  });

  test('refuses a TLS file it cannot read, naming the file', () => {
    const folder = tempDataDir();
    const cert = path.join(folder, 'cert.pem');
    const key = path.join(folder, 'key.pem');
    fs.writeFileSync(cert, 'not checked here, only read');
    refuses(
      ['--tls-cert', cert, '--tls-key', key],
      new RegExp(`^--tls-key: cannot read ${key.replaceAll('.', '\\.')} \\(no such file\\)$`),
    );
    refuses(['--tls-cert', folder, '--tls-key', cert], /^--tls-cert: cannot read .* \(it is a folder\)$/);
    fs.writeFileSync(key, 'key');
    assert.deepEqual(configOf(['--tls-cert', cert, '--tls-key', key]).tls, {
      cert,
      key,
    });
  });

  test('--help and --version are answered without validating anything else', () => {
    assert.deepEqual(parseConfig(['--help', '--engine', 'bun']), {
      action: 'help',
    });
    assert.deepEqual(parseConfig(['--version'], { SOV_PORT: 'eighty' }), {
      action: 'version',
    });
    const manifest = JSON.parse(fs.readFileSync(new URL('../../relay/package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.equal(relayVersion(), manifest.version);
  });

  test('help lines start every explanation in one column, at least two spaces after the longest flag', () => {
    const rows = usage()
      .split('\n')
      .filter((line) => line.startsWith('  --'));
    const columns = rows.map((row) => /^ {2}--\S+(?: \S+)? {2,}(?=\S)/.exec(row)?.[0].length);
    assert.ok(
      columns.every((column) => column !== undefined && column === columns[0]),
      columns.join(' '),
    );
    assert.ok(
      rows.some((row) => row.startsWith('  --max-connections-per-address N ') && row.includes('NAT')),
      'says why the limit',
    );
  });
});
