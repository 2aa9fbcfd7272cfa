/**
 * WCAG 2.1 AA for the default theme: every pair of text and background colour the components
 * draw reaches 4.5:1, and the borders that outline inputs and buttons reach 3:1 (non-text).
 * Computed from the palette the CSS is built from, so a colour change cannot slip past.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AVATAR_LIGHTNESS, PALETTES } from '../../web-components/shared/theme.styles.ts';

type Palette = (typeof PALETTES)['light'] | (typeof PALETTES)['dark'];

function channels(hex: string): [number, number, number] {
  const value = Number.parseInt(hex.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

function luminance([r, g, b]: [number, number, number]): number {
  const linear = (c: number): number => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

function contrast(a: [number, number, number], b: [number, number, number]): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

function hsl(h: number, s: number, l: number): [number, number, number] {
  const a = (s / 100) * Math.min(l / 100, 1 - l / 100);
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l / 100 - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

// [text, background, where it appears]
const TEXT_PAIRS: Array<[keyof Palette, keyof Palette, string]> = [
  ['fg', 'bg', 'body text, inputs'],
  ['fg', 'surface', 'messages of others, top bar, buttons'],
  ['fg', 'mine-bg', 'your own messages'],
  ['muted', 'bg', 'notices, roster usernames, counts'],
  ['muted', 'surface', 'time and state in messages of others'],
  ['muted', 'mine-bg', 'time and state in your own messages'],
  ['accent', 'bg', 'links and link buttons'],
  ['accent', 'surface', 'links in messages of others'],
  ['accent', 'mine-bg', 'links in your own messages'],
  ['accent-fg', 'accent', 'primary buttons'],
  ['danger', 'bg', 'errors'],
  ['danger', 'surface', 'the unverified-signature warning'],
  ['danger', 'mine-bg', 'a failed message of your own'],
];

for (const [theme, palette] of Object.entries(PALETTES) as Array<[string, Palette]>) {
  describe(`${theme} theme`, () => {
    for (const [text, background, where] of TEXT_PAIRS) {
      test(`${text} on ${background} (${where}) reaches 4.5:1`, () => {
        const ratio = contrast(channels(palette[text]), channels(palette[background]));
        assert.ok(ratio >= 4.5, `${palette[text]} on ${palette[background]} is ${ratio.toFixed(2)}:1`);
      });
    }
    test('input and button outlines reach 3:1 against the background', () => {
      for (const background of ['bg', 'surface'] as const) {
        const ratio = contrast(channels(palette['field-border']), channels(palette[background]));
        assert.ok(ratio >= 3, `${palette['field-border']} on ${palette[background]} is ${ratio.toFixed(2)}:1`);
      }
    });
  });
}

test('white initials reach 4.5:1 on the avatar background of every hue', () => {
  for (let hue = 0; hue < 360; hue++) {
    const ratio = contrast([255, 255, 255], hsl(hue, 55, AVATAR_LIGHTNESS));
    assert.ok(ratio >= 4.5, `hue ${hue}: ${ratio.toFixed(2)}:1`);
  }
});
