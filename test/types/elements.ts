// Compiled by `npm run typecheck` (tsconfig.json includes test/), never run: each line states what
// an app's TypeScript knows about the elements and their events, and `@ts-expect-error` lines
// state what it refuses (one that compiled after all would fail the type check).
import type { Profile } from '../../sdk/index.ts';
import type {
  SovAvatar,
  SovChat,
  SovChatRoom,
  SovLogin,
  SovProfile,
  SovRoster,
  SovLogoutDetail,
  SovMessageDetail,
} from '../../web-components/index.ts';
import { fire } from '../../web-components/shared/events.ts';

export function createdElementsHaveTheirClasses(): [SovChat, SovChatRoom, SovRoster, SovLogin, SovProfile, SovAvatar] {
  const chat: SovChat = document.createElement('sov-chat');
  const room: SovChatRoom = document.createElement('sov-chat-room');
  const roster: SovRoster = document.createElement('sov-roster');
  const login: SovLogin = document.createElement('sov-login');
  const profile: SovProfile = document.createElement('sov-profile');
  const avatar: SovAvatar = document.createElement('sov-avatar');
  // @ts-expect-error: a <sov-chat> is not a <sov-roster>
  const notRoster: SovRoster = document.querySelector('sov-chat')!;
  void notRoster;
  return [chat, room, roster, login, profile, avatar];
}

export function listenersGetTheirDetail(chat: SovChat): void {
  chat.addEventListener('sov-message', (event) => {
    const detail: SovMessageDetail = event.detail;
    const room: string = event.detail.room;
    const text: string = event.detail.message.text;
    // @ts-expect-error: the message is in `detail.message`, the detail has no `text`
    void event.detail.text;
    void [detail, room, text];
  });
  chat.addEventListener('sov-login', (event) => {
    const user: Profile = event.detail;
    // @ts-expect-error: a profile's id is a number
    const id: string = event.detail.id;
    void [user, id];
  });
  chat.addEventListener('sov-logout', (event) => {
    const reason: SovLogoutDetail['reason'] = event.detail.reason;
    // @ts-expect-error: not one of the reasons
    const unknownReason: typeof reason = 'kicked';
    void unknownReason;
  });
  // Composed and bubbling, they reach the document and the window with the same types.
  document.addEventListener('sov-profile', (event) => void (event.detail.username satisfies string));
  window.addEventListener('sov-close', (event) => void (event.detail satisfies null));
  // @ts-expect-error: not an event of the map, so a plain Event without `detail`
  chat.addEventListener('sov-unknown', (event) => void event.detail);
}

export function firingChecksTheDetail(element: HTMLElement, message: SovMessageDetail['message'], user: Profile): void {
  fire(element, 'sov-message', { room: 'general', message });
  fire(element, 'sov-login', user);
  // @ts-expect-error: a message event without its message
  fire(element, 'sov-message', { room: 'general' });
  // @ts-expect-error: the room is a string
  fire(element, 'sov-message', { room: 1, message });
  // @ts-expect-error: sov-logout carries a reason, not a profile
  fire(element, 'sov-logout', user);
  // @ts-expect-error: not an event of the map
  fire(element, 'sov-unknown', null);
}
