/** Browser-side access to the test relay that web-test-runner.config.mjs runs. */
import type { ChatMessage } from '../../sdk/protocol.ts';

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

/**
 * Starts a second relay on a copy of the test relay's data folder (same accounts and sessions)
 * whose stored history is exactly `messages`, written by the relay's own store: what a relay
 * serves after its operator altered the folder. Each message goes into the room it names.
 * `budget`: the relay's --conn-budget (0, the default: none).
 */
export async function forgedRelay(messages: Array<Omit<ChatMessage, 'seq'>>, budget = 0): Promise<RelayInfo> {
  const reply = await fetch(`/__relay/forged?budget=${budget}`, {
    method: 'POST',
    body: JSON.stringify(messages),
  });
  if (!reply.ok) throw new Error(`the forged relay did not start: ${reply.status} ${await reply.text()}`);
  return reply.json();
}

let counter = 0;
export function uniqueName(prefix = 'u'): string {
  return `${prefix}${Date.now().toString(36)}${(++counter).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
