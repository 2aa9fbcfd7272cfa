import { html, nothing } from 'lit';
import type { PropertyValues } from 'lit';
import { customElement } from 'lit/decorators/custom-element.js';
import { property } from 'lit/decorators/property.js';
import { state } from 'lit/decorators/state.js';
import '../shared/sov-avatar.ts';
import { avatarSrc, displayName } from '../shared/people.ts';
import { fire } from '../shared/events.ts';
import { SovElement } from '../shared/sov-element.ts';
import { formField, withoutError } from '../shared/form-field.ts';
import { Subscriptions } from '../shared/subscriptions.ts';
import '../shared/i18n-forms.ts';
import { profileStyles } from './sov-profile.styles.ts';
import { DEFAULT_AVATAR_MAX_BYTES, MIN_PASSWORD_LENGTH, SovError, processAvatar } from '../../sdk/index.ts';
import type { Profile } from '../../sdk/index.ts';

type Field = 'username' | 'firstName' | 'lastName' | 'avatar';
const TEXT_FIELDS = ['firstName', 'lastName', 'username'] as const;
const PASSWORD_FIELDS = ['currentPassword', 'newPassword'] as const;
type PasswordField = (typeof PASSWORD_FIELDS)[number];
/** The field each of changePassword's input names is shown in. */
const PASSWORD_FIELD_OF: Record<string, PasswordField> = {
  current: 'currentPassword',
  next: 'newPassword',
};

/**
 * <sov-profile>: the signed-in user's profile. The numeric id shows read-only (it never changes);
 * first name, last name, username and avatar are editable. A chosen picture is checked (not an
 * image, over `max-avatar-bytes`) and previewed as the exact round image that will be uploaded;
 * saving shows upload progress and refusals ("username taken", "too large") next to their field.
 * A second form changes the password (SovClient.changePassword): the current one and a new one,
 * with the hashing's progress; other devices are signed out by the relay, this one stays.
 *
 * @fires {CustomEvent<Profile>} sov-profile - saved: the profile as the relay now has it
 * @fires {CustomEvent<null>} sov-close - the Close button was pressed (shown with the `closable` attribute)
 * @csspart form - the profile form
 * @csspart password-form - the password change form
 */
@customElement('sov-profile')
export class SovProfile extends SovElement {
  static override styles = profileStyles;

  /** Largest picture accepted before resizing, in bytes (the original app's 4 MB by default). */
  @property({ type: Number, attribute: 'max-avatar-bytes' }) maxAvatarBytes = DEFAULT_AVATAR_MAX_BYTES;
  /** Shows a Close button that fires `sov-close`. */
  @property({ type: Boolean }) closable = false;
  @state() private user: Profile | null = null;
  @state() private preview: { blob: Blob; url: string } | null = null;
  @state() private errors: Partial<Record<Field, string>> = {};
  @state() private formError = '';
  @state() private status = '';
  @state() private progress: number | null = null;
  /** Progress of resizing a chosen picture (null when idle): Save waits for it. */
  @state() private preparing: number | null = null;
  @state() private passwordErrors: Partial<Record<PasswordField, string>> = {};
  @state() private passwordStatus = '';
  /** Progress of hashing both passwords (null when idle). */
  @state() private hashing: number | null = null;
  private readonly subscriptions = new Subscriptions(this);

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('client')) {
      this.user = this.client?.user ?? null;
      if (!this.client) this.subscriptions.stop();
      else
        this.subscriptions.listen(
          this.client.on('profile', (user) => {
            if (user.id === this.user?.id) this.user = user;
          }),
        );
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.dropPreview();
  }

  override render() {
    const user = this.user;
    if (!user) return nothing;
    const busy = this.progress !== null;
    return html`
      <form part="form" novalidate @submit=${this.save} aria-busy=${busy ? 'true' : 'false'}>
        <h2>${this.t('profile.title')}</h2>
        <div class="avatar">
          <sov-avatar .src=${this.preview?.url ?? avatarSrc(this.client, user)} .name=${displayName(user)} .seed=${user.id}></sov-avatar>
          <label class="choose">
            ${this.t('profile.chooseAvatar')}
            <input type="file" accept="image/*" ?disabled=${busy} @change=${this.choose} aria-invalid=${this.errors.avatar ? 'true' : 'false'} />
          </label>
        </div>
        ${this.errors.avatar ? html`<p class="error" role="alert">${this.errors.avatar}</p>` : nothing}
        <label for="field-id">${this.t('profile.id')} <input id="field-id" readonly .value=${String(user.id)} /></label>
        ${TEXT_FIELDS.map((field) => this.renderField(field, user, busy))}
        ${this.formError ? html`<p class="error" role="alert">${this.formError}</p>` : nothing}
        ${busy ? html`<progress max="1" .value=${this.progress ?? 0} aria-label=${this.t('profile.uploading')}></progress>` : nothing}
        ${this.preparing !== null ? html`<progress max="1" .value=${this.preparing} aria-label=${this.t('profile.preparing')}></progress>` : nothing}
        <p role="status">${this.status}</p>
        <div class="actions">
          ${this.closable ? html`<button type="button" @click=${() => fire(this, 'sov-close', null)}>${this.t('profile.close')}</button>` : nothing}
          <button class="primary" type="submit" ?disabled=${busy || this.preparing !== null}>${this.t('profile.save')}</button>
        </div>
      </form>
      ${this.renderPasswordForm()}
    `;
  }

  private renderPasswordForm() {
    const busy = this.hashing !== null;
    return html`
      <form part="password-form" novalidate @submit=${this.changePassword} aria-busy=${busy ? 'true' : 'false'}>
        <h3>${this.t('profile.passwordTitle')}</h3>
        ${PASSWORD_FIELDS.map((field) =>
          formField({
            name: field,
            label: this.t(`profile.${field}`),
            type: 'password',
            autocomplete: field === 'currentPassword' ? 'current-password' : 'new-password',
            error: this.passwordErrors[field],
            disabled: busy,
            onInput: () => {
              this.passwordStatus = '';
              if (this.passwordErrors[field]) this.passwordErrors = withoutError(this.passwordErrors, field);
            },
          }),
        )}
        ${busy ? html`<progress max="1" .value=${this.hashing ?? 0} aria-label=${this.t('login.working')}></progress>` : nothing}
        <p role="status">${this.passwordStatus}</p>
        <div class="actions"><button type="submit" ?disabled=${busy}>${this.t('profile.changePassword')}</button></div>
      </form>
    `;
  }

  private renderField(field: (typeof TEXT_FIELDS)[number], user: Profile, busy: boolean) {
    return formField({
      name: field,
      label: this.t(`profile.${field}`),
      value: user[field],
      autocomplete: field === 'username' ? 'username' : field === 'firstName' ? 'given-name' : 'family-name',
      error: this.errors[field],
      disabled: busy,
      onInput: () => this.clear(field),
    });
  }

  private clear(field: Field): void {
    this.status = '';
    if (this.errors[field]) this.errors = withoutError(this.errors, field);
  }

  private dropPreview(): void {
    if (this.preview) URL.revokeObjectURL(this.preview.url);
    this.preview = null;
  }

  private async choose(event: Event): Promise<void> {
    const input = event.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    this.clear('avatar');
    this.dropPreview();
    this.preparing = 0;
    try {
      // Its code and pica load on this first use: they are not part of the initial download.
      const blob = await processAvatar(file, {
        maxBytes: this.maxAvatarBytes,
        onProgress: (fraction) => (this.preparing = fraction),
      });
      this.preview = { blob, url: URL.createObjectURL(blob) };
    } catch (error) {
      this.showError(error);
    } finally {
      this.preparing = null;
    }
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const client = this.client;
    const user = this.user;
    if (!client || !user || this.progress !== null) return;
    const values = Object.fromEntries(new FormData(event.target as HTMLFormElement)) as Record<
      (typeof TEXT_FIELDS)[number],
      string
    >;
    const empty = TEXT_FIELDS.filter((field) => values[field].trim() === '');
    this.formError = '';
    this.status = '';
    if (empty.length > 0) {
      this.errors = Object.fromEntries(empty.map((field) => [field, this.t('login.required')]));
      return;
    }
    const change = Object.fromEntries(
      TEXT_FIELDS.filter((field) => values[field].trim() !== user[field]).map((field) => [field, values[field].trim()]),
    );
    this.progress = 0;
    try {
      let saved = user;
      if (Object.keys(change).length > 0) saved = await client.updateProfile(change);
      if (this.preview) {
        saved = await client.setAvatar(this.preview.blob, {
          onProgress: (fraction) => (this.progress = fraction),
        });
        this.dropPreview();
      }
      this.user = saved;
      this.status = this.t('profile.saved');
      fire(this, 'sov-profile', saved);
    } catch (error) {
      this.showError(error);
    } finally {
      this.progress = null;
    }
  }

  private async changePassword(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const client = this.client;
    if (!client || this.hashing !== null) return;
    const form = event.target as HTMLFormElement;
    const values = Object.fromEntries(new FormData(form)) as Record<PasswordField, string>;
    this.passwordStatus = '';
    this.hashing = 0;
    try {
      await client.changePassword({
        current: values.currentPassword,
        next: values.newPassword,
        onProgress: (fraction) => (this.hashing = fraction),
      });
      form.reset();
      this.passwordStatus = this.t('profile.passwordChanged');
    } catch (error) {
      const code = error instanceof SovError ? error.code : '';
      const field = error instanceof SovError && error.field ? PASSWORD_FIELD_OF[error.field] : undefined;
      if (!field) this.passwordStatus = this.errorText(error);
      else {
        const text =
          code === 'INVALID_FIELD'
            ? this.t('login.passwordShort', { n: MIN_PASSWORD_LENGTH })
            : code === 'BAD_CREDENTIALS'
              ? this.t('profile.wrongPassword')
              : this.errorText(error);
        this.passwordErrors = { ...this.passwordErrors, [field]: text };
      }
    } finally {
      this.hashing = null;
    }
  }

  private showError(error: unknown): void {
    const text = this.errorText(error, {
      limit: formatSize(this.maxAvatarBytes, this.language),
    });
    const code = error instanceof SovError ? error.code : '';
    const field: Field | undefined =
      code === 'USERNAME_TAKEN'
        ? 'username'
        : ['BAD_IMAGE', 'IMAGE_TOO_LARGE', 'NOT_AN_IMAGE', 'FILE_TOO_LARGE'].includes(code)
          ? 'avatar'
          : ((error as SovError).field as Field | undefined);
    if (field && (field === 'avatar' || (TEXT_FIELDS as readonly string[]).includes(field)))
      this.errors = {
        ...this.errors,
        [field]: code === 'INVALID_FIELD' && field === 'username' ? this.t('login.usernameRules') : text,
      };
    else this.formError = text;
  }
}

/** "4 MB", "500 kB", "4 МБ": the limit in the reader's language and a unit that fits it. */
function formatSize(bytes: number, lang: string): string {
  const megabytes = bytes >= 1024 * 1024;
  const unit = megabytes ? 'megabyte' : 'kilobyte';
  return new Intl.NumberFormat(lang, {
    style: 'unit',
    unit,
    maximumFractionDigits: 1,
  }).format(bytes / (megabytes ? 1024 * 1024 : 1024));
}

declare global {
  interface HTMLElementTagNameMap {
    'sov-profile': SovProfile;
  }
}
