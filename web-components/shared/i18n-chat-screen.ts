/**
 * The English words of <sov-chat>'s chat screen: the top bar, <sov-chat-room> and <sov-roster>.
 * Apart from i18n.ts because all of them load beside the connection, after the first paint
 * (../sov-chat/chat-screen.ts): imported by each, the table comes in their chunk and not in the
 * initial <sov-chat> download, and joins the English table before any of them renders.
 */
import { addEnglish } from './i18n.ts';

export const chatScreenEn = {
  'chat.placeholder': 'Write a message…',
  'chat.send': 'Send',
  'chat.messages': 'Messages',
  'chat.newMessages': 'New messages',
  'chat.joined': '{name} joined',
  'chat.left': '{name} left',
  'chat.unverified': 'Signature does not check out: this message may be forged',
  'chat.verified': 'Signed by the author',
  'chat.pending': 'Sending…',
  'chat.failed': 'Not sent',
  'chat.empty': 'No messages yet. Say hello!',
  'chat.gap': 'Some older messages could not be loaded.',
  'chat.loadingOlder': 'Loading older messages…',
  'roster.title': 'Online',
  'roster.count': { one: '{n} person online', other: '{n} people online' },
  'top.room': 'Room',
  'top.join': 'Go',
  'top.exit': 'Exit',
  'top.editProfile': 'Edit your profile',
} as const;

addEnglish(chatScreenEn);
