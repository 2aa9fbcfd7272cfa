/** The styles of <sov-login>: the shared theme, then its own. */
import { css } from 'lit';
import { themeStyles } from '../shared/theme.styles.ts';
import { formStyles } from '../shared/form-field.ts';

export const loginStyles = [
  themeStyles,
  formStyles,
  css`
    form {
      max-width: 24rem;
      margin: 0 auto;
      padding: 1.5rem;
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
    }
    .switch {
      background: none;
      border: none;
      color: var(--_accent);
      text-decoration: underline;
      padding: 0.2em 0;
      justify-self: start;
    }
  `,
];
