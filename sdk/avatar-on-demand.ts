/**
 * The avatar functions as the package exports them: their code, and the image resizer behind it,
 * load on the first call (./lazy.ts), so an app that imports the SDK does not download them
 * until someone picks a picture.
 */
import type { ProcessAvatarOptions, UploadAvatarOptions } from './avatar.ts';
import { loadAvatar } from './lazy.ts';
import type { Profile } from './protocol/frames.ts';

/** See ./avatar.ts `processAvatar`. */
export async function processAvatar(file: Blob, options?: ProcessAvatarOptions): Promise<Blob> {
  return (await loadAvatar()).processAvatar(file, options);
}

/** See ./avatar.ts `uploadAvatar`. */
export async function uploadAvatar(
  httpBase: string,
  token: string,
  image: Blob,
  options?: UploadAvatarOptions,
): Promise<Profile> {
  return (await loadAvatar()).uploadAvatar(httpBase, token, image, options);
}
