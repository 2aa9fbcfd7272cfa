import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { TestClient, registerUser } from '../helpers/client.ts';
import { PACKAGE_ROOT, RELAY_BIN, startRelay, tempDataDir } from '../helpers/relay-process.ts';
import { rawGet } from '../helpers/raw-http.ts';

const FLAGS = [
  '--host',
  '--port',
  '--data',
  '--history',
  '--origins',
  '--tls-cert',
  '--tls-key',
  '--session-days',
  '--rate',
  '--registrations-per-hour',
  '--engine',
  '--trust-proxy',
  '--max-connections-per-address',
  '--log-format',
  '--log-level',
  '--metrics',
];

describe('sov-relay command line', () => {
  test('--help explains every flag and its environment variable', () => {
    const help = execFileSync(process.execPath, [RELAY_BIN, '--help'], {
      encoding: 'utf8',
    });
    for (const flag of FLAGS) {
      assert.match(help, new RegExp(`${flag} `), flag);
      assert.match(help, new RegExp(`SOV_${flag.slice(2).toUpperCase().replaceAll('-', '_')}\\]`), `${flag} env`);
    }
  });

  test('--version prints the package version and exits 0', () => {
    const run = spawnSync(process.execPath, [RELAY_BIN, '--version'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0);
    const manifest = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'relay', 'package.json'), 'utf8')) as {
      version: string;
    };
    assert.equal(run.stdout, `sov-relay ${manifest.version}\n`);
  });

  test('refuses unknown flags and bad values with exit code 2 and a readable message', () => {
    const badValues = [
      ['--bogus'],
      ['--port', 'eighty'],
      ['--history', '0'],
      ['--tls-cert', 'a.pem'],
      ['--origins', 'not an origin'],
      ['--engine', 'bun'],
      ['--trust-proxy', 'proxy.local'],
      ['--metrics', '9100'],
      ['--log-level', 'trace'],
    ];
    for (const args of badValues) {
      const run = spawnSync(process.execPath, [RELAY_BIN, ...args], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 2, args.join(' '));
      assert.match(run.stderr, /^sov-relay: .+\nRun sov-relay --help/);
    }
  });

  test('a TLS file it cannot read stops the start with exit code 2, naming the file, before the data folder is touched', () => {
    const folder = tempDataDir();
    const missing = path.join(folder, 'missing-key.pem');
    fs.writeFileSync(path.join(folder, 'cert.pem'), 'certificate');
    const dataDir = path.join(folder, 'data');
    const run = spawnSync(
      process.execPath,
      [RELAY_BIN, '--port', '0', '--data', dataDir, '--tls-cert', path.join(folder, 'cert.pem'), '--tls-key', missing],
      { encoding: 'utf8', timeout: 10_000 },
    );
    assert.equal(run.status, 2);
    assert.ok(run.stderr.includes(`--tls-key: cannot read ${missing}`), run.stderr);
    assert.ok(!fs.existsSync(dataDir));
  });

  test('--log-format json writes every log record as one JSON object on its own line', async () => {
    const relay = await startRelay({ args: ['--log-format', 'json'] });
    assert.equal(await relay.stop('SIGTERM'), 0);
    const records = relay
      .stderr()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(records.length >= 2);
    for (const record of records) assert.deepEqual(Object.keys(record).slice(0, 3), ['time', 'level', 'msg']);
    assert.ok(records.some((record) => record.msg === 'relay started' && record.url === relay.url));
    assert.ok(records.some((record) => record.msg === 'SIGTERM: shutting down'));
  });

  test('creates the data folder, prints one listening line, and exits 0 on SIGINT and SIGTERM', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const dataDir = path.join(tempDataDir(), 'nested', 'data');
      const relay = await startRelay({ dataDir });
      assert.match(relay.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(fs.existsSync(path.join(dataDir, 'accounts.log')));
      const client = await TestClient.connect(relay.wsUrl);
      const closed = client.closed;
      assert.equal(await relay.stop(signal), 0);
      assert.equal((await closed).code, 1001, 'clients are told the relay is going away');
      assert.ok(!fs.existsSync(path.join(dataDir, 'relay.lock')), 'the lock is released');
    }
  });

  test('reads settings from SOV_* environment variables', async () => {
    const relay = await startRelay({ env: { SOV_HISTORY: '7' } });
    try {
      const client = await TestClient.connect(relay.wsUrl);
      const hello = client.events.find((e) => e.ev === 'hello')!;
      assert.equal(hello.limits.historySize, 7);
      assert.equal(hello.protocol, 1);
    } finally {
      await relay.stop();
    }
  });

  test('refuses to share a data folder with a running relay', async () => {
    const relay = await startRelay();
    try {
      const second = spawnSync(process.execPath, [RELAY_BIN, '--port', '0', '--data', relay.dataDir], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      assert.equal(second.status, 1);
      assert.match(second.stderr, /in use by relay process/);
    } finally {
      await relay.stop();
    }
  });

  test('serves the demo page at / and answers unknown paths with 404', async () => {
    const relay = await startRelay();
    try {
      const page = await fetch(`${relay.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type')!, /text\/html/);
      assert.match(await page.text(), /Sovereign Chat/);
      // Raw: fetch would send /etc/passwd, having resolved the dots itself.
      assert.equal((await rawGet(relay.port, '/../../etc/passwd')).status, 404);
      assert.equal((await fetch(`${relay.url}/nothing-here`)).status, 404);
    } finally {
      await relay.stop();
    }
  });

  test('serves https and wss with --tls-cert and --tls-key', async (t) => {
    const folder = tempDataDir();
    const key = path.join(folder, 'key.pem');
    const cert = path.join(folder, 'cert.pem');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    if (made.status !== 0) return t.skip('openssl is not installed');
    const relay = await startRelay({
      args: ['--tls-cert', cert, '--tls-key', key],
    });
    try {
      assert.match(relay.url, /^https:\/\//);
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(`${relay.url}/v1/health`, { rejectUnauthorized: false }, (res) => {
            let text = '';
            res.on('data', (chunk) => (text += chunk)).on('end', () => resolve(text));
          })
          .on('error', reject);
      });
      assert.equal(body, 'ok');
      const client = await TestClient.connect(relay.wsUrl, {
        rejectUnauthorized: false,
      } as WebSocket.ClientOptions);
      assert.equal((await registerUser(client)).profile.firstName, 'Иван');
    } finally {
      await relay.stop();
    }
  });
});
