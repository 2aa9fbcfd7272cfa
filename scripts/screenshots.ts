/**
 * `npm run screenshots`: the login, chat and profile screens of <sov-chat>, light and dark,
 * English and Russian, saved to docs/screenshots/ for the README. Drives the demo page in the
 * system Chromium against a real relay on a free port with a throwaway data folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { startRelay } from '../test/helpers/relay-process.ts';
import { CHROMIUM_ARGS, chromiumPath } from './chromium.mjs';

const OUT = path.resolve(import.meta.dirname, '..', 'docs', 'screenshots');
const PASSWORD = 'correct horse battery';
const THEMES = ['light', 'dark'] as const;

const CAST = {
  en: {
    locale: 'en-US',
    labels: {
      toRegister: 'No account? Create one',
      username: 'Username',
      password: 'Password',
      firstName: 'First name',
      lastName: 'Last name',
      register: 'Create account',
      composer: 'Write a message…',
      profile: 'Edit your profile',
      exit: 'Exit',
    },
    people: [
      { username: 'ann', firstName: 'Ann', lastName: 'Lee' },
      { username: 'bob', firstName: 'Bob', lastName: 'Stone' },
    ],
    lines: [
      'Hi Bob! Is the relay still up?',
      'Yes, on a $4 VPS since Monday. Messages are signed, so it cannot fake any.',
      'Great. See you in the evening.',
    ],
  },
  ru: {
    locale: 'ru-RU',
    labels: {
      toRegister: 'Нет аккаунта? Зарегистрируйтесь',
      username: 'Имя пользователя',
      password: 'Пароль',
      firstName: 'Имя',
      lastName: 'Фамилия',
      register: 'Зарегистрироваться',
      composer: 'Напишите сообщение…',
      profile: 'Изменить профиль',
      exit: 'Выход',
    },
    people: [
      { username: 'анна', firstName: 'Анна', lastName: 'Смирнова' },
      { username: 'борис', firstName: 'Борис', lastName: 'Иванов' },
    ],
    lines: [
      'Борис, привет! Сервер ещё работает?',
      'Да, с понедельника на дешёвом VPS. Сообщения подписаны, подделать их он не может.',
      'Отлично. До вечера.',
    ],
  },
} as const;

type Lang = keyof typeof CAST;

async function open(browser: Browser, url: string, lang: Lang): Promise<Page> {
  const context = await browser.newContext({
    locale: CAST[lang].locale,
    viewport: { width: 960, height: 720 },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(`${url}/?lang=${lang}`);
  return page;
}

async function register(page: Page, lang: Lang, person: (typeof CAST)[Lang]['people'][number]): Promise<void> {
  const labels = CAST[lang].labels;
  await page.getByRole('button', { name: labels.toRegister }).click();
  await page.getByLabel(labels.username, { exact: true }).fill(person.username);
  await page.getByLabel(labels.password).fill(PASSWORD);
  await page.getByLabel(labels.firstName, { exact: true }).fill(person.firstName);
  await page.getByLabel(labels.lastName).fill(person.lastName);
  await page.getByRole('button', { name: labels.register }).click();
  await page.getByRole('button', { name: labels.exit }).waitFor();
}

async function say(page: Page, lang: Lang, text: string): Promise<void> {
  const composer = page.getByLabel(CAST[lang].labels.composer);
  await composer.fill(text);
  await composer.press('Enter');
  await page
    .getByRole('list', { name: lang === 'ru' ? 'Сообщения' : 'Messages' })
    .getByText(text)
    .waitFor();
}

/** The chat element alone; `wholePage` for the profile, a modal dialog drawn over the page. */
async function shoot(page: Page, name: string, wholePage = false): Promise<void> {
  for (const theme of THEMES) {
    await page.emulateMedia({ colorScheme: theme });
    await page.waitForTimeout(150);
    const file = path.join(OUT, `${name}-${theme}.png`);
    if (wholePage) await page.screenshot({ path: file });
    else await page.locator('sov-chat').screenshot({ path: file });
    console.log(path.relative(process.cwd(), file));
  }
}

async function main(): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  const relay = await startRelay();
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    headless: true,
  });
  try {
    for (const lang of Object.keys(CAST) as Lang[]) {
      const [first, second] = CAST[lang].people;
      const me = await open(browser, relay.url, lang);
      await me.getByRole('button', { name: CAST[lang].labels.toRegister }).waitFor();
      await shoot(me, `login-${lang}`);
      await register(me, lang, first);
      const other = await open(browser, relay.url, lang);
      await register(other, lang, second);
      await say(me, lang, CAST[lang].lines[0]);
      await say(other, lang, CAST[lang].lines[1]);
      await say(me, lang, CAST[lang].lines[2]);
      await me.mouse.move(0, 0);
      await shoot(me, `chat-${lang}`);
      await me.setViewportSize({ width: 390, height: 760 });
      await shoot(me, `phone-${lang}`);
      await me.setViewportSize({ width: 960, height: 720 });
      await me.getByRole('button', { name: CAST[lang].labels.profile }).click();
      await me.getByRole('dialog').waitFor();
      await shoot(me, `profile-${lang}`, true);
    }
  } finally {
    await browser.close();
    await relay.stop();
  }
}

await main();
