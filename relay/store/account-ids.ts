/**
 * The account ids a data folder's logs know of, shared by its three stores. Two rules keep a
 * restore from an inconsistent copy (accounts.log older than the other logs, or cut at a line
 * boundary) from handing one person's identity to another:
 *
 * - A new account gets an id above every id any log mentions: accounts, session owners, message
 *   authors. An id whose account was lost therefore stays unused, so nobody inherits its sessions
 *   or appears as the author of its messages (which clients check against the author's keys).
 * - A session holds the random nonce of the account it was issued to, and is honoured only while
 *   its id is held by the account with that nonce. This covers what the first rule cannot see:
 *   sessions from another relay's folder, or a session log whose owner ids were changed.
 *
 * One instance per data folder, handed to its three stores when they open (server.ts).
 */
export class AccountIds {
  private highest = 0;
  private readonly nonces = new Map<number, string>();

  /** Notes an id that a log mentions. */
  saw(id: number): void {
    if (id > this.highest) this.highest = id;
  }

  /** Notes the account that holds `id` now. */
  hold(id: number, nonce: string): void {
    this.saw(id);
    this.nonces.set(id, nonce);
  }

  nonceOf(id: number): string | undefined {
    return this.nonces.get(id);
  }

  /**
   * Whether a session issued to the account with `nonce` may act as `id`. A session from before
   * nonces has none to compare; requests still refuse one whose id has no account.
   */
  issuedTo(id: number, nonce: string | undefined): boolean {
    return nonce === undefined || this.nonces.get(id) === nonce;
  }

  /** An id no log mentions; taken at once, so concurrent registrations get different ones. */
  claim(): number {
    return ++this.highest;
  }
}
