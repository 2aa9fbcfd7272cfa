/**
 * The Sovereign Chat web components, built to relay/dist/browser/sov-chat.js (served by the relay at
 * /sov-chat.js) and to dist/components/index.js (`sovereign-chat/components`). Importing it defines <sov-chat>, <sov-chat-room>, <sov-roster> and <sov-avatar>
 * at once; <sov-login> and <sov-profile> load on first use (<sov-chat> loads them when it shows
 * them; a page using one on its own calls loadLogin() / loadProfile(), or has it in the page
 * when this module runs).
 */
import { loadLogin, loadProfile } from './sov-chat/sov-chat.ts';

export { SovChat, loadLogin, loadProfile } from './sov-chat/sov-chat.ts';
export { SovChatRoom } from './sov-chat-room/sov-chat-room.ts';
export { SovRoster } from './sov-roster/sov-roster.ts';
export { SovAvatar } from './shared/sov-avatar.ts';
export { registerTranslation } from './shared/i18n.ts';
export type { Table as TranslationTable, MessageKey as TranslationKey } from './shared/i18n.ts';
export { SovClient } from '../sdk/client.ts';
export type { SovLogin } from './sov-login/sov-login.ts';
export type { SovProfile } from './sov-profile/sov-profile.ts';

if (document.querySelector('sov-login')) void loadLogin();
if (document.querySelector('sov-profile')) void loadProfile();
