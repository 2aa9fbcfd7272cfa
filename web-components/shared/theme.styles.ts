/**
 * The theme: every colour, radius and font is a --sov-* custom property the host page may set.
 * Light by default, dark when the system prefers it, and `theme="light|dark"` on any component
 * (or an ancestor setting the properties) overrides both. Colours meet WCAG AA (4.5:1) for text
 * on their background in both themes.
 */
import { css } from 'lit';

export const themeStyles = css`
  :host {
    --_bg: var(--sov-bg, #ffffff);
    --_surface: var(--sov-surface, #f3f4f6);
    --_fg: var(--sov-fg, #111827);
    --_muted: var(--sov-muted, #4b5563);
    --_border: var(--sov-border, #d1d5db);
    --_accent: var(--sov-accent, #1d4ed8);
    --_accent-fg: var(--sov-accent-fg, #ffffff);
    --_danger: var(--sov-danger, #b91c1c);
    --_mine: var(--sov-mine-bg, #dbeafe);
    --_radius: var(--sov-radius, 10px);
    --_font: var(--sov-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    font-family: var(--_font);
    color: var(--_fg);
    color-scheme: light;
  }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme='light'])) {
      --_bg: var(--sov-bg, #111827);
      --_surface: var(--sov-surface, #1f2937);
      --_fg: var(--sov-fg, #f9fafb);
      --_muted: var(--sov-muted, #cbd5e1);
      --_border: var(--sov-border, #4b5563);
      --_accent: var(--sov-accent, #93c5fd);
      --_accent-fg: var(--sov-accent-fg, #0b1220);
      --_danger: var(--sov-danger, #fca5a5);
      --_mine: var(--sov-mine-bg, #1e3a8a);
      color-scheme: dark;
    }
  }
  :host([theme='dark']) {
    --_bg: var(--sov-bg, #111827);
    --_surface: var(--sov-surface, #1f2937);
    --_fg: var(--sov-fg, #f9fafb);
    --_muted: var(--sov-muted, #cbd5e1);
    --_border: var(--sov-border, #4b5563);
    --_accent: var(--sov-accent, #93c5fd);
    --_accent-fg: var(--sov-accent-fg, #0b1220);
    --_danger: var(--sov-danger, #fca5a5);
    --_mine: var(--sov-mine-bg, #1e3a8a);
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
    border: 1px solid var(--_border);
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
    border: 1px solid var(--_border);
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
