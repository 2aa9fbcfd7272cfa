/**
 * The forms a password can take on the way out without scrypt, and a detector that looks for them
 * in what a page sent (outbound-recorder.ts). A test passes only if none shows up, so each form
 * here is one more way a leak is caught; the detector's own test proves it finds every one.
 *
 * Forms: the password as typed, NFC and NFD, lowercased, and as HTTP Basic credentials
 * (`username:password`); each plain, JSON-escaped (also with every non-ASCII character as \uXXXX),
 * percent-encoded (URI component, URI, form), its UTF-8 and UTF-16 bytes in hex, base64 and
 * base64url, and its SHA-1, SHA-256, SHA-384 and SHA-512 digests in the same three. Letter case is
 * ignored, so upper-case hex and an upper-cased password count too. What was sent is also read
 * decoded: percent-decoded, the strings inside JSON, and every run of base64 decoded (a password
 * inside a larger base64 blob does not start on a 3-byte boundary).
 */
import type { Sent } from './outbound-recorder.ts';

export interface PasswordForm {
  /** Which form, for the report: never the value, which would leave the page with the report. */
  name: string;
  value: string;
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const utf16le = (text: string): Uint8Array =>
  new Uint8Array(Uint16Array.from(text, (_, i) => text.charCodeAt(i)).buffer);
const hex = (bytes: Uint8Array): string => [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
const base64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes)).replace(/=+$/, '');
const base64url = (bytes: Uint8Array): string => base64(bytes).replace(/\+/g, '-').replace(/\//g, '_');
const asciiJson = (text: string): string =>
  JSON.stringify(text)
    .slice(1, -1)
    .replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

function byteForms(name: string, bytes: Uint8Array): PasswordForm[] {
  return [
    { name: `${name} in hex`, value: hex(bytes) },
    { name: `${name} in base64`, value: base64(bytes) },
    { name: `${name} in base64url`, value: base64url(bytes) },
  ];
}

export async function passwordForms(password: string, username: string): Promise<PasswordForm[]> {
  const sources: Array<[string, string]> = [
    ['the password', password],
    ['the password, NFC', password.normalize('NFC')],
    ['the password, NFD', password.normalize('NFD')],
    ['the password, lowercased', password.toLowerCase()],
    ['the Basic credentials', `${username}:${password}`],
  ];
  const forms: PasswordForm[] = [];
  for (const [name, text] of sources) {
    forms.push(
      { name, value: text },
      {
        name: `${name}, JSON-escaped`,
        value: JSON.stringify(text).slice(1, -1),
      },
      { name: `${name}, JSON-escaped to ASCII`, value: asciiJson(text) },
      {
        name: `${name}, URI-component-encoded`,
        value: encodeURIComponent(text),
      },
      { name: `${name}, URI-encoded`, value: encodeURI(text) },
      {
        name: `${name}, form-encoded`,
        value: new URLSearchParams({ x: text }).toString().slice(2),
      },
      ...byteForms(`${name}'s UTF-8`, utf8(text)),
      ...byteForms(`${name}'s UTF-16`, utf16le(text)),
    );
    for (const hash of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512']) {
      forms.push(
        ...byteForms(
          `${name}'s ${hash}`,
          new Uint8Array(await crypto.subtle.digest(hash, utf8(text) as Uint8Array<ArrayBuffer>)),
        ),
      );
    }
  }
  // Forms equal to another (an ASCII password's JSON escaping, say) are looked for once.
  const seen = new Set<string>();
  return forms.filter((form) => !seen.has(form.value.toLowerCase()) && seen.add(form.value.toLowerCase()));
}

/** `content` and what it decodes to: percent-decoded, the strings inside JSON, base64 runs decoded. */
function readings(content: string): string[] {
  const found = [content];
  for (const text of [content, content.replace(/\+/g, ' ')]) {
    try {
      found.push(decodeURIComponent(text));
    } catch {
      // Not percent-encoded throughout; the raw form is still read.
    }
  }
  try {
    const strings: string[] = [];
    const walk = (value: unknown): void => {
      if (typeof value === 'string') strings.push(value);
      if (!value || typeof value !== 'object') return;
      for (const [key, inner] of Object.entries(value)) {
        strings.push(key);
        walk(inner);
      }
    };
    walk(JSON.parse(content));
    found.push(strings.join('\n'));
  } catch {
    // Not JSON.
  }
  for (const run of content.match(/[A-Za-z0-9+/_-]{12,}/g) ?? []) {
    const standard = run.replace(/-/g, '+').replace(/_/g, '/');
    try {
      // Unpadded (the run stops before any "="): a last group of 2 or 3 characters still holds 1 or
      // 2 bytes, and a secret at the end of a blob ends there. atob decodes it; only 1 left over is no byte.
      const whole = standard.length % 4 === 1 ? standard.slice(0, -1) : standard;
      const bytes = Uint8Array.from(atob(whole), (char) => char.charCodeAt(0));
      found.push(new TextDecoder().decode(bytes), hex(bytes));
    } catch {
      // Not base64 after all.
    }
  }
  return found;
}

/** "<form> in <channel>" for every form found in what was sent; empty when nothing leaked. */
export function findLeaks(sent: Sent[], forms: PasswordForm[]): string[] {
  const leaks = new Set<string>();
  for (const { channel, content } of sent) {
    const texts = readings(content).map((text) => text.toLowerCase());
    for (const form of forms) {
      const value = form.value.toLowerCase();
      if (texts.some((text) => text.includes(value))) leaks.add(`${form.name} in ${channel}`);
    }
  }
  return [...leaks];
}
