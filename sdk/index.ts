/** `sovereign-chat`: the browser (and Node) SDK for Sovereign Chat relays. */
export { SovClient, MIN_PASSWORD_LENGTH } from './client.ts';
export type {
  SovClientOptions,
  Credentials,
  Registration,
  PasswordChangeInput,
  ClientEvents,
  ClientSnapshot,
} from './client.ts';
export { Room } from './room.ts';
export type {
  ClientMessage,
  MessageState,
  RoomEvents,
  RoomSnapshot,
} from './room.ts';
export type {
  ConnectionState,
  StateChange,
  StateReason,
  WebSocketConstructor,
  WebSocketLike,
} from './connection.ts';
export type { TransportChoice } from './transports/ladder.ts';
export type { TransportName } from './transports/link.ts';
export { SovError, ERROR_MESSAGES, isTransient } from './errors.ts';
export type { ErrorCode, ErrorDetails } from './errors.ts';
export { memoryStorage, indexedDbStorage } from './storage.ts';
export type { StorageAdapter } from './storage.ts';
export { DEFAULT_AVATAR_MAX_BYTES, AVATAR_SIZE } from './avatar-limits.ts';
export { processAvatar, uploadAvatar } from './avatar-on-demand.ts';
export type { ProcessAvatarOptions, UploadAvatarOptions } from './avatar.ts';
export { PROTOCOL_VERSION, DEFAULT_ROOM, LIMITS } from './protocol/frames.ts';
export { signedBytes } from './protocol/signed-bytes.ts';
export { normalizeRoomName, checkMessageText } from './protocol/fields.ts';
export type {
  Profile,
  ChatMessage,
  PublicKeyEntry,
  Role,
} from './protocol/frames.ts';
export { onFirstUse } from './lazy.ts';
