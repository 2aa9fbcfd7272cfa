/**
 * The Sovereign Chat web components, built to relay/dist/browser/sov-chat.js (served by the relay at
 * /sov-chat.js) and to dist/components/index.js (`sovereign-chat/components`). Importing it defines
 * <sov-chat> at once; <sov-chat-room>, <sov-roster> and <sov-avatar> come in one chunk that
 * <sov-chat> loads beside its connection, and <sov-login> and <sov-profile> load on first use. A page
 * using one of them on its own imports its entry (`sovereign-chat/components/sov-roster.js`), calls
 * loadChatScreen(), loadLogin() or loadProfile(), or has the element in the page when this module runs.
 */
import { loadChatScreen, loadLogin, loadProfile } from './sov-chat/sov-chat.ts';

export {
  SovChat,
  loadChatScreen,
  loadLogin,
  loadProfile,
} from './sov-chat/sov-chat.ts';
export type { SovChatRoom } from './sov-chat-room/sov-chat-room.ts';
export type { SovRoster } from './sov-roster/sov-roster.ts';
export type { SovAvatar } from './shared/sov-avatar.ts';
export { registerTranslation } from './shared/i18n.ts';
export type {
  SovEventMap,
  SovEventName,
  SovEventDetail,
  SovMessageDetail,
  SovLogoutDetail,
} from './shared/events.ts';
export type {
  Table as TranslationTable,
  MessageKey as TranslationKey,
} from './shared/i18n.ts';
export { SovClient } from '../sdk/index.ts';
export type { SovLogin } from './sov-login/sov-login.ts';
export type { SovProfile } from './sov-profile/sov-profile.ts';

if (document.querySelector('sov-chat-room, sov-roster, sov-avatar')) loadChatScreen().catch(() => undefined);
if (document.querySelector('sov-login')) loadLogin().catch(() => undefined);
if (document.querySelector('sov-profile')) loadProfile().catch(() => undefined);
