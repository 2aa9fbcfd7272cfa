/**
 * Reconnect delays: exponential from 0.5 s, capped at 30 s, with "equal jitter" (half fixed, half
 * random) so that a thousand clients cut off by the same network blip do not all return at once.
 */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 500 * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
