import type { Profile, SovClient } from '../../sdk/index.ts';
/** How people are named and pictured in the UI. */

/** "First Last", or the username when both are blank. */
export function displayName(profile: Pick<Profile, 'firstName' | 'lastName' | 'username'>): string {
  return `${profile.firstName} ${profile.lastName}`.trim() || profile.username;
}

export function avatarSrc(client: SovClient | null, profile: Pick<Profile, 'avatar'>): string {
  return client?.avatarUrl(profile) ?? '';
}
