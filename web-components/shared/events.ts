/**
 * Every `sov-*` event the components fire, by name, with its detail. They bubble and are composed
 * (they leave shadow roots), so a page listens on the element or on the document. The map joins
 * the DOM's own event maps, so `chat.addEventListener('sov-message', (event) => event.detail.room)`
 * is typed, and `fire` takes only a name from it with a detail of its shape.
 */
import type { ClientEvents, ClientMessage, Profile } from '../../sdk/index.ts';

export interface SovMessageDetail {
  /** The room the message is in. */
  room: string;
  message: ClientMessage;
}

/** Why the session ended: `logout` (Exit), `password-changed` (on another device), `expired`. */
export type SovLogoutDetail = ClientEvents['logout'];

export interface SovEventMap {
  /** Signed in (after a login, a registration, or a reload that resumed the session): the user's profile. */
  'sov-login': CustomEvent<Profile>;
  /** Signed out: on Exit, or the relay ended the session (another device changed the password; it expired). */
  'sov-logout': CustomEvent<SovLogoutDetail>;
  /** A new message in the room shown, sent or received. */
  'sov-message': CustomEvent<SovMessageDetail>;
  /** The profile editor saved: the profile as the relay now has it. */
  'sov-profile': CustomEvent<Profile>;
  /** The profile editor's Close button was pressed. */
  'sov-close': CustomEvent<null>;
}

export type SovEventName = keyof SovEventMap;
export type SovEventDetail<Name extends SovEventName> = SovEventMap[Name]['detail'];

/**
 * How every component fires its events: a name from the map with a detail of its shape, bubbling
 * and composed so that the host page hears it. A function, not a method of SovElement: the
 * manifest's analyzer would record the dispatch inside a method as an event named after the
 * parameter, inherited by every element.
 */
export function fire<Name extends SovEventName>(element: HTMLElement, name: Name, detail: SovEventDetail<Name>): void {
  element.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
}

declare global {
  // The map every element's, the document's and the window's extend (HTMLElementEventMap,
  // DocumentEventMap, WindowEventMap): the events are composed and bubble, so all three hear them.
  // An interface, not a type alias: only interfaces merge into the DOM's own.
  interface GlobalEventHandlersEventMap extends SovEventMap {}
}
