import { adoptStyles, html, nothing } from 'lit';
import type { PropertyDeclarations, PropertyValues } from 'lit';
import { fire } from '../shared/events.ts';
import { SovElement } from '../shared/sov-element.ts';
import { Subscriptions } from '../shared/subscriptions.ts';
import { chatStyles } from './sov-chat.styles.ts';
import type { ChatScreen } from './chat-screen.ts';
import { DEFAULT_AVATAR_MAX_BYTES, DEFAULT_ROOM, SovClient, onFirstUse } from '../../sdk/index.ts';
import type { ConnectionState } from '../../sdk/index.ts';

type Screen = 'starting' | 'login' | 'chat';

// Not part of the initial download: a returning user never needs the login form, and most visits
// never open the profile. The chat screen (the top bar, <sov-chat-room>, <sov-roster>) starts
// loading with the connection, so it arrives while the relay answers instead of delaying the first
// paint (and, on networks that freeze a TCP connection after about 16 KB, on a connection of its own).
export const loadLogin = onFirstUse(() => import('../sov-login/sov-login.ts'), 'the sign-in form');
export const loadProfile = onFirstUse(() => import('../sov-profile/sov-profile.ts'), 'the profile editor');
export const loadChatScreen = onFirstUse(() => import('./chat-screen.ts'), 'the chat');

/**
 * <sov-chat relay="wss://chat.example.org https://cdn.example.net/chat">: the whole chat in one element.
 *
 * Signed out it shows <sov-login>; signed in, a top bar (your avatar and name, which open your
 * profile; the room and a way to go to another; the connection state; Exit) over <sov-chat-room>
 * and <sov-roster>. The session is kept in IndexedDB, so a reload stays signed in.
 *
 * @fires {CustomEvent<Profile>} sov-login - on sign-in, also after a reload resumed the session (the inner <sov-login>'s own event is not passed on, so a sign-in fires once)
 * @fires {CustomEvent<SovLogoutDetail>} sov-logout - on Exit, or when the relay ended the session
 * @fires {CustomEvent<SovMessageDetail>} sov-message - for each new message in the room shown (from the inner <sov-chat-room>)
 * @fires {CustomEvent<Profile>} sov-profile - the profile editor saved your profile (from the inner <sov-profile>)
 * @csspart top-bar - the bar above the chat
 * @csspart exit - the Exit button
 * @csspart login-form - the sign-in form (<sov-login>'s `form`)
 * @csspart login-submit - the sign-in form's main button (<sov-login>'s `submit`)
 * @csspart list - the scrolling message list
 * @csspart message - one message row
 * @csspart notice - a join, leave or gap notice in the list
 * @csspart composer - the message form
 * @csspart roster - the list of people online (<sov-roster>'s `list`)
 * @csspart person - one person in that list
 * @cssprop [--sov-avatar-size=2.25rem] - diameter of the avatars beside messages (the top bar's, the roster's and the profile editor's have sizes of their own)
 */
export class SovChat extends SovElement {
  // Declared here rather than with decorators, as in the base element: the shell is in the initial
  // download, and Lit's decorator code then loads with the chat screen instead (300 bytes of gzip).
  static override properties: PropertyDeclarations = {
    relay: {},
    room: { reflect: true },
    theme: { reflect: true },
    maxAvatarBytes: { type: Number, attribute: 'max-avatar-bytes' },
    screen: { state: true },
    connection: { state: true },
    fallback: { state: true },
    startError: { state: true },
    loadError: { state: true },
  };

  static override styles = chatStyles;

  /**
   * The relay's address, or several front doors of the same relay separated by white space
   * (`wss://a.example https://b.example/chat`); the SDK splits and normalises them. Defaults to
   * the server that served this script.
   */
  relay = '';
  /** The room to open first (default "general"). */
  room = DEFAULT_ROOM;
  /** "light" or "dark"; empty follows the system. */
  theme = '';
  /** Largest picture the profile editor accepts before resizing, in bytes (4 MB by default). */
  maxAvatarBytes = DEFAULT_AVATAR_MAX_BYTES;
  private screen: Screen = 'starting';
  private connection: ConnectionState = 'connecting';
  /** On a fallback (HTTP) rather than WebSocket: said in the state line, so people know why it may be slower. */
  private fallback = false;
  private startError = '';
  /** Why the part of the page on screen could not load (offline); cleared when it loads. */
  private loadError = '';
  /** The screen whose code was last asked for. */
  private screenLoaded: Screen = 'starting';
  /** The chat screen, once its chunk is in. */
  private chatScreen: ChatScreen | null = null;

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
    if (this.screen !== this.screenLoaded) {
      this.screenLoaded = this.screen;
      this.loadScreen();
    }
  }

  /** Loads the code of the screen shown; a failure says so on screen and is tried again when the connection comes back. */
  private loadScreen(): void {
    const screen = this.screen;
    if (screen === 'starting') return;
    (screen === 'login' ? loadLogin() : loadChatScreen().then((module) => this.showChatScreen(module))).then(
      () => (this.loadError = ''),
      (error: unknown) => this.screen === screen && (this.loadError = this.errorText(error)),
    );
  }

  private showChatScreen(module: typeof import('./chat-screen.ts')): void {
    if (this.chatScreen) return;
    adoptStyles(this.renderRoot as ShadowRoot, [...SovChat.elementStyles, module.chatScreenStyles]);
    this.chatScreen = new module.ChatScreen({
      element: this,
      t: (key, params) => this.t(key, params),
      errorText: (error) => this.errorText(error),
      loadProfile,
      language: () => this.language,
      status: () =>
        this.connection !== 'connected'
          ? this.t(`state.${this.connection === 'closed' ? 'disconnected' : this.connection}`)
          : this.fallback
            ? this.t('state.fallback')
            : '',
    });
    this.requestUpdate();
  }

  protected override firstUpdated(): void {
    if (!this.client) void this.start();
  }

  override render() {
    const theme = this.theme || nothing;
    const lang = this.language;
    if (this.screen === 'starting')
      return html`<p class="center" role="status">${this.startError || this.t('state.connecting')}</p>`;
    const loadFailure = this.loadError
      ? html`<p class="state error" role="alert">${this.loadError} <button type="button" @click=${this.loadScreen}>${this.t('chat.retry')}</button></p>`
      : nothing;
    if (this.screen === 'login') {
      return html`${loadFailure}<div class="login">
        <sov-login exportparts="form: login-form, submit: login-submit" .client=${this.client} lang=${lang} theme=${theme} @sov-login=${(event: Event) => event.stopPropagation()}></sov-login>
      </div>`;
    }
    return (
      this.chatScreen?.render() ?? html`${loadFailure}<p class="center" role="status">${this.t('state.connecting')}</p>`
    );
  }

  private async start(): Promise<void> {
    this.screen = 'starting';
    this.startError = '';
    // Beside the connection; a failure shows when the chat screen does (loadScreen).
    loadChatScreen().catch(() => undefined);
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
      client.on('state', ({ state }) => {
        this.connection = state;
        if (state === 'connected' && this.loadError) this.loadScreen();
      }),
      client.on('transport', (transport) => (this.fallback = transport !== 'websocket')),
      client.on('login', (user) => {
        this.screen = 'chat';
        fire(this, 'sov-login', user);
      }),
      client.on('logout', (detail) => {
        this.screen = 'login';
        this.renderRoot.querySelector?.('dialog')?.close();
        fire(this, 'sov-logout', detail);
      }),
      client.on('profile', (user) => user.id === client.user?.id && this.requestUpdate()),
    );
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

customElements.define('sov-chat', SovChat);
