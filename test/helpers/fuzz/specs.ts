/**
 * What the fuzz generators produce: plain data ("specs") that frames.ts turns into bytes once the
 * connection's state is known, printed as short descriptions in fast-check's counterexamples.
 */
import fc from 'fast-check';
import type { RequestType } from './protocol-promises.ts';

/** A value to be filled in when the frame is built, because it depends on the connection's state. */
export type Ref =
  | 'self.id'
  | 'other.id'
  | 'self.username'
  | 'other.username'
  | 'self.authKey'
  | 'self.token'
  | 'stale.token'
  | 'now'
  | 'now-6min'
  | 'now+6min'
  | 'room.bystanders';

export type IdSpec = { k: 'fresh' } | { k: 'value'; value: unknown } | { k: 'none' };
export type TypeSpec =
  | { k: 'known'; type: RequestType }
  | { k: 'junk'; type: string }
  | { k: 'value'; value: unknown }
  | { k: 'none' };
/** How one field of a request-shaped frame is filled. */
export type FieldSpec =
  | { k: 'omit' }
  | { k: 'good'; pick: number }
  | { k: 'ref'; ref: Ref }
  | { k: 'value'; value: unknown };
export type TextSpec = { k: 'short'; text: string } | { k: 'long'; fill: string; length: number };
export type SendTwist =
  | 'none'
  | 'tamper'
  | 'author'
  | 'old'
  | 'future'
  | 'sigOther'
  | 'sigGarbage'
  | 'cidReuse'
  | 'twice'
  | 'twiceSameId';

export type Op =
  | { op: 'ping' }
  | { op: 'salt'; who: 'self' | 'other' | 'fresh' }
  | { op: 'register'; name: 'fresh' | 'self' | 'other' }
  | { op: 'login'; who: 'self' | 'other'; right: boolean }
  | { op: 'resume'; which: 'self' | 'stale' | 'random' }
  | { op: 'logout' }
  | { op: 'change-password'; right: boolean }
  | { op: 'join'; room: number; after: number | null; limit: number | null }
  | { op: 'leave'; room: number }
  | { op: 'send'; room: number; text: TextSpec; twist: SendTwist }
  | {
      op: 'profile';
      by: 'id' | 'name' | 'both' | 'none';
      who: 'self' | 'other' | 'missing';
    }
  | {
      op: 'update-profile';
      username: 'fresh' | 'other' | 'same' | null;
      firstName: string | null;
      lastName: string | null;
    }
  | { op: 'online'; room: number | null };

export type HugeWhere = 'text' | 'username' | 'raw' | 'id' | 'type' | 'extra' | 'array' | 'escapes';
export type DeepWhere = 'root' | 'field' | 'room' | 'id' | 'type';

export type Spec =
  | { k: 'raw'; text: string }
  | { k: 'json'; value: unknown }
  | {
      k: 'req';
      id: IdSpec;
      type: TypeSpec;
      fields: FieldSpec[];
      extra: [string, unknown][];
    }
  | { k: 'op'; id: IdSpec; op: Op }
  | { k: 'replay'; pick: number }
  | { k: 'huge'; bytes: number; where: HugeWhere; fill: string }
  | { k: 'deep'; depth: number; open: 'array' | 'object'; where: DeepWhere }
  | { k: 'utf8'; before: string; bad: number[]; after: string }
  | { k: 'binary'; bytes: number[] | string }
  | { k: 'frag'; inner: Spec; cuts: number[]; pingBetween: boolean };

export interface BatchSpec {
  /** Start from a fresh connection (a new login for a logged-in lane). */
  reconnect: boolean;
  /** Flood the connection with pings first, past the rate limit (it should end with 1008). */
  flood: boolean;
  specs: Spec[];
}

/** One round: a batch per lane, sent at the same time on every lane. */
export type RoundSpec = BatchSpec[];

// Printing: fast-check shows counterexamples with fc.stringify; a 64 KB string would drown the
// report, so specs print as a short description.

export function clip(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return '<unprintable>';
  }
}

export function describeSpec(spec: Spec): string {
  switch (spec.k) {
    case 'raw':
      return `raw(${clip(JSON.stringify(spec.text))})`;
    case 'json':
      return `json(${clip(safeStringify(spec.value))})`;
    case 'req':
      return `req(id=${clip(safeStringify(spec.id), 40)}, type=${clip(safeStringify(spec.type), 60)}, fields=${clip(safeStringify(spec.fields), 200)}${spec.extra.length ? `, extra=${clip(safeStringify(spec.extra), 80)}` : ''})`;
    case 'op':
      return `op(${clip(safeStringify(spec.op), 160)}, id=${clip(safeStringify(spec.id), 40)})`;
    case 'replay':
      return `replay(#${spec.pick})`;
    case 'huge':
      return `huge(${spec.bytes} bytes, ${spec.where}, fill ${JSON.stringify(spec.fill)})`;
    case 'deep':
      return `deep(${spec.depth} ${spec.open}s, in ${spec.where})`;
    case 'utf8':
      return `utf8(${JSON.stringify(spec.before)} + [${spec.bad.map((b) => b.toString(16)).join(' ')}] + ${JSON.stringify(spec.after)})`;
    case 'binary':
      return `binary(${typeof spec.bytes === 'string' ? clip(JSON.stringify(spec.bytes), 60) : `${spec.bytes.length} bytes`})`;
    case 'frag':
      return `frag(${describeSpec(spec.inner)} cut at ${spec.cuts.map((c) => c.toFixed(2)).join(',')}${spec.pingBetween ? ', pings between' : ''})`;
  }
}

export function printable<T extends Spec>(spec: T): T {
  Object.defineProperty(spec, fc.toStringMethod, {
    value: () => describeSpec(spec),
    enumerable: false,
  });
  return spec;
}
