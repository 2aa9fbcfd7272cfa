/**
 * Real reverse proxies in front of a test relay: nginx and Caddy from the system's packages, each
 * started in the foreground from a configuration written into a temporary folder, on a free
 * loopback port, logging into that folder. Tests reach the relay only through them.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { eventually } from './client.ts';
import { tempDataDir } from './relay-process.ts';

export interface ProxyProcess {
  url: string;
  wsUrl: string;
  port: number;
  /** Everything the proxy wrote to stderr so far, and its error log where it keeps one. */
  log(): string;
  stop(): Promise<void>;
}

/** A port nobody listens on right now on 127.0.0.1 (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Runs `command` in the foreground and resolves once `port` accepts connections. */
async function startProxy(
  name: string,
  command: string[],
  port: number,
  env: NodeJS.ProcessEnv,
  extraLog: () => string,
): Promise<ProxyProcess> {
  const child: ChildProcess = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = (): string => `${output}${extraLog()}`;
  let up = false;
  const probe = async (): Promise<void> => {
    while (!up && child.exitCode === null) up = await accepts(port);
  };
  await Promise.race([probe(), exited]);
  if (!up) {
    await eventually(() => child.exitCode !== null, `${name} to exit`, 5000).catch(() => child.kill('SIGKILL'));
    throw new Error(`${name} exited with ${child.exitCode} before listening on ${port}:\n${log()}`);
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    port,
    log,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * The location blocks README.md shows under "Behind a reverse proxy", with the relay's port: the
 * WebSocket route passes the upgrade on and names the client in X-Forwarded-For, the rest is plain
 * HTTP. `proxy_read_timeout` outlasts the relay's pings (every 32 s at the most), so nginx never
 * cuts a quiet chat.
 */
export function nginxLocations(relayPort: number): string {
  return `
    location / {
      proxy_pass http://127.0.0.1:${relayPort};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
    location = /v1/ws {
      proxy_pass http://127.0.0.1:${relayPort};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h;
    }`;
}

/**
 * The second front door README.md shows under "Adding a front door": another site's nginx passes
 * `prefix`/ on to the relay with the prefix stripped, so the relay sees its own paths. The SDK,
 * given `https://site/prefix`, connects to `/prefix/v1/ws`. The upstream here is the test relay's
 * loopback port; the README's is the relay's public https address (hence the SNI line).
 */
export function nginxPathDoor(relayPort: number, prefix: string): string {
  return `
    location ${prefix}/ {
      proxy_pass http://127.0.0.1:${relayPort}/;
      proxy_http_version 1.1;
      proxy_ssl_server_name on;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
    location = ${prefix}/v1/ws {
      proxy_pass http://127.0.0.1:${relayPort}/v1/ws;
      proxy_http_version 1.1;
      proxy_ssl_server_name on;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h;
    }`;
}

/** nginx in the foreground on a free loopback port, proxying to the relay on `relayPort` (README's locations unless others are given). */
export async function startNginx(
  program: string,
  relayPort: number,
  locations = nginxLocations(relayPort),
): Promise<ProxyProcess> {
  const dir = tempDataDir();
  // nginx run by root hands requests to workers running as nobody, which must reach the folder.
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const errorLog = path.join(dir, 'error.log');
  const config = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    config,
    `daemon off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${errorLog} info;
${process.getuid?.() === 0 ? 'user nobody nogroup;' : ''}
events { worker_connections 4096; }
http {
  access_log ${path.join(dir, 'access.log')};
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${path.join(dir, kind)};`).join('\n')}
  server {
    listen 127.0.0.1:${port};
${locations}
  }
}
`,
  );
  // -e: the error log before the configuration is read (the default path needs root).
  return startProxy('nginx', [program, '-c', config, '-p', dir, '-e', errorLog], port, {}, () =>
    fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : '',
  );
}

/** Caddy in the foreground on a free loopback port; `reverse_proxy` passes WebSockets and sets X-Forwarded-For by itself. */
export async function startCaddy(program: string, relayPort: number): Promise<ProxyProcess> {
  const dir = tempDataDir();
  const port = await freePort();
  const config = path.join(dir, 'Caddyfile');
  fs.writeFileSync(
    config,
    `{
  admin off
  auto_https off
}
http://127.0.0.1:${port} {
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:${relayPort}
}
`,
  );
  // Caddy keeps certificates and its autosave in the user's folders: keep them in the test's.
  const env = {
    HOME: dir,
    XDG_DATA_HOME: path.join(dir, 'data'),
    XDG_CONFIG_HOME: path.join(dir, 'config'),
  };
  return startProxy('caddy', [program, 'run', '--config', config, '--adapter', 'caddyfile'], port, env, () => '');
}
