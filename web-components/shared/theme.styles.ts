/**
 * The theme: every colour, radius and font is a --sov-* custom property the host page may set.
 * Light by default, dark when the system prefers it, and `theme="light|dark"` on any component
 * (or an ancestor setting the properties) overrides both. Colours meet WCAG AA (4.5:1) for text
 * on their background in both themes.
 */
import { css, unsafeCSS } from 'lit';
import type { CSSResult } from 'lit';

/** The default colours. test/components/contrast.test.ts checks every text/background pair for AA. */
export const PALETTES = {
  light: {
    bg: '#ffffff',
    surface: '#f3f4f6',
    fg: '#111827',
    muted: '#4b5563',
    border: '#d1d5db',
    'field-border': '#6b7280',
    accent: '#1d4ed8',
    'accent-fg': '#ffffff',
    danger: '#b91c1c',
    'mine-bg': '#dbeafe',
  },
  dark: {
    bg: '#111827',
    surface: '#1f2937',
    fg: '#f9fafb',
    muted: '#cbd5e1',
    border: '#4b5563',
    'field-border': '#9ca3af',
    accent: '#93c5fd',
    'accent-fg': '#0b1220',
    danger: '#fca5a5',
    'mine-bg': '#1e3a8a',
  },
} as const;

/** Lightness of the initials' background (any hue): dark enough for white text at 4.5:1. */
export const AVATAR_LIGHTNESS = 30;

/** `--_name: var(--sov-name, default);` for each colour: the host page's value wins. */
function variables(palette: Record<string, string>): CSSResult {
  return unsafeCSS(
    Object.entries(palette)
      .map(([name, value]) => `--_${name === 'mine-bg' ? 'mine' : name}: var(--sov-${name}, ${value});`)
      .join(''),
  );
}

const light = variables(PALETTES.light);
const dark = variables(PALETTES.dark);

export const themeStyles = css`
  :host {
    ${light}
    --_radius: var(--sov-radius, 10px);
    --_font: var(--sov-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    font-family: var(--_font);
    color: var(--_fg);
    color-scheme: light;
  }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme='light'])) {
      ${dark}
      color-scheme: dark;
    }
  }
  :host([theme='dark']) {
    ${dark}
    color-scheme: dark;
  }
  :host([hidden]) {
    display: none;
  }
  *,
  *::before,
  *::after {
    box-sizing: border-box;
  }
  button,
  input,
  textarea {
    font: inherit;
    color: inherit;
  }
  button {
    cursor: pointer;
    border-radius: var(--_radius);
    border: 1px solid var(--_field-border);
    background: var(--_surface);
    padding: 0.45em 0.9em;
  }
  button.primary {
    background: var(--_accent);
    color: var(--_accent-fg);
    border-color: var(--_accent);
  }
  button:disabled {
    opacity: 0.6;
    cursor: default;
  }
  input,
  textarea {
    border: 1px solid var(--_field-border);
    border-radius: var(--_radius);
    background: var(--_bg);
    padding: 0.5em 0.7em;
    width: 100%;
  }
  input[aria-invalid='true'] {
    border-color: var(--_danger);
    outline: 1px solid var(--_danger);
  }
  :focus-visible {
    outline: 2px solid var(--_accent);
    outline-offset: 2px;
  }
  .error {
    color: var(--_danger);
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
`;
