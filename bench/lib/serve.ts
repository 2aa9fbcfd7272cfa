/**
 * The child side of WorkerHandle: answers {id, cmd, args} messages from the benchmark with
 * {re, ok, result | error}. A child exits as soon as its parent goes away, so a crashed or
 * interrupted benchmark never leaves load generators behind.
 */
export type Handlers = Record<string, (args: any) => unknown>;

export function serve(handlers: Handlers): void {
  if (!process.send) {
    process.stderr.write('this file is a benchmark child process; run `npm run bench`\n');
    process.exit(2);
  }
  const all: Handlers = { ping: () => ({ pid: process.pid }), ...handlers };
  process.on('message', (message: { id: number; cmd: string; args: unknown }) => {
    const handler = all[message.cmd];
    const answer = (reply: object): void => {
      if (process.connected) process.send!({ re: message.id, ...reply });
    };
    if (!handler) {
      answer({ ok: false, error: `unknown command ${message.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.args))
      .then(
        (result) => answer({ ok: true, result: result ?? null }),
        (error: unknown) =>
          answer({
            ok: false,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}

/** Sends an unsolicited event to the parent (progress notes). */
export function notify(event: string, fields: Record<string, unknown> = {}): void {
  if (process.connected) process.send!({ event, ...fields });
}

export async function pool<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function latencySummary(samples: number[]): {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
} {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / (sorted.length || 1);
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    mean,
  };
}
