// The system Chromium for browser tests and scripts: CHROME_PATH first, then the usual install
// paths. npm packages that download their own browser cannot reach their hosts on our machines.
import fs from 'node:fs';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function chromiumPath() {
  const candidates = [
    process.env.CHROME_PATH,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ];
  const found = candidates.find((file) => file && fs.existsSync(file));
  if (!found)
    throw new Error('Browser tests need Chrome or Chromium: install it (apt-get install chromium) or set CHROME_PATH.');
  return found;
}
