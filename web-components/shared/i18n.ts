/**
 * Every word the components show, one table per language (Russian in i18n-ru.ts; the English words
 * of the chat screen in i18n-chat-screen.ts, of the sign-in form and the profile editor in
 * i18n-forms.ts); an app adds a language, or changes
 * words of one, with `registerTranslation`. The `lang` attribute picks the table, else the nearest
 * ancestor's `lang`, else the page's: a registered language by its full tag or its first part
 * ("uk-UA" finds "uk"), anything starting with "ru" Russian, English otherwise.
 * Russian plurals have three forms (1 сообщение, 2 сообщения, 5 сообщений): `plural` picks them
 * with Intl.PluralRules, so counts read right in both languages.
 */
import { onFirstUse } from '../../sdk/index.ts';
import type { chatScreenEn } from './i18n-chat-screen.ts';
import type { formsEn } from './i18n-forms.ts';

/** A language tag, lower case: `en` and `ru` built in, others as registered. */
export type Lang = string;

const en = {
  'chat.retry': 'Retry',
  'profile.title': 'Profile',
  'state.connecting': 'Connecting…',
  'state.reconnecting': 'Connection lost, reconnecting…',
  'state.disconnected': 'Offline',
  'state.fallback': 'Connected over HTTP: WebSocket does not get through here',
  'error.RATE_LIMITED': 'Too many attempts. Try again in {seconds} s.',
  'error.EMPTY_FIELD': 'Fill in this field.',
  'error.INVALID_FIELD': 'This value is not allowed.',
  'error.NETWORK': 'Cannot reach the chat server. Check your connection.',
  'error.TIMEOUT': 'The chat server did not answer in time.',
  'error.SESSION_INVALID': 'Your session has ended. Sign in again.',
  'error.STORAGE_UNAVAILABLE': 'This browser cannot store data (private mode?).',
  'error.BAD_RELAY_FRAME': 'The chat server sent something this page cannot read. Tell its operator.',
  'error.generic': 'Something went wrong: {message}',
} as const;

type English = typeof en & typeof chatScreenEn & typeof formsEn;
export type MessageKey = keyof English;
export type Table = {
  [K in MessageKey]: English[K] extends string ? string : { one: string; few?: string; many?: string; other: string };
};

/** English is built in; Russian loads on first use (its own chunk), so nobody downloads both. */
const TABLES: Record<Lang, Partial<Table>> = { en: en as unknown as Table };
const loadRussian = onFirstUse(() => import('./i18n-ru.ts'), 'the Russian words');
const LAZY: Record<Lang, () => Promise<Table>> = {
  ru: () => loadRussian().then(({ ru }) => ru),
};
const loading = new Map<Lang, Promise<void>>();
const loaded = new Set<Lang>(['en']);
const watchers = new Set<() => void>();

/** Resolves once `lang`'s table is ready; translate() needs it. */
export function loadTable(lang: Lang): Promise<void> {
  const load = LAZY[lang];
  if (!load || loaded.has(lang)) return Promise.resolve();
  let pending = loading.get(lang);
  if (!pending) {
    pending = load().then(
      (table) => {
        // Words an app registered before the table came keep precedence.
        TABLES[lang] = { ...table, ...TABLES[lang] };
        loaded.add(lang);
      },
      () => {
        loading.delete(lang); // Offline: English this time, try again next render.
      },
    );
    loading.set(lang, pending);
  }
  return pending;
}

/**
 * Adds a language (`uk`, `kk`, `pt-br`...) or changes words of one, English and Russian included:
 * `registerTranslation('uk', { 'chat.send': 'Надіслати', ... })`. Words it leaves out are shown in
 * English. Plural entries take the forms Intl.PluralRules gives for the language (`one`, `few`,
 * `many`, `other`). Components on the page show the new words at once.
 */
export function registerTranslation(lang: string, table: Partial<Table>): void {
  const tag = lang.toLowerCase();
  TABLES[tag] = { ...TABLES[tag], ...table };
  if (!LAZY[tag]) loaded.add(tag);
  for (const watcher of [...watchers]) watcher();
}

/** Calls `watcher` whenever a translation is registered; returns the function that stops it. */
export function onTranslation(watcher: () => void): () => void {
  watchers.add(watcher);
  return () => watchers.delete(watcher);
}

/** Whether `key` has a message (every table has the same keys): an error code with words of its own, say. */
export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(TABLES.en!, key);
}

/** Adds the English words that load with lazy components (i18n-chat-screen.ts, i18n-forms.ts) before they render. */
export function addEnglish(messages: typeof chatScreenEn | typeof formsEn): void {
  Object.assign(TABLES.en!, messages);
}

export function hasTable(lang: Lang): boolean {
  return loaded.has(lang);
}

export function pickLang(requested: string | null | undefined): Lang {
  const tag = requested?.toLowerCase() ?? '';
  const primary = tag.split(/[-_]/)[0]!;
  for (const candidate of [tag, primary]) if (candidate && (TABLES[candidate] || LAZY[candidate])) return candidate;
  return 'en';
}

/** The language for an element: its own `lang`, the nearest ancestor's (across shadow roots), or the page's. */
export function langOf(element: Element): Lang {
  let node: Node | null = element;
  while (node) {
    if (node instanceof Element && node.hasAttribute('lang')) return pickLang(node.getAttribute('lang'));
    node = node.parentNode ?? (node instanceof ShadowRoot ? node.host : null);
  }
  return pickLang(document.documentElement.lang || navigator.language);
}

function fill(text: string, params: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** Looks up `key` in `lang`'s table and fills `{param}` placeholders; plural entries use `params.n`. */
export function translate(lang: Lang, key: MessageKey, params: Record<string, string | number> = {}): string {
  const entry = (TABLES[lang]?.[key] ?? TABLES.en![key])!;
  if (typeof entry === 'string') return fill(entry, params);
  const category = new Intl.PluralRules(lang).select(Number(params.n ?? 0)) as 'one' | 'few' | 'many' | 'other';
  return fill(entry[category] ?? entry.other, params);
}
