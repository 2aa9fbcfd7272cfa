/**
 * Violations of the invariants and the summary of a run, as text.
 */
import type { FuzzSummary } from './harness.ts';
import { RSS_BOUND_MB } from './relay-memory.ts';
import { clip } from './specs.ts';

export interface Violation {
  invariant: 'a' | 'b' | 'c' | 'd';
  /** A short, stable description: violations are grouped by it in the summary. */
  what: string;
  detail: string;
}

export function formatViolations(violations: Violation[], examples = 2): string {
  if (violations.length === 0) return 'none';
  const groups = new Map<string, Violation[]>();
  for (const violation of violations) {
    const key = `(${violation.invariant}) ${violation.what}`;
    groups.set(key, [...(groups.get(key) ?? []), violation]);
  }
  const lines: string[] = [];
  for (const [key, list] of groups) {
    lines.push(`  ${list.length} x ${key}`);
    for (const violation of list.slice(0, examples))
      lines.push(`      e.g. ${clip(violation.detail, 1500).replace(/\n/g, '\n      ')}`);
  }
  return lines.join('\n');
}

export function formatSummary(summary: FuzzSummary, rssBoundMb = RSS_BOUND_MB): string {
  const list = (record: Record<string, number>): string =>
    Object.entries(record)
      .map(([key, value]) => `${key} ${value}`)
      .join(', ') || 'none';
  const mb = (value: number): string => `${value.toFixed(1)} MB`;
  const relays = summary.relays.map(
    (r, i) =>
      `  #${i + 1} pid ${r.pid}: ${r.frames} frames; RSS start ${mb(r.startRss)}, peak ${mb(r.peakRss)}, end ${mb(r.endRss)} (growth ${mb(r.endRss - r.startRss)}, bound +${rssBoundMb} MB)${r.died ? `; DIED: ${r.died}` : ''}`,
  );
  const shown =
    relays.length > 12 ? [...relays.slice(0, 5), `  ... ${relays.length - 10} more ...`, ...relays.slice(-5)] : relays;
  return [
    `frames sent: ${summary.frames} (${summary.fuzzFrames} fuzz frames + ${summary.frames - summary.fuzzFrames} flood pings)`,
    `  by generator: ${list(summary.framesByKind)}`,
    `  of the kind that crashed the relay before its fix (finding 1): ${summary.knownCrashFrames}`,
    `replies by code: ${list(summary.replies)}`,
    `replies by request type (flood pings aside):`,
    ...Object.entries(summary.outcomes).map(([type, codes]) => `  ${type}: ${list(codes)}`),
    `closes by code: ${list(summary.closes)}`,
    `other: ${list(summary.other)}`,
    `relay processes: ${summary.relays.length}`,
    ...shown,
    `bystanders: ${summary.bystanders.sent} messages sent, ${summary.bystanders.confirmed} accepted, ${summary.bystanders.delivered} delivered to both`,
    `duration: ${(summary.durationMs / 1000).toFixed(1)} s`,
    `invariant violations: ${summary.violations.length === 0 ? 'none' : `${summary.violations.length}\n${formatViolations(summary.violations)}`}`,
  ].join('\n');
}
