/**
 * Building a spec into the bytes of one or more frames, from the state of
 * the connection that sends it (its user, keys, token, clock).
 */
import { type Identity, freshName, kdf, newKeys, randomKey, sign } from './identities.ts';
import type { Lane } from './lane.ts';
import { ALL_FIELDS, type Expectation, REQUEST_FIELDS, type RequestId, expectationFor } from './protocol-promises.ts';
import { type HugeWhere, type IdSpec, type Op, type Ref, type Spec, type TextSpec, clip } from './specs.ts';

/** One frame ready to go: its bytes (or fragments), what PROTOCOL.md promises for it, and state hooks. */
export interface Outgoing {
  data: Buffer;
  binary: boolean;
  fragments?: Buffer[];
  pingBetween?: boolean;
  expect: Expectation;
  preview: string;
  /** Which generator made it (for the summary). */
  kind: string;
  /** A request that may wait for the disk or the signature pool before its reply. */
  slow: boolean;
  /** For well-formed requests: what the lane learns from an ok reply. */
  onOk?: (result: any) => void;
  replayable: boolean;
}

const SLOW_TYPES = new Set<string>(['register', 'login', 'logout', 'change-password', 'update-profile', 'send']);

export function outgoing(
  data: Buffer,
  binary: boolean,
  kind: string,
  preview: string,
  extra: Partial<Outgoing> = {},
): Outgoing {
  const expect = expectationFor(data, binary);
  return {
    data,
    binary,
    expect,
    preview,
    kind,
    slow: expect.kind === 'reply' && expect.type !== null && SLOW_TYPES.has(expect.type),
    replayable: false,
    ...extra,
  };
}

function previewBytes(data: Buffer): string {
  return (
    clip(JSON.stringify(data.subarray(0, 400).toString('utf8')), 160) +
    (data.length > 400 ? ` (${data.length} bytes)` : '')
  );
}

/** Everything a lane's frames may refer to. */
export interface BuildContext {
  lane: Lane;
  nextId(): RequestId;
  /** The identity whose keys the lane signs with: the logged-in one if known, else its account. */
  me: Identity;
  other: { id: number; username: string };
  rooms: string[];
  replayPool: Buffer[];
  staleTokens: string[];
}

const BIG_ROOM = 'fuzz-3';
/** Rooms a logged-in lane joins right after logging in, as a client would (without history). */
export const AUTO_JOINED = ['general', 'fuzz-1', 'fuzz-2', BIG_ROOM];

function roomFor(ctx: BuildContext, pick: number): string {
  return ctx.rooms[pick % ctx.rooms.length]!;
}

function refValue(ctx: BuildContext, ref: Ref): unknown {
  const now = Date.now();
  switch (ref) {
    case 'self.id':
      return ctx.me.id;
    case 'other.id':
      return ctx.other.id;
    case 'self.username':
      return ctx.me.username;
    case 'other.username':
      return ctx.other.username;
    case 'self.authKey':
      return ctx.me.authKey;
    case 'self.token':
      return ctx.me.token;
    case 'stale.token':
      return ctx.staleTokens[ctx.staleTokens.length - 1] ?? randomKey();
    case 'now':
      return now;
    case 'now-6min':
      return now - 6 * 60_000;
    case 'now+6min':
      return now + 6 * 60_000;
    case 'room.bystanders':
      return ctx.rooms[1];
  }
}

/** A value that is valid, or almost, for `field`; `pick` chooses among the candidates. */
function goodValue(ctx: BuildContext, field: string, pick: number): unknown {
  const choose = <T>(values: T[]): T => values[pick % values.length]!;
  switch (field) {
    case 'username':
      return choose([
        ctx.me.username,
        ctx.other.username,
        ctx.other.username.toUpperCase(),
        freshName('fz'),
        ` ${freshName('fz')} `,
        'Ann',
        'ab',
      ]);
    case 'firstName':
    case 'lastName':
      return choose(['Ann', 'Ｂob', ' Ева ', 'Jean-Luc', 'O’Brien']);
    case 'kdf':
      return choose([
        kdf(),
        { ...kdf(), N: 2 ** 16 },
        { ...kdf(), N: 3 * 2 ** 17 },
        { ...kdf(), alg: 'argon2' },
        { ...kdf(), r: 33 },
        { ...kdf(), salt: randomKey(8) },
      ]);
    case 'authKey':
      return choose([randomKey(), ctx.me.authKey]);
    case 'newAuthKey':
    case 'keySalt':
      return randomKey();
    case 'publicKey':
      return choose([randomKey(), newKeys().publicKey]);
    case 'token':
      return choose([randomKey(), ctx.me.token, ctx.staleTokens[0] ?? randomKey()]);
    case 'room':
      return roomFor(ctx, pick);
    case 'after':
    case 'before':
    case 'limit':
      return pick % 120;
    case 'members':
      return pick % 2 === 0;
    case 'author':
      return choose([ctx.me.id, ctx.other.id, 1 + (pick % 20)]);
    case 'cid':
      return `fuzzcid${pick}`;
    case 'ts':
      return Date.now() + choose([0, 0, -4 * 60_000, 10 * 60_000]);
    case 'text':
      return choose(['hello', 'x'.repeat(4000), 'Привет']);
    case 'sig':
      return randomKey(64);
    case 'userId':
      return choose([ctx.me.id, ctx.other.id, 1 + (pick % 30), 1e9]);
    default:
      return null;
  }
}

function idFor(ctx: BuildContext, spec: IdSpec, frame: Record<string, unknown>): void {
  if (spec.k === 'fresh') frame.id = ctx.nextId();
  else if (spec.k === 'value') frame.id = spec.value;
}

export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
}

/** Builds the frames for one spec (a spec may become two frames: a signed message sent twice). */
export function materialize(ctx: BuildContext, spec: Spec): Outgoing[] {
  switch (spec.k) {
    case 'raw': {
      const data = Buffer.from(spec.text, 'utf8'); // lone surrogates go out as U+FFFD, as from any client
      return [outgoing(data, false, 'raw', previewBytes(data))];
    }
    case 'json': {
      const data = jsonBytes(spec.value);
      return [outgoing(data, false, 'json', previewBytes(data))];
    }
    case 'req': {
      // A null-prototype object, so "__proto__" and friends become real keys of the JSON.
      const frame: Record<string, unknown> = Object.create(null);
      idFor(ctx, spec.id, frame);
      if (spec.type.k === 'known' || spec.type.k === 'junk') frame.type = spec.type.type;
      else if (spec.type.k === 'value') frame.type = spec.type.value;
      // A known type gets its own fields; anything else a spread of fields of every type.
      const names =
        spec.type.k === 'known'
          ? REQUEST_FIELDS[spec.type.type]
          : spec.fields.map((_, i) => ALL_FIELDS[(i * 5 + spec.extra.length) % ALL_FIELDS.length]!);
      for (const [i, field] of names.entries()) {
        const how = spec.fields[i] ?? { k: 'omit' };
        if (how.k === 'good') frame[field] = goodValue(ctx, field, how.pick);
        else if (how.k === 'ref') frame[field] = refValue(ctx, how.ref);
        else if (how.k === 'value') frame[field] = how.value;
      }
      for (const [key, value] of spec.extra) frame[key] = value;
      const data = jsonBytes(frame);
      return [outgoing(data, false, 'request-shaped', previewBytes(data))];
    }
    case 'op':
      return materializeOp(ctx, spec.id, spec.op);
    case 'replay': {
      const data = ctx.replayPool.length
        ? ctx.replayPool[spec.pick % ctx.replayPool.length]!
        : Buffer.from('{"id":"replay","type":"ping"}');
      return [outgoing(data, false, 'replay', previewBytes(data))];
    }
    case 'huge': {
      const data = hugeFrame(ctx, spec.bytes, spec.where, spec.fill);
      return [
        outgoing(
          data,
          false,
          'huge',
          `${spec.where} padded to ${data.length} bytes: ${previewBytes(data.subarray(0, 80))}`,
        ),
      ];
    }
    case 'deep': {
      const [open, close] = spec.open === 'array' ? ['[', ']'] : ['{"a":', '}'];
      const deep = `${open.repeat(spec.depth)}${spec.open === 'array' ? '' : '0'}${close.repeat(spec.depth)}`;
      const id = JSON.stringify(ctx.nextId());
      const text =
        spec.where === 'root'
          ? deep
          : spec.where === 'field'
            ? `{"id":${id},"type":"ping","x":${deep}}`
            : spec.where === 'room'
              ? `{"id":${id},"type":"join","room":${deep}}`
              : spec.where === 'id'
                ? `{"id":${deep},"type":"ping"}`
                : `{"id":${id},"type":${deep}}`;
      const data = Buffer.from(text);
      return [
        outgoing(data, false, 'deep', `${spec.depth} nested ${spec.open}s in ${spec.where} (${data.length} bytes)`),
      ];
    }
    case 'utf8': {
      const data = Buffer.concat([Buffer.from(spec.before), Buffer.from(spec.bad), Buffer.from(spec.after)]);
      return [outgoing(data, false, 'invalid-utf8', `bytes ${data.toString('hex').slice(0, 120)}`)];
    }
    case 'binary': {
      const data = typeof spec.bytes === 'string' ? Buffer.from(spec.bytes) : Buffer.from(spec.bytes);
      return [outgoing(data, true, 'binary', `binary ${data.toString('hex').slice(0, 80)}`)];
    }
    case 'frag': {
      const inner = spec.inner.k === 'frag' ? [] : materialize(ctx, spec.inner);
      const first = inner[0];
      if (!first || first.binary) return inner;
      const cuts = [...new Set(spec.cuts.map((c) => Math.floor(c * first.data.length)))].sort((a, b) => a - b);
      const fragments: Buffer[] = [];
      let start = 0;
      for (const cut of cuts) {
        fragments.push(first.data.subarray(start, cut));
        start = cut;
      }
      fragments.push(first.data.subarray(start));
      return [
        {
          ...first,
          kind: 'fragmented',
          fragments,
          pingBetween: spec.pingBetween,
          preview: `${fragments.length} fragments of ${first.preview}`,
        },
      ];
    }
  }
}

function hugeFrame(ctx: BuildContext, bytes: number, where: HugeWhere, fill: string): Buffer {
  const id = JSON.stringify(ctx.nextId());
  const PAD = '\u0001PAD\u0001';
  const templates: Record<HugeWhere, string> = {
    text: `{"id":${id},"type":"send","room":"general","author":${ctx.me.id},"cid":"hugehuge${Date.now()}","ts":${Date.now()},"text":"${PAD}","sig":"${'A'.repeat(86)}"}`,
    username: `{"id":${id},"type":"salt","username":"${PAD}"}`,
    raw: PAD,
    id: `{"id":"${PAD}","type":"ping"}`,
    type: `{"id":${id},"type":"${PAD}"}`,
    extra: `{"id":${id},"type":"ping","junk":"${PAD}"}`,
    array: `[${PAD}1]`,
    escapes: `{"id":${id},"type":"join","room":"${PAD}"}`,
  };
  const template = templates[where];
  const room = bytes - Buffer.byteLength(template) + PAD.length;
  if (room <= 0) return Buffer.from(template.replace(PAD, ''));
  let pad: string;
  if (where === 'array') pad = '1,'.repeat(Math.floor(room / 2)) + (room % 2 ? ' ' : '');
  else if (where === 'escapes') pad = '\\u0041'.repeat(Math.floor(room / 6)) + 'x'.repeat(room % 6);
  else {
    // The fill may be multi-byte (or an escape): repeat it while it fits, then top up with ASCII.
    const unit = Buffer.byteLength(fill);
    pad = fill.repeat(Math.floor(room / unit));
    pad += 'x'.repeat(room - Buffer.byteLength(pad));
  }
  return Buffer.from(template.replace(PAD, pad));
}

function textOf(spec: TextSpec): string {
  if (spec.k === 'short') return spec.text;
  return spec.fill.repeat(Math.ceil(spec.length / spec.fill.length)).slice(0, spec.length);
}

function materializeOp(ctx: BuildContext, idSpec: IdSpec, op: Op): Outgoing[] {
  const lane = ctx.lane;
  const me = ctx.me;
  const frame: Record<string, unknown> = {};
  idFor(ctx, idSpec, frame);
  frame.type = op.op;
  let onOk: ((result: any) => void) | undefined;
  let twice: 'no' | 'newId' | 'sameId' = 'no';
  switch (op.op) {
    case 'ping':
    case 'logout':
      if (op.op === 'logout') {
        const token = me.token;
        onOk = () => {
          ctx.staleTokens.push(token);
          lane.session = null;
        };
      }
      break;
    case 'salt':
      frame.username = op.who === 'self' ? me.username : op.who === 'other' ? ctx.other.username : freshName('nobody');
      break;
    case 'register': {
      const keys = newKeys();
      const identity: Identity = {
        id: 0,
        username: op.name === 'fresh' ? freshName('fz') : op.name === 'self' ? me.username : ctx.other.username,
        authKey: randomKey(),
        ...keys,
        token: '',
      };
      Object.assign(frame, {
        username: identity.username,
        firstName: 'Fuzz',
        lastName: 'Ferret',
        kdf: kdf(),
        authKey: identity.authKey,
        keySalt: randomKey(),
        publicKey: keys.publicKey,
      });
      onOk = (result) => {
        identity.id = result.user.id;
        identity.token = result.token;
        lane.session = { id: identity.id, identity };
      };
      break;
    }
    case 'login': {
      frame.username = op.who === 'self' ? me.username : ctx.other.username;
      frame.authKey = op.right && op.who === 'self' ? me.authKey : randomKey();
      onOk = (result) => {
        if (op.who === 'self') me.token = result.token;
        lane.session = {
          id: result.user.id,
          identity: op.who === 'self' ? me : null,
        };
      };
      break;
    }
    case 'resume':
      frame.token =
        op.which === 'self'
          ? me.token
          : op.which === 'stale'
            ? (ctx.staleTokens[ctx.staleTokens.length - 1] ?? randomKey())
            : randomKey();
      onOk = (result) => {
        lane.session = {
          id: result.user.id,
          identity: result.user.id === me.id ? me : null,
        };
      };
      break;
    case 'change-password': {
      const keys = newKeys();
      const authKey = randomKey();
      Object.assign(frame, {
        authKey: op.right ? me.authKey : randomKey(),
        kdf: kdf(),
        newAuthKey: authKey,
        keySalt: randomKey(),
        publicKey: keys.publicKey,
      });
      onOk = () => {
        // Only the account the lane is logged in as changes; the session stays.
        const identity = lane.session?.identity;
        if (!identity) return;
        identity.authKey = authKey;
        identity.privateKey = keys.privateKey;
        identity.publicKey = keys.publicKey;
      };
      break;
    }
    case 'join':
      frame.room = roomFor(ctx, op.room);
      if (op.after !== null) frame.after = op.after;
      if (op.limit !== null) frame.limit = op.limit;
      break;
    case 'leave':
      frame.room = roomFor(ctx, op.room);
      break;
    case 'send': {
      const room = roomFor(ctx, op.room);
      // One room holds only long messages, so its history grows to megabytes: a join of it made
      // one reply bigger than the 1 MB send buffer, and uWS dropped the replies behind it
      // (finding 2); the relay now sends at most ~768 KB of history per join.
      const text =
        room === BIG_ROOM
          ? textOf({
              k: 'long',
              fill: '€',
              length: 4000 - (op.text.k === 'short' ? op.text.text.length % 8 : 0),
            })
          : textOf(op.text);
      const now = Date.now();
      const cid =
        op.twist === 'cidReuse' && lane.lastCid
          ? lane.lastCid
          : `c${lane.index}x${(++lane.cids).toString(36)}x${now.toString(36)}`;
      lane.lastCid = cid;
      const message = {
        room,
        author: op.twist === 'author' ? ctx.other.id : me.id,
        cid,
        ts: op.twist === 'old' ? now - 6 * 60_000 : op.twist === 'future' ? now + 6 * 60_000 : now,
        text,
      };
      const sig =
        op.twist === 'sigGarbage'
          ? randomKey(64)
          : sign(op.twist === 'sigOther' ? newKeys().privateKey : me.privateKey, message);
      Object.assign(frame, message, { sig });
      if (op.twist === 'tamper') frame.text = `${text}!`;
      if (op.twist === 'twice') twice = 'newId';
      if (op.twist === 'twiceSameId') twice = 'sameId';
      break;
    }
    case 'profile':
      if (op.by === 'id' || op.by === 'both')
        frame.userId = op.who === 'self' ? me.id : op.who === 'other' ? ctx.other.id : 999_999_999;
      if (op.by === 'name' || op.by === 'both')
        frame.username =
          op.who === 'self' ? me.username : op.who === 'other' ? ctx.other.username : freshName('nobody');
      break;
    case 'update-profile': {
      const username =
        op.username === 'fresh'
          ? freshName('fz')
          : op.username === 'other'
            ? ctx.other.username
            : op.username === 'same'
              ? me.username.toUpperCase()
              : null;
      if (username !== null) frame.username = username;
      if (op.firstName !== null) frame.firstName = op.firstName;
      if (op.lastName !== null) frame.lastName = op.lastName;
      onOk = (result) => {
        const identity = lane.session?.identity;
        if (identity && result.user.id === identity.id) identity.username = result.user.username;
      };
      break;
    }
    case 'online':
      if (op.room !== null) frame.room = roomFor(ctx, op.room);
      break;
  }
  const data = jsonBytes(frame);
  const first = outgoing(data, false, `op:${op.op}`, previewBytes(data), {
    onOk,
    replayable: true,
  });
  if (twice === 'no') return [first];
  const again = twice === 'sameId' ? data : jsonBytes({ ...frame, id: ctx.nextId() });
  return [
    first,
    outgoing(again, false, `op:${op.op}:again`, previewBytes(again), {
      replayable: true,
    }),
  ];
}
