/**
 * The XSS corpus for xss.browser.test.ts. Every payload tries to run `__xssHit(<its id>)` (or
 * `parent.__xssHit(id)` from inside a frame, or to set `window.__xss = id`), so a payload that ever
 * executes is caught by the test and named by its id. Tokens filled in per payload:
 *   {X} -> __xssHit(id)          {P} -> parent.__xssHit(id)
 *   {F} -> window.__xss=id       {N} -> id
 * Plus the rules the relay enforces, written out here independently of sdk/protocol.ts, so the
 * test knows which payloads must be refused where (and with which error code).
 */

export type Kind =
  | 'script'
  | 'event-handler'
  | 'javascript-url'
  | 'svg-mathml'
  | 'template-style-iframe'
  | 'encoded'
  | 'attribute-breakout'
  | 'lit-template'
  | 'markdown'
  | 'url-text'
  | 'unicode'
  | 'long'
  | 'polyglot';

export interface Payload {
  id: number;
  kind: Kind;
  text: string;
}

const fill = (template: string, id: number): string =>
  template
    .replaceAll('{X}', `__xssHit(${id})`)
    .replaceAll('{P}', `parent.__xssHit(${id})`)
    .replaceAll('{F}', `window.__xss=${id}`)
    .replaceAll('{N}', String(id));

type Source = string | ((id: number, filled: (template: string) => string) => string);

const SOURCES: Array<[Kind, Source]> = [
  // <script> in its many spellings.
  ['script', '<script>{X}</script>'],
  ['script', '<ScRiPt>{F}</sCrIpT>'],
  ['script', '<script src="data:text/javascript,{X}"></script>'],
  ['script', '</script><script>{X}</script>'],
  ['script', '<scr<script>ipt>{X}</scr</script>ipt>'],
  // Event-handler attributes, most of them firing with no user action at all.
  ['event-handler', '<img src=x onerror={X}>'],
  ['event-handler', '<img/src/onerror={F}>'],
  ['event-handler', '<body onload={X}>'],
  ['event-handler', '<details open ontoggle={X}>'],
  ['event-handler', '<input autofocus onfocus={X}>'],
  ['event-handler', '<video><source onerror={X}></video>'],
  ['event-handler', '<div onmouseover="{X}">hover me</div>'],
  ['event-handler', '<marquee onstart={X}>x</marquee>'],
  ['event-handler', '<audio src=x onerror={X}>'],
  ['event-handler', '<xss id=x tabindex=1 autofocus onfocus={X}></xss>'],
  // javascript: URLs.
  ['javascript-url', '<a href="javascript:{X}">click</a>'],
  ['javascript-url', 'javascript:{X}'],
  ['javascript-url', 'JaVaScRiPt:{F}'],
  ['javascript-url', 'java\tscript:{X}'],
  ['javascript-url', 'java\u0000script:{X}'],
  ['javascript-url', '<iframe src="javascript:{P}"></iframe>'],
  ['javascript-url', '<form action="javascript:{X}"><button>go</button></form>'],
  ['javascript-url', '<math href="javascript:{X}">click</math>'],
  // SVG and MathML, including mutation-XSS shapes.
  ['svg-mathml', '<svg onload={X}>'],
  ['svg-mathml', '<svg><script>{X}</script></svg>'],
  ['svg-mathml', '<svg><animate onbegin={X} attributeName=x dur=1s>'],
  ['svg-mathml', '<svg><a href="javascript:{X}"><text y=20>x</text></a></svg>'],
  ['svg-mathml', '<math><mtext><table><mglyph><style><img src=x onerror={X}>'],
  ['svg-mathml', '<svg><foreignObject><iframe srcdoc="<script>{P}</script>">'],
  ['svg-mathml', '<svg><style><img src=x onerror={X}></style></svg>'],
  // <template>, <style>, frames, srcdoc and other document-level elements.
  ['template-style-iframe', '<template><img src=x onerror={X}></template>'],
  ['template-style-iframe', '<style>@import "javascript:{X}";</style>'],
  ['template-style-iframe', '<style onload={X}></style>'],
  ['template-style-iframe', '<iframe srcdoc="&lt;script&gt;{P}&lt;/script&gt;">'],
  ['template-style-iframe', '<object data="javascript:{P}">'],
  ['template-style-iframe', '<embed src="javascript:{P}">'],
  ['template-style-iframe', '<base href="javascript:{X}//">'],
  ['template-style-iframe', '<meta http-equiv="refresh" content="0;url=javascript:{X}">'],
  ['template-style-iframe', '<link rel=stylesheet href="javascript:{X}">'],
  ['template-style-iframe', '<div style="background:url(javascript:{X})">x</div>'],
  ['template-style-iframe', '<noscript><p title="</noscript><img src=x onerror={X}>">'],
  // HTML entities and other encodings: must show as typed, never decoded.
  ['encoded', '&lt;img src=x onerror={X}&gt;'],
  ['encoded', '&#60;script&#62;{X}&#60;/script&#62;'],
  ['encoded', '&#x3C;svg onload={X}&#x3E;'],
  ['encoded', '<img src=x onerror="&#95;&#95;xssHit({N})">'],
  ['encoded', '%3Cscript%3E{X}%3C%2Fscript%3E'],
  ['encoded', '\\u003cscript\\u003e{X}\\u003c/script\\u003e'],
  ['encoded', '\\x3cimg src=x onerror={X}\\x3e'],
  ['encoded', '+ADw-script+AD4-{X}+ADw-/script+AD4-'],
  ['encoded', (id) => `data:text/html;base64,${btoa(`<script>parent.__xssHit(${id})</script>`)}`],
  ['encoded', 'javascript&colon;{X}'],
  // Breaking out of an attribute, a comment, a <textarea>, a JS string or template literal.
  ['attribute-breakout', '" onmouseover="{X}" x="'],
  ['attribute-breakout', "' onfocus='{X}' autofocus='"],
  ['attribute-breakout', '"><script>{X}</script>'],
  ['attribute-breakout', "'><img src=x onerror={X}>"],
  ['attribute-breakout', '"/><svg onload={X}>'],
  ['attribute-breakout', '</textarea><img src=x onerror={X}>'],
  ['attribute-breakout', '</title></style></noscript><svg onload={X}>'],
  ['attribute-breakout', '--><svg onload={X}>'],
  ['attribute-breakout', '`-{X}-`'],
  ['attribute-breakout', '";{X};//'],
  // Lit's own syntax and template-engine tricks.
  ['lit-template', '${{X}}'],
  ['lit-template', '<!--?lit$123456789$--><img src=x onerror={X}>'],
  ['lit-template', '<?lit$1$><svg onload={X}>'],
  ['lit-template', 'onerror$lit$={X}'],
  ['lit-template', "{{constructor.constructor('{X}')()}}"],
  ['lit-template', "{name}{seconds} $& $' $` {X}"],
  ['lit-template', '<sov-avatar src="javascript:{X}"></sov-avatar>'],
  // Markdown-ish links.
  ['markdown', '[click](javascript:{X})'],
  ['markdown', '![x](x" onerror="{X})'],
  ['markdown', '<javascript:{X}>'],
  ['markdown', '[https://example.com/](javascript:{X})'],
  // Text that looks like (or holds) URLs: only real http(s) links may become links.
  ['url-text', 'https://example.com/"><img src=x onerror={X}>'],
  ['url-text', 'javascript:{X}//https://example.com/'],
  ['url-text', 'data:text/html,<script>{X}</script>'],
  ['url-text', 'https://example.com/?q=<script>{X}</script>'],
  ['url-text', "http://example.com/#' onmouseover='{X}'"],
  ['url-text', 'see https://example.com/a?b=1. and javascript:{X}'],
  ['url-text', 'HTTPS://EXAMPLE.COM/ javascript:{X}'],
  ['url-text', 'https://user:pw@example.com/javascript:{X}'],
  // Unicode: bidi overrides, invisible characters, look-alikes, compatibility forms.
  ['unicode', '\u202E<img src=x onerror={X}>'],
  ['unicode', '<scr\u200Bipt>{X}</scr\u200Bipt>'],
  ['unicode', '\uFEFF<svg onload={X}>'],
  ['unicode', '\u2066<svg onload={X}>\u2069'],
  ['unicode', '<ѕcript>{X}</ѕcript>'],
  ['unicode', '＜script＞{X}＜/script＞'],
  ['unicode', '﹤img src=x onerror={X}﹥'],
  ['unicode', '<\u0338svg onload={X}>'],
  ['unicode', '<img src=x onerror={X}>\u2028\u2029'],
  ['unicode', 'https://example.com/\u202Egnp.{X}'],
  ['unicode', '\uD800<script>{X}</script>'],
  ['unicode', '<img src=x onerror={X}>\n<svg onload={X}>'],
  // Long: exactly at each limit and one past it.
  ['long', (_id, filled) => filled('<svg onload={X}>').padStart(64, '<')],
  ['long', (_id, filled) => filled('<svg onload={X}>').padStart(65, '<')],
  ['long', (_id, filled) => `${'<div>'.repeat(200)}${filled('<img src=x onerror={X}>')}${'</div>'.repeat(200)}`],
  [
    'long',
    (_id, filled) =>
      filled('<script>{X}</script>')
        .repeat(400)
        .slice(0, 4000 - 4) + '<!--',
  ],
  ['long', (_id, filled) => filled('<img src=x onerror={X}>').repeat(200).slice(0, 4001)],
  // Polyglots.
  [
    'polyglot',
    'jaVasCript:/*-/*`/*\\`/*\'/*"/**/(/* */oNcliCk={X} )//%0D%0A%0d%0a//</stYle/</titLe/</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd={X}//>\\x3e',
  ],
  ['polyglot', '"\'--></style></script><img src=x onerror={X}><svg/onload={X}>'],
];

export const PAYLOADS: readonly Payload[] = SOURCES.map(([kind, source], index) => {
  const id = index + 1;
  const filled = (template: string): string => fill(template, id);
  return {
    id,
    kind,
    text: typeof source === 'string' ? filled(source) : source(id, filled),
  };
});

/** Inputs that are not attacks but must be refused everywhere as empty. */
export const BLANKS: readonly string[] = ['', '   ', '\u00A0\u3000 '];

/**
 * Payload-like usernames the rules allow (letters of any script, digits, `.` `_` `-` inside):
 * look-alikes of markup, JS words and compatibility forms that NFKC turns into ASCII. Those not
 * tied to a JS property name get a suffix so repeated runs on one relay stay unique.
 */
export const ALLOWED_USERNAMES: readonly string[] = [
  'javascript',
  'script.alert-1',
  'img.src-x.onerror',
  'ｓｖｇ.ｏｎｌｏａｄ',
  '𝐢𝐟𝐫𝐚𝐦𝐞.srcdoc',
  'ᐸscriptᐳ',
  'xʼonerrorʼ',
  'ѕсrірt',
  'onerror_alert_1',
  'x\u0338script',
];
/** Usernames that would collide with Object.prototype members if a store used plain objects. */
export const PROTOTYPE_USERNAMES: readonly string[] = ['constructor', 'hasOwnProperty', 'valueOf'];

/** Payload-like room names the rules allow; NFKC and lower-casing apply. */
export const ALLOWED_ROOMS: readonly string[] = [
  'javascript',
  'ＪＡＶＡＳＣＲＩＰＴ',
  'script-alert-1',
  'img_src_x_onerror',
  '𝐬𝐯𝐠_𝐨𝐧𝐥𝐨𝐚𝐝',
  'ᐸscriptᐳ',
  'ѕсrірt',
  'constructor',
  'hasOwnProperty',
  'Onerror',
  'دخول',
];

// -------------------------------------------------------------------------------------------
// The rules (PROTOCOL.md / the brief), as the test's own oracle.

export type Verdict = { ok: true; value: string } | { ok: false; code: 'INVALID_FIELD' | 'EMPTY_FIELD' };

const INVALID = { ok: false, code: 'INVALID_FIELD' } as const;
const EMPTY = { ok: false, code: 'EMPTY_FIELD' } as const;
// Controls, line/paragraph separators and invisible (default-ignorable) characters: zero-width
// spaces and joiners, bidi overrides and isolates (U+FE0F, the emoji selector, is allowed in names).
const NAME_FORBIDDEN = /[\p{Cc}\p{Zl}\p{Zp}]|(?!\uFE0F)\p{Default_Ignorable_Code_Point}/u;
const USERNAME_INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;
const TEXT_FORBIDDEN = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const USERNAME_RULE = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]*[\p{L}\p{M}\p{N}]$/u;
const ROOM_RULE = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}_-]*$/u;

function blank(input: string): Verdict | null {
  if (!input.isWellFormed()) return INVALID;
  if (input.trim() === '') return EMPTY;
  return null;
}

/** First and last names: trimmed, NFKC, 1-64 characters, no control, separator or invisible characters. */
export function nameVerdict(input: string): Verdict {
  const refused = blank(input);
  if (refused) return refused;
  const value = input.trim().normalize('NFKC');
  if ([...value].length > 64 || NAME_FORBIDDEN.test(value)) return INVALID;
  return { ok: true, value };
}

export function usernameVerdict(input: string): Verdict {
  const refused = blank(input);
  if (refused) return refused;
  const value = input.trim().normalize('NFKC');
  const length = [...value].length;
  if (length < 3 || length > 32 || !USERNAME_RULE.test(value) || USERNAME_INVISIBLE.test(value)) return INVALID;
  return { ok: true, value };
}

export function roomVerdict(input: string): Verdict {
  const refused = blank(input);
  if (refused) return refused;
  const value = input.trim().normalize('NFKC').toLowerCase();
  if ([...value].length > 48 || !ROOM_RULE.test(value)) return INVALID;
  return { ok: true, value };
}

/** Message text is signed, so it is never altered: up to 4000 UTF-16 units, line breaks and tabs only. */
export function textVerdict(input: string): Verdict {
  const refused = blank(input);
  if (refused) return refused;
  if (input.length > 4000 || TEXT_FORBIDDEN.test(input)) return INVALID;
  return { ok: true, value: input };
}

/** The payload with HTML entities, %-escapes, \u/\x escapes and base64 data URLs decoded (to find its call). */
export function decodedForms(text: string): string[] {
  const entities = text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, decimal: string) => String.fromCodePoint(Number(decimal)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&colon;/g, ':')
    .replace(/&amp;/g, '&');
  let percent = text;
  try {
    percent = decodeURIComponent(text);
  } catch {
    // Not %-encoded.
  }
  const base64 = /base64,([A-Za-z0-9+/=]+)/.exec(text);
  return [text, entities, percent, base64 ? atob(base64[1]!) : ''];
}
