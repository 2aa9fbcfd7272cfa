/**
 * End to end, the way people use it: two browser pages on the demo page (which embeds <sov-chat>
 * like any third-party site), driven by role and label through real Chromium, against the real
 * relay process. Playwright's locators pierce shadow DOM, so nothing reaches into internals.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { uniqueName } from '../helpers/client.ts';
import { PACKAGE_ROOT, startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium.mjs';

const PASSWORD = 'correct horse battery';
const TIMEOUT = 20_000;

async function register(page: Page, username: string, firstName: string): Promise<void> {
  await page.getByRole('button', { name: 'No account? Create one' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('First name').fill(firstName);
  await page.getByLabel('Last name').fill('Tester');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Exit' }).waitFor({ timeout: TIMEOUT });
}

const messages = (page: Page) => page.getByRole('list', { name: 'Messages' });
const online = (page: Page) => page.getByRole('list', { name: 'Online' });

async function say(page: Page, text: string): Promise<void> {
  const composer = page.getByLabel('Write a message…');
  await composer.fill(text);
  await composer.press('Enter');
}

/** The focused element, through shadow roots: its label, aria-label or text. */
function focusedName(page: Page): Promise<string> {
  return page.evaluate(() => {
    let element = document.activeElement;
    while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
    if (!element) return '';
    const labelled = (element as HTMLInputElement).labels?.[0]?.textContent ?? '';
    return (
      (element.getAttribute('aria-label') ?? labelled ?? element.textContent ?? '').trim() ||
      (element.textContent ?? '').trim()
    );
  });
}

/** Presses Tab (or Shift+Tab) until the focused element's name starts with `name`. */
async function tabTo(page: Page, name: string, backwards = false): Promise<void> {
  for (let presses = 0; presses < 30; presses++) {
    if ((await focusedName(page)).startsWith(name)) return;
    await page.keyboard.press(backwards ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`Tab never reached "${name}" (last: "${await focusedName(page)}")`);
}

describe('two people chatting through <sov-chat>', { timeout: 180_000 }, () => {
  let relay: RelayProcess;
  let browser: Browser;
  let ann: Page;
  let bob: Page;
  const annName = uniqueName('ann');
  const bobName = uniqueName('bob');
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  const foreignRequests: string[] = [];

  before(async () => {
    relay = await startRelay();
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: CHROMIUM_ARGS,
      headless: true,
    });
    // Separate contexts: separate IndexedDB, like two people on two machines.
    ann = await (await browser.newContext({ locale: 'en-US' })).newPage();
    bob = await (await browser.newContext({ locale: 'en-US' })).newPage();
    for (const page of [ann, bob]) {
      page.setDefaultTimeout(TIMEOUT);
      // The demo page sets a strict Content-Security-Policy, as a careful host page would.
      page.on('console', (message) => {
        if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text());
      });
      page.on('pageerror', (error) => pageErrors.push(String(error)));
      page.on('request', (request) => {
        if (
          !request.url().startsWith(relay.url) &&
          !request.url().startsWith(relay.wsUrl) &&
          !request.url().startsWith('blob:')
        )
          foreignRequests.push(request.url());
      });
    }
  });

  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  test('register, talk both ways, see each other join, online and leave, follow a profile change, stay logged in, exit', async () => {
    await ann.goto(`${relay.url}/`);
    await register(ann, annName, 'Ann');
    await bob.goto(`${relay.url}/`);
    await register(bob, bobName, 'Bob');

    await messages(ann).getByText('Bob Tester joined').waitFor();
    await online(ann).getByRole('listitem').filter({ hasText: 'Bob Tester' }).waitFor();
    await online(bob).getByRole('listitem').filter({ hasText: 'Ann Tester' }).waitFor();
    await online(bob).getByRole('listitem').filter({ hasText: 'Bob Tester' }).waitFor();

    await say(ann, 'Hello Bob, can you read me?');
    await messages(bob).getByText('Hello Bob, can you read me?').waitFor();
    await say(bob, 'Loud and clear, Ann!');
    await messages(ann).getByText('Loud and clear, Ann!').waitFor();

    await bob.getByRole('button', { name: 'Edit your profile' }).click();
    const firstName = bob.getByRole('dialog').getByLabel('First name');
    await firstName.fill('Robert');
    await bob.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await bob.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    await online(ann).getByRole('listitem').filter({ hasText: 'Robert Tester' }).waitFor();
    await messages(ann)
      .getByRole('listitem')
      .filter({ hasText: 'Robert Tester' })
      .filter({ hasText: 'Loud and clear, Ann!' })
      .waitFor();

    await ann.reload();
    await ann.getByRole('button', { name: 'Exit' }).waitFor();
    assert.equal(await ann.getByRole('button', { name: 'Create account' }).count(), 0, 'no login form after a reload');
    await messages(ann).getByText('Loud and clear, Ann!').waitFor();

    await bob.getByRole('button', { name: 'Exit' }).click();
    await bob.getByRole('button', { name: 'Sign in' }).waitFor();
    await messages(ann).getByText('Robert Tester left').waitFor();
    await online(ann).getByRole('listitem').filter({ hasText: 'Robert Tester' }).waitFor({ state: 'detached' });
    await bob.reload();
    await bob.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.deepEqual(cspViolations, [], 'nothing the Content-Security-Policy had to block');
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the pages');
    assert.deepEqual(foreignRequests, [], 'nothing fetched from any other host');
  });

  test('a page on another origin embeds the chat with the two documented lines, under its own strict CSP', async () => {
    const relayOrigin = new URL(relay.url).origin;
    const hostPage = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src ${relayOrigin}; connect-src ${relayOrigin} ${relayOrigin.replace(/^http/, 'ws')}; img-src ${relayOrigin} blob:">
<script type="module" src="${relayOrigin}/sov-chat.js"></script></head>
<body><h1>Someone's blog</h1><sov-chat relay="${relay.wsUrl.replace(/\/v1\/ws$/, '')}"></sov-chat></body></html>`;
    const site = http.createServer((_request, response) =>
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(hostPage),
    );
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    try {
      const siteUrl = `http://localhost:${(site.address() as { port: number }).port}/`;
      const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
      page.setDefaultTimeout(TIMEOUT);
      const blocked: string[] = [];
      page.on('console', (message) => {
        // The avatar code probes whether workers from blob: URLs and WebAssembly are allowed (this
        // page allows neither) and does without: the browser reports those probes, nothing else.
        const probe = /Creating a worker from 'blob:|WebAssembly/.test(message.text());
        if (/Content.Security.Policy|CORS|blocked/i.test(message.text()) && !probe) blocked.push(message.text());
      });
      await page.goto(siteUrl);
      const caraName = uniqueName('cara');
      await register(page, caraName, 'Cara');
      await say(page, 'Hello from another site');
      await messages(ann).getByText('Hello from another site').waitFor();

      // The avatar upload crosses origins too (CORS on the relay's upload endpoint).
      await page.getByRole('button', { name: 'Edit your profile' }).click();
      await page
        .getByRole('dialog')
        .locator('input[type=file]')
        .setInputFiles(path.join(PACKAGE_ROOT, 'test/fixtures/images/chromium-300x200.png'));
      await page.getByRole('dialog').locator('sov-avatar img[src^="blob:"]').waitFor();
      await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
      await page.getByRole('dialog').getByText('Saved').waitFor();
      const avatar = await page.getByRole('dialog').locator('sov-avatar img').getAttribute('src');
      assert.ok(avatar?.startsWith(`${relayOrigin}/`), `the avatar comes from the relay: ${avatar}`);
      assert.deepEqual(blocked, [], "nothing blocked by the page's policy or by CORS");
    } finally {
      site.close();
    }
  });

  test('works by keyboard alone: register, write, open and close the profile, Exit', async () => {
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(`${relay.url}/`);
    await page.getByRole('button', { name: 'No account? Create one' }).waitFor();
    await tabTo(page, 'No account? Create one');
    await page.keyboard.press('Enter');
    await tabTo(page, 'Username', true);
    await page.keyboard.type(uniqueName('dana'));
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Tab');
    await page.keyboard.type('Dana');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Keys');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Exit' }).waitFor();
    await tabTo(page, 'Write a message…');
    await page.keyboard.type('Typed without a mouse');
    await page.keyboard.press('Enter');
    await messages(ann).getByText('Typed without a mouse').waitFor();
    await tabTo(page, 'Dana Keys: Edit your profile', true);
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    await tabTo(page, 'Exit');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  });

  test('the SDK demo page signs in and chats with the SDK alone', async () => {
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(`${relay.url}/`);
    await page.getByRole('link', { name: 'A custom UI on the SDK' }).click();
    await page.getByLabel('Username').fill(annName);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const list = page.getByRole('list', { name: 'Messages' });
    await list.getByText('Hello Bob, can you read me?').waitFor();
    await page.getByLabel('Message', { exact: true }).fill('Written on the SDK page');
    await page.getByRole('button', { name: 'Send' }).click();
    await list
      .getByRole('listitem')
      .filter({ hasText: 'Written on the SDK page' })
      .filter({ hasText: '✓' })
      .filter({ hasNotText: 'pending' })
      .waitFor();
    await ann.getByRole('list', { name: 'Messages' }).getByText('Written on the SDK page').waitFor();
  });
});
