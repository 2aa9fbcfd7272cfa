/**
 * <sov-chat>'s chat screen: the top bar (your avatar and name, which open your profile; the room
 * and a way to go to another; the roster toggle; Exit; the state line) over <sov-chat-room> and
 * <sov-roster>, and the profile dialog. A chunk of its own that <sov-chat> loads beside the
 * connection (./sov-chat.ts says why), rendered into <sov-chat>'s shadow root with its styles.
 */
import { html, nothing } from 'lit';
import type { TemplateResult } from 'lit';
import '../shared/i18n-chat-screen.ts';
import '../shared/sov-avatar.ts';
import '../sov-chat-room/sov-chat-room.ts';
import '../sov-roster/sov-roster.ts';
import { avatarSrc, displayName } from '../shared/people.ts';
import type { MessageKey } from '../shared/i18n.ts';
import { chatScreenStyles } from './chat-screen.styles.ts';
import { normalizeRoomName } from '../../sdk/index.ts';
import type { SovChat } from './sov-chat.ts';

export { chatScreenStyles };

/** What the chat screen needs of its <sov-chat> beyond the element's public properties. */
export interface ChatScreenHost {
  readonly element: SovChat;
  t(key: MessageKey, params?: Record<string, string | number>): string;
  errorText(error: unknown): string;
  /** The UI language the element resolved (its own `lang`, or the nearest one above it). */
  language(): string;
  /** The state line: connecting, reconnecting, on a fallback, or empty. */
  status(): string;
  /** Loads the profile editor (a chunk of its own: most visits never open it). */
  loadProfile(): Promise<unknown>;
}

export class ChatScreen {
  private showRoster = false;
  /** A room name refused, or the profile editor that could not load. */
  private problem = '';

  constructor(private readonly host: ChatScreenHost) {}

  render(): TemplateResult | typeof nothing {
    const { element, t } = this.host;
    const client = element.client;
    const user = client?.user;
    if (!user) return nothing;
    const name = displayName(user);
    const theme = element.theme || nothing;
    const lang = this.host.language();
    return html`
      <header part="top-bar">
        <button class="me" type="button" aria-label="${name}: ${t('top.editProfile')}" title=${t('top.editProfile')} @click=${() => this.openProfile()}>
          <sov-avatar .src=${avatarSrc(client, user)} .name=${name} .seed=${user.id}></sov-avatar>
          <span>${name}</span>
        </button>
        <form class="room-form" @submit=${(event: SubmitEvent) => this.switchRoom(event)}>
          <label for="room">${t('top.room')}</label>
          <input id="room" name="room" .value=${element.room} autocomplete="off" spellcheck="false" aria-invalid=${this.problem ? 'true' : 'false'} />
          <button type="submit">${t('top.join')}</button>
        </form>
        <button class="roster-toggle" type="button" aria-pressed=${this.showRoster ? 'true' : 'false'} @click=${() => this.update(!this.showRoster)}>
          ${t('roster.title')}
        </button>
        <button part="exit" type="button" @click=${() => client.logout()}>${t('top.exit')}</button>
        ${this.problem ? html`<p class="state error" role="alert">${this.problem}</p>` : nothing}
        <p class="state" role="status">${this.host.status()}</p>
      </header>
      <main class=${this.showRoster ? 'show-roster' : ''}>
        <sov-chat-room exportparts="list, message, notice, composer" .client=${client} room=${element.room} lang=${lang} theme=${theme}></sov-chat-room>
        <sov-roster exportparts="list: roster, person" .client=${client} room=${element.room} lang=${lang} theme=${theme}></sov-roster>
      </main>
      <dialog aria-label=${t('profile.title')} @close=${() => element.requestUpdate()}>
        <sov-profile .client=${client} closable max-avatar-bytes=${element.maxAvatarBytes} lang=${lang} theme=${theme} @sov-close=${(
          event: Event,
        ) => {
          event.stopPropagation();
          this.dialog()?.close();
        }}></sov-profile>
      </dialog>
    `;
  }

  private dialog(): HTMLDialogElement | null {
    return this.host.element.renderRoot.querySelector('dialog');
  }

  /** Changes what the screen shows and has <sov-chat> render it. */
  private update(showRoster: boolean, problem = ''): void {
    this.showRoster = showRoster;
    this.problem = problem;
    this.host.element.requestUpdate();
  }

  private async openProfile(): Promise<void> {
    try {
      await this.host.loadProfile();
    } catch (error) {
      this.update(this.showRoster, this.host.errorText(error));
      return;
    }
    if (this.problem) this.update(this.showRoster);
    this.dialog()?.showModal();
  }

  private switchRoom(event: SubmitEvent): void {
    event.preventDefault();
    const input = (event.target as HTMLFormElement).elements.namedItem('room') as HTMLInputElement;
    try {
      this.host.element.room = normalizeRoomName(input.value.trim());
      this.update(false);
    } catch (error) {
      this.update(this.showRoster, this.host.errorText(error));
    }
  }
}
