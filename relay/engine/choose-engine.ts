/**
 * Picks the engine at start: uWebSockets.js when its native addon loads on this Node and this
 * system, else the pure-Node engine. The addon is loaded directly, never through the package's
 * entry point: the build we depend on (see package.json, optionalDependencies) falls back by
 * itself to a `ws`-based imitation that throws "not implemented" on the first WebSocket upgrade
 * (Node 22+), which is exactly the failure this choice exists to avoid.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as UWS from 'uWebSockets.js';
import type { EngineWish } from '../config.ts';
import type { EngineFactory, EngineName } from './engine.ts';
import { createNodeEngine } from './node-engine.ts';
import { createUwsEngine } from './uws-engine.ts';

export interface EngineChoice {
  create: EngineFactory;
  name: EngineName;
  /** One sentence for the start-up log: why this engine. */
  reason: string;
}

export class EngineUnavailableError extends Error {}

const require = createRequire(import.meta.url);

/** The uWS module, or why it cannot run here. */
function loadUws(): { uWS: typeof UWS } | { why: string } {
  let folder: string;
  try {
    folder = path.dirname(require.resolve('uWebSockets.js/package.json'));
  } catch {
    return {
      why: 'uWebSockets.js is not installed (it is an optional dependency)',
    };
  }
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  // The unofficial build keeps its binaries in binaries/; the official one at the package root.
  const file = [path.join(folder, 'binaries', binary), path.join(folder, binary)].find((candidate) =>
    fs.existsSync(candidate),
  );
  if (!file)
    return {
      why: `uWebSockets.js has no binary for Node ${process.version} on ${process.platform}-${process.arch}`,
    };
  try {
    return { uWS: require(file) as typeof UWS };
  } catch (error) {
    // Typically "GLIBC_2.38 not found" on older glibc, or a musl system (Alpine).
    const first = String((error as Error).message).split('\n')[0];
    return { why: `uWebSockets.js did not load: ${first}` };
  }
}

export function chooseEngine(wish: EngineWish): EngineChoice {
  const node: EngineChoice = {
    create: createNodeEngine,
    name: 'node',
    reason: '',
  };
  if (wish === 'node') return { ...node, reason: 'asked for with --engine node' };
  const loaded = loadUws();
  if ('uWS' in loaded) {
    const why = wish === 'uws' ? 'asked for with --engine uws' : `its native addon loads on Node ${process.version}`;
    return { create: createUwsEngine(loaded.uWS), name: 'uws', reason: why };
  }
  if (wish === 'uws') throw new EngineUnavailableError(`--engine uws: ${loaded.why}`);
  return {
    ...node,
    reason: `${loaded.why}; the pure-Node engine serves instead`,
  };
}
