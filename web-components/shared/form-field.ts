/**
 * A labelled text input with its error, as <sov-login> and <sov-profile> both show them: the label
 * names the input (tests and screen readers find it by that name), an error marks it invalid and
 * is tied to it with aria-describedby.
 */
import { css, html, nothing } from 'lit';

export interface FieldOptions {
  name: string;
  label: string;
  error: string | undefined;
  disabled: boolean;
  autocomplete: string;
  type?: 'text' | 'password';
  value?: string;
  onInput: () => void;
}

export function formField(options: FieldOptions) {
  const id = `field-${options.name}`;
  const plain = options.name === 'username' || options.type === 'password';
  return html`
    <label for=${id}>
      ${options.label}
      <input
        id=${id}
        name=${options.name}
        type=${options.type ?? 'text'}
        .value=${options.value ?? ''}
        autocomplete=${options.autocomplete}
        autocapitalize=${plain ? 'off' : 'words'}
        spellcheck="false"
        aria-invalid=${options.error ? 'true' : 'false'}
        aria-describedby=${options.error ? `${id}-error` : nothing}
        ?disabled=${options.disabled}
        @input=${options.onInput}
      />
      ${options.error ? html`<span class="field-error error" id="${id}-error">${options.error}</span>` : nothing}
    </label>
  `;
}

/** A record of field errors without `field`'s: how both forms clear an error as the user types. */
export function withoutError<K extends string>(
  errors: Partial<Record<K, string>>,
  field: K,
): Partial<Record<K, string>> {
  const { [field]: _cleared, ...rest } = errors;
  return rest as Partial<Record<K, string>>;
}

export const formStyles = css`
  :host {
    display: block;
  }
  form {
    display: grid;
    gap: 0.9rem;
    background: var(--_bg);
  }
  h2 {
    margin: 0;
    font-size: 1.25rem;
  }
  label {
    display: grid;
    gap: 0.3rem;
    font-weight: 500;
  }
  .field-error {
    font-weight: 400;
    font-size: 0.9em;
  }
  progress {
    width: 100%;
  }
`;
