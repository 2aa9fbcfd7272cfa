/**
 * The protocol as the relay (and tests, benches) import it in one line: frame types, field
 * validators, KDF checks, signed bytes, and the request schemas. Kept beside ./protocol/ rather
 * than in it or in relay/, because some forty imports across the relay, tests and benches name it.
 * The SDK and the components import the modules of ./protocol/ they use and never this file, so
 * that the relay-only request schemas (./protocol/requests.ts) cannot reach a browser bundle;
 * scripts/build.mjs fails the build if one loads them. The SDK's reader of relay frames
 * (./protocol/relay-frames.ts) is not here: the relay writes those frames, it never reads them.
 */
export * from './protocol/frames.ts';
export * from './protocol/fields.ts';
export * from './protocol/kdf.ts';
export * from './protocol/signed-bytes.ts';
export * from './protocol/requests.ts';
