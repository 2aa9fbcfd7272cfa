/** How people are named and pictured in the UI. */
import type { SovClient } from '../../sdk/client.ts';
import type { Profile } from '../../sdk/protocol/frames.ts';

/** "First Last", or the username when both are blank. */
export function displayName(profile: Pick<Profile, 'firstName' | 'lastName' | 'username'>): string {
  return `${profile.firstName} ${profile.lastName}`.trim() || profile.username;
}

export function avatarSrc(client: SovClient | null, profile: Pick<Profile, 'avatar'>): string {
  return client?.avatarUrl(profile) ?? '';
}
