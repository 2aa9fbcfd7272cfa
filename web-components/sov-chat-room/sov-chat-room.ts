import { html, nothing } from 'lit';
import type { PropertyValues } from 'lit';
import { customElement } from 'lit/decorators/custom-element.js';
import { property } from 'lit/decorators/property.js';
import { query } from 'lit/decorators/query.js';
import { state } from 'lit/decorators/state.js';
import '../shared/i18n-chat-screen.ts';
import '../shared/sov-avatar.ts';
import { avatarSrc, displayName } from '../shared/people.ts';
import { fire } from '../shared/events.ts';
import { SovElement } from '../shared/sov-element.ts';
import { VirtualWindow } from '../shared/virtual-window.ts';
import type { WindowRange } from '../shared/virtual-window.ts';
import { Subscriptions } from '../shared/subscriptions.ts';
import { chatRoomStyles } from './sov-chat-room.styles.ts';
import { SovError, checkMessageText } from '../../sdk/index.ts';
import type { ClientMessage, Profile, Room } from '../../sdk/index.ts';

interface Notice {
  key: string;
  text: string;
  /** Shown after the message with this sequence number (the newest one when the notice happened). */
  afterSeq: number;
}
type Row = { key: string; message: ClientMessage } | { key: string; notice: Notice };

/** How close to the bottom (px) still counts as "reading the newest". */
const BOTTOM_SLACK = 48;
// A link ends at white space, quotes, angle brackets and bidi controls: an override inside a URL
// would make its visible text read differently from where it goes.
const URL_PATTERN =
  /(https?:\/\/[^\s<>"\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]+[^\s<>".,;:!?)\]'\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069])/u;

/**
 * <sov-chat-room room="general">: one room's messages and a composer.
 *
 * Each message shows its author's avatar and name, the time and whether its signature checked out
 * (a message that fails is marked in words, never shown as authentic). Joins and leaves show
 * inline. Enter sends, Shift+Enter starts a new line. The list follows new messages while the
 * reader is at the bottom; scrolled up, a "new messages" button appears instead. Only the rows in
 * view are in the DOM, so a 10,000-message history scrolls like a short one. Scrolled to the top,
 * the list loads the page of older messages before it and keeps the message in view in place. New
 * messages from others are read out through a polite live region.
 *
 * @fires {CustomEvent<SovMessageDetail>} sov-message - for each new message (sent or received) after the room opened
 * @csspart list - the scrolling message list
 * @csspart message - one message row
 * @csspart notice - a join, leave or gap notice
 * @csspart composer - the message form
 * @cssprop [--sov-avatar-size=2.25rem] - diameter of the avatars beside messages
 */
@customElement('sov-chat-room')
export class SovChatRoom extends SovElement {
  static override styles = chatRoomStyles;

  /** The room to show; changing it leaves the old room and joins the new one. */
  @property({ reflect: true }) room = 'general';
  @state() private rows: Row[] = [];
  @state() private unseen = 0;
  @state() private composerError = '';
  @state() private announcement = '';
  @state() private loadError = '';
  /** The line over the top of the list: older messages loading, or why they could not. */
  @state() private older = '';
  @query('.list') private list!: HTMLElement;

  private joined: Room | null = null;
  private readonly subscriptions = new Subscriptions(this);
  private readonly rowWindow = new VirtualWindow();
  private readonly profiles = new Map<number, Profile>();
  private notices: Notice[] = [];
  private noticeCount = 0;
  private scrolledTo = 0;
  private placed: WindowRange = { start: 0, end: 0, offset: 0, total: 0 };
  private viewport = 0;
  private stickToBottom = true;
  /** After older messages went in at the top: the list's distance from its bottom, kept until the reader scrolls. */
  private fromBottom: number | null = null;
  private openedAt = 0;
  private readonly resizeObserver = new ResizeObserver(() => this.onResize());

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.hasUpdated) void this.open();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.detach();
    this.resizeObserver.disconnect();
  }

  protected override firstUpdated(): void {
    this.resizeObserver.observe(this.list);
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if ((changed.has('client') || changed.has('room')) && this.isConnected) void this.open();
  }

  protected override updated(): void {
    // Sizes go through CSSOM: a strict Content-Security-Policy blocks style="" attributes.
    this.renderRoot.querySelector<HTMLElement>('.spacer')!.style.height = `${this.placed.total}px`;
    this.renderRoot.querySelector<HTMLElement>('ol')!.style.transform = `translateY(${this.placed.offset}px)`;
    // Measure what was rendered; a row whose height differs from the estimate moves everything after it.
    let moved = false;
    for (const row of this.renderRoot.querySelectorAll<HTMLElement>('li[data-key]')) {
      if (this.rowWindow.measure(row.dataset.key!, row.getBoundingClientRect().height)) moved = true;
    }
    if (moved) {
      this.rowWindow.layout(this.rows.map((row) => row.key));
      this.requestUpdate();
    }
    const list = this.list;
    if (this.stickToBottom) list.scrollTop = list.scrollHeight;
    else if (this.fromBottom !== null) {
      // Rows added above the one in view would push it down; what is below it did not change.
      list.scrollTop = list.scrollHeight - this.fromBottom;
      // The rows now in view render at once, not after the scroll event: no frame of empty list.
      if (this.scrolledTo !== list.scrollTop) {
        this.scrolledTo = list.scrollTop;
        this.requestUpdate();
      }
    }
    const room = this.joined;
    if (room?.hasOlder && !this.older && list.scrollTop < BOTTOM_SLACK) {
      this.older = this.t('chat.loadingOlder');
      room.loadOlder().then(
        () => (this.older = ''),
        (error: unknown) => (this.older = this.errorText(error)),
      );
    }
  }

  override render() {
    const range = this.rowWindow.range(this.scrolledTo, this.viewport || 800);
    this.placed = range;
    const visible = this.rows.slice(range.start, range.end);
    return html`<div class="frame">
      <div class="list" part="list" tabindex="0" role="region" aria-label=${this.t('chat.messages')} @scroll=${this.onScroll}>
        ${this.rows.length === 0 ? html`<p class="empty">${this.loadError || this.t('chat.empty')}</p>` : nothing}
        <div class="spacer">
          <ol aria-label=${this.t('chat.messages')}>
            ${visible.map((row) => ('message' in row ? this.renderMessage(row.key, row.message) : this.renderNotice(row.key, row.notice)))}
          </ol>
        </div>
      </div>
      ${this.older ? html`<p class="older" role="status">${this.older}</p>` : nothing}
      ${
        this.unseen > 0
          ? html`<button class="jump" type="button" @click=${this.jumpToNewest}>${this.t('chat.newMessages')} (${this.unseen})</button>`
          : nothing
      }
      <div class="visually-hidden" aria-live="polite">${this.announcement}</div>
      ${this.composerError ? html`<p class="composer-error error" role="alert">${this.composerError}</p>` : nothing}
      <form part="composer" @submit=${this.submit}>
        <label class="visually-hidden" for="composer">${this.t('chat.placeholder')}</label>
        <textarea
          id="composer"
          rows="1"
          placeholder=${this.t('chat.placeholder')}
          enterkeyhint="send"
          @keydown=${this.onComposerKey}
          @input=${this.autosize}
        ></textarea>
        <button class="primary" type="submit">${this.t('chat.send')}</button>
      </form>
    </div>`;
  }

  private renderMessage(key: string, message: ClientMessage) {
    const author = this.profiles.get(message.author);
    const name = author ? displayName(author) : `#${message.author}`;
    const mine = message.author === this.client?.user?.id;
    const classes = ['message', mine ? 'mine' : '', message.verified ? '' : 'unverified'].join(' ');
    return html`
      <li class=${classes} part="message" data-key=${key}>
        <sov-avatar .src=${author ? avatarSrc(this.client, author) : ''} .name=${name} .seed=${message.author}></sov-avatar>
        <div class="bubble">
          <div class="meta">
            <span class="author">${name}</span>
            <time datetime=${new Date(message.ts).toISOString()}>${this.formatTime(message.ts)}</time>
            ${
              message.verified && message.state === 'sent'
                ? html`<span role="img" aria-label=${this.t('chat.verified')} title=${this.t('chat.verified')}>✓</span>`
                : nothing
            }
          </div>
          <div class="text">${linkify(message.text)}</div>
          ${message.verified ? nothing : html`<div class="warning">⚠ ${this.t('chat.unverified')}</div>`}
          ${message.state === 'pending' ? html`<div class="meta">${this.t('chat.pending')}</div>` : nothing}
          ${
            message.state === 'failed'
              ? html`<div class="failed">
                ${this.t('chat.failed')}${message.error ? `: ${this.errorText(message.error)}` : ''}
                <button class="retry" type="button" @click=${() => this.joined?.retry(message).catch(() => undefined)}>${this.t('chat.retry')}</button>
              </div>`
              : nothing
          }
        </div>
      </li>
    `;
  }

  private renderNotice(key: string, notice: Notice) {
    return html`<li class="notice" part="notice" data-key=${key}>${notice.text}</li>`;
  }

  private formatTime(ts: number): string {
    const date = new Date(ts);
    const today = new Date().toDateString() === date.toDateString();
    const options: Intl.DateTimeFormatOptions = today
      ? { hour: '2-digit', minute: '2-digit' }
      : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
    return new Intl.DateTimeFormat(this.language, options).format(date);
  }

  // Room wiring -------------------------------------------------------------------------------

  private async open(): Promise<void> {
    const client = this.client;
    const name = this.room;
    if (this.joined?.name === name && this.joined && client) return;
    const previous = this.joined;
    this.detach();
    this.rows = [];
    this.notices = [];
    this.loadError = this.older = '';
    this.stickToBottom = true;
    this.unseen = 0;
    if (!client || !client.user) return;
    if (previous && previous.name !== name) void client.leave(previous.name);
    try {
      const room = await client.join(name);
      if (this.client !== client || this.room !== name) return;
      this.attach(room);
    } catch (error) {
      this.loadError = this.errorText(error);
    }
  }

  private attach(room: Room): void {
    const client = this.client!;
    this.joined = room;
    this.openedAt = Date.now();
    for (const user of room.online) this.profiles.set(user.id, user);
    this.subscriptions.listen(
      room.on('message', (message) => this.onMessage(message)),
      room.on('join', (user) => {
        this.profiles.set(user.id, user);
        this.addNotice(this.t('chat.joined', { name: displayName(user) }));
      }),
      room.on('leave', ({ userId, user }) => {
        const known = user ?? this.profiles.get(userId);
        this.addNotice(
          this.t('chat.left', {
            name: known ? displayName(known) : `#${userId}`,
          }),
        );
      }),
      room.on('gap', () => this.addNotice(this.t('chat.gap'))),
      room.on('older', (messages) => {
        for (const message of messages) this.learnAuthor(message.author);
        this.fromBottom = this.list.scrollHeight - this.list.scrollTop;
        this.rebuild();
      }),
      client.on('profile', (user) => {
        if (!this.profiles.has(user.id)) return;
        this.profiles.set(user.id, user);
        this.requestUpdate();
      }),
    );
    for (const message of room.messages) this.learnAuthor(message.author);
    this.rebuild();
  }

  private detach(): void {
    this.subscriptions.stop();
    this.joined = null;
  }

  private onMessage(message: ClientMessage): void {
    this.fromBottom = null;
    // A change to a message already shown (pending to sent, say) comes as a new object: known by author and client id.
    const known = this.rows.some(
      (row) => 'message' in row && row.message.author === message.author && row.message.cid === message.cid,
    );
    this.learnAuthor(message.author);
    this.rebuild();
    if (known) return;
    const mine = message.author === this.client?.user?.id;
    if (mine) this.stickToBottom = true;
    else if (!this.stickToBottom) this.unseen++;
    if (message.ts >= this.openedAt - 5000) {
      fire(this, 'sov-message', { room: this.room, message });
      if (!mine) {
        const author = this.profiles.get(message.author);
        this.announcement = `${author ? displayName(author) : `#${message.author}`}: ${message.text}`;
      }
    }
  }

  private learnAuthor(userId: number): void {
    if (this.profiles.has(userId) || !this.client) return;
    this.client
      .profile(userId)
      .then((profile) => {
        this.profiles.set(userId, profile);
        this.requestUpdate();
      })
      .catch(() => undefined);
  }

  private addNotice(text: string): void {
    this.notices.push({
      key: `n${this.noticeCount++}`,
      text,
      afterSeq: this.joined?.seq ?? 0,
    });
    this.rebuild();
  }

  /** Rows in order: the room's messages, each notice after the newest message it followed. */
  private rebuild(): void {
    const messages = this.joined?.messages ?? [];
    const rows: Row[] = [];
    const keys = new Set<string>();
    let next = 0;
    for (const message of messages) {
      while (next < this.notices.length && (message.seq === null || this.notices[next]!.afterSeq < message.seq)) {
        const notice = this.notices[next++]!;
        rows.push({ key: notice.key, notice });
      }
      // Author and client id name a row from pending to sent, but a relay can send one pair twice
      // (a replayed message; a client id reused after the relay forgot it). Two rows under one key
      // were measured as one row of two heights, each update asked for another, and the tab froze.
      const base = `m${message.author}:${message.cid}`;
      let key = base;
      for (let copy = 2; keys.has(key); copy++) key = `${base}#${copy}`;
      keys.add(key);
      rows.push({ key, message });
    }
    for (; next < this.notices.length; next++) rows.push({ key: this.notices[next]!.key, notice: this.notices[next]! });
    this.rows = rows;
    this.rowWindow.layout(rows.map((row) => row.key));
    this.rowWindow.prune();
  }

  // Scrolling ---------------------------------------------------------------------------------

  private onScroll(): void {
    const list = this.list;
    // The reader moved (not the list keeping its place): free the list, and let a failed load be tried again.
    if (this.fromBottom !== null && Math.abs(this.fromBottom - list.scrollHeight + list.scrollTop) > 1)
      this.fromBottom = null;
    if (!this.joined?.loadingOlder) this.older = '';
    this.scrolledTo = list.scrollTop;
    this.stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < BOTTOM_SLACK;
    if (this.stickToBottom) this.unseen = 0;
    this.requestUpdate();
  }

  private onResize(): void {
    // Only a new viewport height changes which rows show; re-rendering for anything else (the
    // scrollbar appearing) would feed the observer its own changes.
    // Capped at the window: a host page that lets the list grow with its content still gets
    // a bounded number of rows, not the whole history.
    const height = Math.min(this.list.clientHeight, window.innerHeight);
    if (height === this.viewport) return;
    this.viewport = height;
    requestAnimationFrame(() => this.requestUpdate());
  }

  private jumpToNewest(): void {
    this.stickToBottom = true;
    this.unseen = 0;
    this.list.scrollTop = this.list.scrollHeight;
    this.renderRoot.querySelector('textarea')?.focus();
  }

  // Composer ----------------------------------------------------------------------------------

  private onComposerKey(event: KeyboardEvent): void {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an input-method composition is neither.
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    (event.target as HTMLTextAreaElement).form?.requestSubmit();
  }

  private autosize(event: Event): void {
    const textarea = event.target as HTMLTextAreaElement;
    textarea.style.height = 'auto';
    textarea.style.height = `${textarea.scrollHeight + 2}px`;
    if (this.composerError) this.composerError = '';
  }

  private submit(event: SubmitEvent): void {
    event.preventDefault();
    const textarea = this.renderRoot.querySelector('textarea')!;
    const room = this.joined;
    if (!room || textarea.value.trim() === '') return;
    try {
      checkMessageText(textarea.value);
    } catch (error) {
      this.composerError = this.errorText(error instanceof SovError ? error : new SovError('INVALID_FIELD'));
      return;
    }
    // A refusal shows on the message itself (failed, with Retry); nothing to handle here.
    room.send(textarea.value).catch(() => undefined);
    textarea.value = '';
    textarea.style.height = '';
    this.composerError = '';
  }
}

/** Text with its http(s) links made clickable; everything stays text (Lit escapes it). */
function linkify(text: string) {
  const parts = text.split(URL_PATTERN);
  if (parts.length === 1) return text;
  return parts.map((part, index) =>
    index % 2 === 1 ? html`<a href=${part} target="_blank" rel="noopener noreferrer">${part}</a>` : part,
  );
}

declare global {
  interface HTMLElementTagNameMap {
    'sov-chat-room': SovChatRoom;
  }
}
