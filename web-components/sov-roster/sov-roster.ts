import { html } from 'lit';
import type { PropertyValues } from 'lit';
import { customElement } from 'lit/decorators/custom-element.js';
import { property } from 'lit/decorators/property.js';
import { state } from 'lit/decorators/state.js';
import '../shared/i18n-chat-screen.ts';
import '../shared/sov-avatar.ts';
import { avatarSrc, displayName } from '../shared/people.ts';
import { SovElement } from '../shared/sov-element.ts';
import { Subscriptions } from '../shared/subscriptions.ts';
import { rosterStyles } from './sov-roster.styles.ts';
import type { Profile } from '../../sdk/index.ts';

/**
 * <sov-roster>: who is online, live. With `room`, the people in that room (the list <sov-chat>
 * shows next to the conversation); without it, everyone online on the relay.
 *
 * @csspart list - the list of people
 * @csspart person - one person
 */
@customElement('sov-roster')
export class SovRoster extends SovElement {
  static override styles = rosterStyles;

  /** A room name for that room's people; empty for everyone on the relay. */
  @property({ reflect: true }) room = '';
  @state() private people: readonly Profile[] = [];
  private readonly subscriptions = new Subscriptions(this);

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.hasUpdated) void this.follow();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('client') || changed.has('room')) void this.follow();
  }

  override render() {
    const sorted = [...this.people].sort((a, b) => displayName(a).localeCompare(displayName(b), this.language));
    return html`
      <h2 id="title">${this.t('roster.title')}</h2>
      <p class="count" aria-live="polite">${this.t('roster.count', { n: sorted.length })}</p>
      <ul part="list" aria-labelledby="title">
        ${sorted.map(
          (person) => html`<li part="person">
            <sov-avatar .src=${avatarSrc(this.client, person)} .name=${displayName(person)} .seed=${person.id}></sov-avatar>
            <span class="name">${displayName(person)} <span class="username">@${person.username}</span></span>
          </li>`,
        )}
      </ul>
    `;
  }

  private async follow(): Promise<void> {
    this.subscriptions.stop();
    const client = this.client;
    const roomName = this.room;
    this.people = [];
    if (!client?.user) return;
    try {
      if (roomName) {
        const room = await client.join(roomName);
        if (this.client !== client || this.room !== roomName) return;
        this.people = room.online;
        this.subscriptions.listen(room.on('online', (online) => (this.people = online)));
        return;
      }
      this.subscriptions.listen(
        client.on('presence', ({ userId, online, user }) => {
          const others = this.people.filter((person) => person.id !== userId);
          this.people = online && user ? [...others, user] : others;
        }),
        client.on('profile', (user) => {
          if (this.people.some((person) => person.id === user.id))
            this.people = this.people.map((person) => (person.id === user.id ? user : person));
        }),
        // Presence missed while offline: ask again after every reconnect.
        client.on('state', ({ state }) => state === 'connected' && void this.refreshEveryone(client)),
      );
      await this.refreshEveryone(client);
    } catch {
      // Offline: the list fills when the connection returns.
    }
  }

  private async refreshEveryone(client: NonNullable<SovElement['client']>): Promise<void> {
    const everyone = await client.online().catch(() => null);
    if (everyone && this.client === client && !this.room) this.people = everyone;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sov-roster': SovRoster;
  }
}
