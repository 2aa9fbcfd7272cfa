import { html, nothing } from 'lit';
import { customElement } from 'lit/decorators/custom-element.js';
import { property } from 'lit/decorators/property.js';
import { state } from 'lit/decorators/state.js';
import { fire } from '../shared/events.ts';
import { SovElement } from '../shared/sov-element.ts';
import { formField, withoutError } from '../shared/form-field.ts';
import '../shared/i18n-forms.ts';
import type { MessageKey } from '../shared/i18n.ts';
import { loginStyles } from './sov-login.styles.ts';
import { MIN_PASSWORD_LENGTH, SovError } from '../../sdk/index.ts';

type Field = 'username' | 'password' | 'firstName' | 'lastName';
const LABELS: Record<Field, MessageKey> = {
  username: 'login.username',
  password: 'login.password',
  firstName: 'login.firstName',
  lastName: 'login.lastName',
};
const AUTOCOMPLETE: Record<Field, Record<'login' | 'register', string>> = {
  username: { login: 'username', register: 'username' },
  password: { login: 'current-password', register: 'new-password' },
  firstName: { login: 'given-name', register: 'given-name' },
  lastName: { login: 'family-name', register: 'family-name' },
};

/**
 * <sov-login>: signs in or registers through the client it is given. Empty fields are refused
 * before anything is sent (the field is marked and says why); the relay's refusals ("taken",
 * "wrong username or password", "too many attempts") show inline in plain words; password hashing
 * takes about a second on purpose, so its progress shows.
 *
 * @fires {CustomEvent<Profile>} sov-login - after a successful sign-in or registration: the user's profile
 * @csspart form - the form
 * @csspart submit - the main button
 */
@customElement('sov-login')
export class SovLogin extends SovElement {
  static override styles = loginStyles;

  /** "login" or "register": which form shows. */
  @property({ reflect: true }) mode: 'login' | 'register' = 'login';
  @state() private busy = false;
  @state() private progress = 0;
  @state() private fieldErrors: Partial<Record<Field, string>> = {};
  @state() private formError = '';

  override render() {
    const registering = this.mode === 'register';
    const fields: Field[] = registering ? ['username', 'password', 'firstName', 'lastName'] : ['username', 'password'];
    return html`
      <form part="form" novalidate @submit=${this.submit} aria-busy=${this.busy ? 'true' : 'false'}>
        <h2>${this.t(registering ? 'login.registerTitle' : 'login.title')}</h2>
        ${fields.map((field) => this.renderField(field))}
        ${this.formError ? html`<p class="error" role="alert">${this.formError}</p>` : nothing}
        ${
          this.busy
            ? html`<div role="status">
              ${this.t('login.working')}
              <progress max="1" .value=${this.progress} aria-label=${this.t('login.working')}></progress>
            </div>`
            : nothing
        }
        <button class="primary" part="submit" type="submit" ?disabled=${this.busy}>
          ${this.t(registering ? 'login.register' : 'login.submit')}
        </button>
        <button class="switch" type="button" @click=${this.switchMode} ?disabled=${this.busy}>
          ${this.t(registering ? 'login.toLogin' : 'login.toRegister')}
        </button>
      </form>
    `;
  }

  private renderField(field: Field) {
    return formField({
      name: field,
      label: this.t(LABELS[field]),
      type: field === 'password' ? 'password' : 'text',
      autocomplete: AUTOCOMPLETE[field][this.mode],
      error: this.fieldErrors[field],
      disabled: this.busy,
      onInput: () => this.clearError(field),
    });
  }

  private switchMode(): void {
    this.mode = this.mode === 'login' ? 'register' : 'login';
    this.fieldErrors = {};
    this.formError = '';
  }

  private clearError(field: Field): void {
    if (this.fieldErrors[field]) this.fieldErrors = withoutError(this.fieldErrors, field);
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const client = this.client;
    if (!client || this.busy) return;
    const form = event.target as HTMLFormElement;
    const values = Object.fromEntries(new FormData(form)) as Record<Field, string>;
    const empty = (Object.keys(values) as Field[]).filter((field) => values[field]!.trim() === '');
    this.formError = '';
    if (empty.length > 0) {
      this.fieldErrors = Object.fromEntries(empty.map((field) => [field, this.t('login.required')]));
      await this.focusField(empty[0]!);
      return;
    }
    this.fieldErrors = {};
    this.busy = true;
    this.progress = 0;
    const onProgress = (fraction: number): void => {
      this.progress = fraction;
    };
    try {
      const user =
        this.mode === 'register'
          ? await client.register({
              username: values.username,
              password: values.password,
              firstName: values.firstName,
              lastName: values.lastName,
              onProgress,
            })
          : await client.login({
              username: values.username,
              password: values.password,
              onProgress,
            });
      form.reset();
      fire(this, 'sov-login', user);
    } catch (error) {
      await this.showError(error);
    } finally {
      this.busy = false;
    }
  }

  /** A refusal goes next to the field it is about (and focuses it), otherwise above the button. */
  private async showError(error: unknown): Promise<void> {
    const field = fieldOf(error);
    if (!field) {
      this.formError = this.errorText(error);
      return;
    }
    let text = this.errorText(error);
    if (error instanceof SovError && error.code === 'INVALID_FIELD') {
      if (field === 'username') text = this.t('login.usernameRules');
      if (field === 'password') text = this.t('login.passwordShort', { n: MIN_PASSWORD_LENGTH });
    }
    this.fieldErrors = { [field]: text };
    await this.focusField(field);
  }

  private async focusField(field: Field): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLInputElement>(`#field-${field}`)?.focus();
  }
}

function fieldOf(error: unknown): Field | undefined {
  if (!(error instanceof SovError)) return undefined;
  if (error.code === 'USERNAME_TAKEN') return 'username';
  if (error.code === 'BAD_CREDENTIALS') return undefined;
  return error.field && error.field in LABELS ? (error.field as Field) : undefined;
}

declare global {
  interface HTMLElementTagNameMap {
    'sov-login': SovLogin;
  }
}
