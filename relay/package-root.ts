/** Where the sov-relay package sits on disk, for its package.json and the files it serves. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const RELAY_PACKAGE_NAME = 'sov-relay';

/**
 * The folder of the sov-relay package: relay/ in the repository, node_modules/sov-relay once
 * installed. Found by walking up to the package.json that names it, because this code runs from two
 * depths of that folder: as sources (relay/*.ts under tsx, in tests) and as the bundle
 * (relay/dist/relay.js, what `sov-relay` runs).
 */
export function relayPackageRoot(start = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let folder = start; ; folder = path.dirname(folder)) {
    const manifest = path.join(folder, 'package.json');
    if (fs.existsSync(manifest) && packageName(fs.readFileSync(manifest, 'utf8')) === RELAY_PACKAGE_NAME) return folder;
    if (path.dirname(folder) === folder) throw new Error(`no package.json named ${RELAY_PACKAGE_NAME} above ${start}`);
  }
}

function packageName(manifestText: string): unknown {
  const manifest: unknown = JSON.parse(manifestText);
  return typeof manifest === 'object' && manifest !== null && 'name' in manifest ? manifest.name : undefined;
}
