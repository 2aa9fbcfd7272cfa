/**
 * <sov-chat relay="wss://chat.example.org https://cdn.example.net/chat">: the whole chat in one element.
 *
 * Signed out it shows <sov-login>; signed in, a top bar (your avatar and name, which open your
 * profile; the room and a way to go to another; the connection state; Exit) over <sov-chat-room>
 * and <sov-roster>. The session is kept in IndexedDB, so a reload stays signed in.
 *
 * Attributes: `relay` (default: the server this script was loaded from; several front doors of
 * one relay separated by spaces, tried in order from the one that worked last), `room` (default
 * "general"), `lang` ("en" or "ru"; default the page's), `theme` ("light" or "dark"; default the
 * system's), `max-avatar-bytes` (default 4 MB).
 *
 * @fires sov-login - detail: the Profile, on sign-in (also after a reload resumed the session);
 *   the inner <sov-login>'s own event is not passed on, so a sign-in fires once
 * @fires sov-logout - detail: { reason }, on Exit or when the relay ended the session
 * @fires sov-message - detail: { room, message }, for each new message
 * @csspart top-bar - the bar above the chat
 * @csspart exit - the Exit button
 * @csspart login-form, login-submit - <sov-login>'s form and main button
 * @csspart list, message, notice, composer - <sov-chat-room>'s parts
 * @csspart roster, person - <sov-roster>'s list and each person in it
 */
import { html, nothing } from 'lit';
import type { PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import '../shared/sov-avatar.ts';
import { avatarSrc, displayName } from '../shared/people.ts';
import { SovElement } from '../shared/sov-element.ts';
import { Subscriptions } from '../shared/subscriptions.ts';
import '../sov-chat-room/sov-chat-room.ts';
import '../sov-roster/sov-roster.ts';
import { chatStyles } from './sov-chat.styles.ts';
import { DEFAULT_AVATAR_MAX_BYTES, DEFAULT_ROOM, SovClient, normalizeRoomName } from '../../sdk/index.ts';
import type { ConnectionState } from '../../sdk/index.ts';

type Screen = 'starting' | 'login' | 'chat';

// Loaded when first shown: a returning user never needs the login form, and most visits never
// open the profile, so neither is part of the initial download.
export const loadLogin = (): Promise<unknown> => import('../sov-login/sov-login.ts');
export const loadProfile = (): Promise<unknown> => import('../sov-profile/sov-profile.ts');

@customElement('sov-chat')
export class SovChat extends SovElement {
  static override styles = chatStyles;

  /**
   * The relay's address, or several front doors of the same relay separated by white space
   * (`wss://a.example https://b.example/chat`); the SDK splits and normalises them. Defaults to
   * the server that served this script.
   */
  @property() relay = '';
  /** The room to open first. */
  @property({ reflect: true }) room = DEFAULT_ROOM;
  /** "light" or "dark"; empty follows the system. */
  @property({ reflect: true }) theme = '';
  @property({ type: Number, attribute: 'max-avatar-bytes' }) maxAvatarBytes = DEFAULT_AVATAR_MAX_BYTES;
  @state() private screen: Screen = 'starting';
  @state() private connection: ConnectionState = 'connecting';
  /** On a fallback (HTTP) rather than WebSocket: said in the state line, so people know why it may be slower. */
  @state() private fallback = false;
  @state() private showRoster = false;
  @state() private roomError = '';
  @state() private startError = '';
  @query('dialog') private dialog!: HTMLDialogElement;

  /** A client this element made (closed when it leaves the page), as opposed to one handed in. */
  private ownClient: SovClient | null = null;
  private readonly subscriptions = new Subscriptions(this);

  override connectedCallback(): void {
    super.connectedCallback();
    // Back on the page (moved in the DOM): listen to a handed-in client again, or start anew.
    if (this.hasUpdated && this.client) this.wire(this.client);
    else if (this.hasUpdated) void this.start();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.ownClient) {
      this.ownClient.close();
      if (this.client === this.ownClient) this.client = null;
      this.ownClient = null;
    }
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('client') && this.client) this.wire(this.client);
    if (this.screen === 'login') loadLogin().catch(() => undefined);
  }

  protected override firstUpdated(): void {
    if (!this.client) void this.start();
  }

  override render() {
    const theme = this.theme || nothing;
    const lang = this.language;
    if (this.screen === 'starting') return html`<p class="center" role="status">${this.startError || this.t('state.connecting')}</p>`;
    if (this.screen === 'login') {
      return html`<div class="login">
        <sov-login exportparts="form: login-form, submit: login-submit" .client=${this.client} lang=${lang} theme=${theme} @sov-login=${(event: Event) => event.stopPropagation()}></sov-login>
      </div>`;
    }
    const user = this.client?.user;
    if (!user) return nothing;
    const name = displayName(user);
    return html`
      <header part="top-bar">
        <button class="me" type="button" aria-label="${name}: ${this.t('top.editProfile')}" title=${this.t('top.editProfile')} @click=${this.openProfile}>
          <sov-avatar .src=${avatarSrc(this.client, user)} .name=${name} .seed=${user.id}></sov-avatar>
          <span>${name}</span>
        </button>
        <form class="room-form" @submit=${this.switchRoom}>
          <label for="room">${this.t('top.room')}</label>
          <input id="room" name="room" .value=${this.room} autocomplete="off" spellcheck="false" aria-invalid=${this.roomError ? 'true' : 'false'} />
          <button type="submit">${this.t('top.join')}</button>
        </form>
        <button class="roster-toggle" type="button" aria-pressed=${this.showRoster ? 'true' : 'false'} @click=${() => (this.showRoster = !this.showRoster)}>
          ${this.t('roster.title')}
        </button>
        <button part="exit" type="button" @click=${this.exit}>${this.t('top.exit')}</button>
        ${this.roomError ? html`<p class="state error" role="alert">${this.roomError}</p>` : nothing}
        <p class="state" role="status">${this.connection !== 'connected' ? this.t(`state.${this.connection === 'closed' ? 'disconnected' : this.connection}`) : this.fallback ? this.t('state.fallback') : ''}</p>
      </header>
      <main class=${this.showRoster ? 'show-roster' : ''}>
        <sov-chat-room exportparts="list, message, notice, composer" .client=${this.client} room=${this.room} lang=${lang} theme=${theme}></sov-chat-room>
        <sov-roster exportparts="list: roster, person" .client=${this.client} room=${this.room} lang=${lang} theme=${theme}></sov-roster>
      </main>
      <dialog aria-label=${this.t('profile.title')} @close=${this.profileClosed}>
        <sov-profile .client=${this.client} closable max-avatar-bytes=${this.maxAvatarBytes} lang=${lang} theme=${theme} @sov-close=${() => this.dialog.close()}></sov-profile>
      </dialog>
    `;
  }

  private async start(): Promise<void> {
    this.screen = 'starting';
    this.startError = '';
    let client: SovClient;
    try {
      client = new SovClient({ relay: this.relay.trim() || defaultRelay() });
    } catch (error) {
      this.startError = this.errorText(error);
      return;
    }
    this.ownClient = client;
    this.client = client;
    const resumed = await client.resume().catch(() => false);
    if (this.client === client) this.screen = resumed && client.user ? 'chat' : 'login';
  }

  private wire(client: SovClient): void {
    this.connection = client.state;
    this.fallback = client.transport !== 'websocket';
    // A client handed in shows its state at once; our own shows "connecting" until resume() answers.
    if (client !== this.ownClient) this.screen = client.user ? 'chat' : 'login';
    this.subscriptions.listen(
      client.on('state', ({ state }) => (this.connection = state)),
      client.on('transport', (transport) => (this.fallback = transport !== 'websocket')),
      client.on('login', (user) => {
        this.screen = 'chat';
        this.fire('login', user);
      }),
      client.on('logout', (detail) => {
        this.screen = 'login';
        this.dialog?.close();
        this.fire('logout', detail);
      }),
      client.on('profile', (user) => user.id === client.user?.id && this.requestUpdate()),
    );
  }

  private async exit(): Promise<void> {
    await this.client?.logout();
  }

  private async openProfile(): Promise<void> {
    // The profile editor loads on first use: most visits never open it.
    await loadProfile().catch(() => undefined);
    this.dialog.showModal();
  }

  private profileClosed(): void {
    this.requestUpdate();
  }

  private switchRoom(event: SubmitEvent): void {
    event.preventDefault();
    const input = (event.target as HTMLFormElement).elements.namedItem('room') as HTMLInputElement;
    try {
      this.room = normalizeRoomName(input.value.trim());
      this.roomError = '';
      this.showRoster = false;
    } catch (error) {
      this.roomError = this.errorText(error);
    }
  }
}

/** The relay that served this script: `<script src="https://chat.example.org/sov-chat.js">` talks to chat.example.org. */
function defaultRelay(): string {
  return new URL('/', import.meta.url).href;
}

declare global {
  interface HTMLElementTagNameMap {
    'sov-chat': SovChat;
  }
}
