/**
 * The protocol as the relay imports it: everything in ./protocol/, request schemas included. The
 * SDK and the components import the modules of ./protocol/ they use and never this file, so that
 * the relay-only request schemas (./protocol/requests.ts) cannot reach a browser bundle;
 * scripts/build.mjs fails the build if one loads them.
 */
export * from './protocol/frames.ts';
export * from './protocol/fields.ts';
export * from './protocol/kdf.ts';
export * from './protocol/signed-bytes.ts';
export * from './protocol/requests.ts';
