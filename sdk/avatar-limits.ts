// Avatar defaults, apart from the processing code so that UIs can show them without loading it.

/** Largest file `processAvatar` accepts by default: the original app's client-side limit. */
export const DEFAULT_AVATAR_MAX_BYTES = 4 * 1024 * 1024;
/** Side of the square avatar, in pixels: sharp on high-density screens at the usual 64-128 CSS px. */
export const AVATAR_SIZE = 256;
