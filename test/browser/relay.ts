/** Browser-side access to the test relay that web-test-runner.config.mjs runs. */
export interface RelayInfo {
  url: string;
  wsUrl: string;
}

export async function relayInfo(): Promise<RelayInfo> {
  return (await fetch('/__relay')).json();
}

/** Restarts the relay on the same port and data folder; SIGKILL simulates a crash. */
export async function restartRelay(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<RelayInfo> {
  return (await fetch(`/__relay/restart?signal=${signal}`, { method: 'POST' })).json();
}

/** Stops the relay; SIGKILL simulates a crash. */
export async function stopRelay(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  await fetch(`/__relay/stop?signal=${signal}`, { method: 'POST' });
}

export async function startRelayAgain(): Promise<RelayInfo> {
  return (await fetch('/__relay/start', { method: 'POST' })).json();
}

let counter = 0;
export function uniqueName(prefix = 'u'): string {
  return `${prefix}${Date.now().toString(36)}${(++counter).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
