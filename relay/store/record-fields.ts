/**
 * The checks that records read back from the data folder are made of. Each store keeps its record
 * type and its check side by side, built from these; AppendLog runs the check on every line it
 * replays, so a store's code only ever sees records of the shape its type promises.
 *
 * They check shape (the types the code relies on), not the protocol's content rules: those have
 * tightened over time, and a record stored under older rules must still load.
 */

/** A record that does not have its store's shape; AppendLog adds the file and line. */
export class RecordError extends Error {}

/** Returns the checked value or throws RecordError naming `field`. */
export type Check<T> = (value: unknown, field: string) => T;

/** A check for each field of T, optional ones included. */
export type Schema<T> = { [K in keyof T]-?: Check<T[K]> };

/** `field` is a path like `keys[0].since`; '' is the record itself. */
function wrong(field: string, what: string): RecordError {
  return new RecordError(`${field === '' ? 'the record' : `"${field}"`} must be ${what}`);
}

export const text: Check<string> = (value, field) => {
  if (typeof value !== 'string') throw wrong(field, 'a string');
  return value;
};

/** Timestamps (ms since epoch) and counters. */
export const whole: Check<number> = (value, field) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw wrong(field, 'a whole number');
  return value;
};

/** Account ids and sequence numbers start at 1. */
export const positive: Check<number> = (value, field) => {
  const number = whole(value, field);
  if (number === 0) throw wrong(field, 'a whole number from 1');
  return number;
};

export function oneOf<T extends string>(...values: T[]): Check<T> {
  return (value, field) => {
    if (!values.includes(value as T)) throw wrong(field, `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`);
    return value as T;
  };
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value, field) => (value === null ? null : check(value, field));
}

export function optional<T>(check: Check<T>): Check<T | undefined> {
  return (value, field) => (value === undefined ? undefined : check(value, field));
}

export function listOf<T>(check: Check<T>, minLength = 0): Check<T[]> {
  return (value, field) => {
    if (!Array.isArray(value) || value.length < minLength) throw wrong(field, `a list of at least ${minLength}`);
    return value.map((item, index) => check(item, `${field}[${index}]`));
  };
}

function fieldsOf(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw wrong(field, 'a JSON object');
  return value as Record<string, unknown>;
}

/** An object with the schema's fields, each checked; fields it does not name are left behind. */
export function shape<T>(schema: Schema<T>): Check<T> {
  return (value, field) => {
    const fields = fieldsOf(value, field);
    const checked: Record<string, unknown> = {};
    for (const key of Object.keys(schema) as (keyof T & string)[]) {
      const result = schema[key](fields[key], field === '' ? key : `${field}.${key}`);
      if (result !== undefined) checked[key] = result;
    }
    return checked as T;
  };
}

type Tagged = { t: string };

/**
 * Reads a record whose `t` field says which of the variants it is, e.g. `{ t: 'del', h: '...' }`.
 * Returns the variant's fields with `t` in front.
 */
export function tagged<R extends Tagged>(
  variants: { [K in R['t']]: Schema<Omit<Extract<R, { t: K }>, 't'>> },
): (value: unknown) => R {
  const byTag = new Map<string, Check<object>>();
  for (const tag of Object.keys(variants) as R['t'][]) byTag.set(tag, shape(variants[tag]));
  return (value) => {
    const fields = fieldsOf(value, '');
    const check = typeof fields.t === 'string' ? byTag.get(fields.t) : undefined;
    if (!check) throw wrong('t', `one of ${[...byTag.keys()].map((t) => JSON.stringify(t)).join(', ')}`);
    return { t: fields.t, ...check(fields, '') } as R;
  };
}
