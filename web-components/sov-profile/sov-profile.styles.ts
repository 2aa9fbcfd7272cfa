/** The styles of <sov-profile>: the shared theme, then its own. */
import { css } from 'lit';
import { themeStyles } from '../shared/theme.styles.ts';
import { formStyles } from '../shared/form-field.ts';

export const profileStyles = [
  themeStyles,
  formStyles,
  css`
    form {
      padding: 1.25rem;
      min-width: min(22rem, 100%);
    }
    form + form {
      border-top: 1px solid var(--_field-border);
    }
    h3 {
      margin: 0;
      font-size: 1.05rem;
    }
    .avatar {
      display: flex;
      align-items: center;
      gap: 1rem;
      --sov-avatar-size: 5rem;
    }
    .choose {
      display: inline-block;
      border: 1px solid var(--_field-border);
      border-radius: var(--_radius);
      background: var(--_surface);
      padding: 0.45em 0.9em;
      cursor: pointer;
      font-weight: 400;
    }
    .choose:focus-within {
      outline: 2px solid var(--_accent);
      outline-offset: 2px;
    }
    input[type='file'] {
      position: absolute;
      opacity: 0;
      width: 1px;
      height: 1px;
    }
    input[readonly] {
      background: var(--_surface);
      color: var(--_muted);
    }
    .actions {
      display: flex;
      gap: 0.5rem;
      justify-content: flex-end;
    }
    [role='status']:empty {
      display: none;
    }
  `,
];
