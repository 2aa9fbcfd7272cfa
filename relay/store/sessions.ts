/**
 * Sessions in `sessions.log`. The relay keeps only sha256(token): a copy of the data folder
 * does not let anyone log in. Expiry slides forward on use; to avoid a disk write per resume, the
 * new expiry is written only once it has moved by a tenth of the lifetime (at most a day), so after
 * a restart a session ends at most that much early. A session records the nonce of
 * the account it was issued to and acts for no other (account-ids.ts).
 */
import crypto from 'node:crypto';
import path from 'node:path';
import type { AccountIds } from './account-ids.ts';
import { AppendLog } from './append-log.ts';
import type { FileOps } from './append-log.ts';
import { optional, positive, tagged, text, whole } from './record-fields.ts';
import type { Logger } from '../logger.ts';
import { errorText } from '../logger.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface Session {
  readonly hash: string;
  readonly userId: number;
  /** The nonce of the account it was issued to; none for sessions from before nonces. */
  readonly accountNonce: string | undefined;
  expiresAt: number;
  /** The expiry last written to disk. */
  storedExpiry: number;
}

type SessionRecord =
  | { t: 'add'; h: string; uid: number; n?: string; exp: number }
  | { t: 'touch'; h: string; exp: number }
  | { t: 'del'; h: string };

/** Checks a record read back from sessions.log. */
export const readSessionRecord = tagged<SessionRecord>({
  add: { h: text, uid: positive, n: optional(text), exp: whole },
  touch: { h: text, exp: whole },
  del: { h: text },
});

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('base64url');
}

export class Sessions {
  private readonly byHash = new Map<string, Session>();
  private createdSinceSweep = 0;
  private log!: AppendLog;

  /**
   * How far the expiry moves before it is written again. A day at most; a tenth of the lifetime
   * for short ones (--session-days 1 slid by less than a day per use, so it never reached the disk).
   */
  private readonly touchStep: number;

  private constructor(
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly ids: AccountIds,
  ) {
    this.touchStep = Math.min(DAY_MS, ttlMs / 10);
  }

  /** `ids` is shared with the folder's other stores (see account-ids.ts). */
  static async open(folder: string, ids: AccountIds, ttlMs: number, logger: Logger, ops?: FileOps): Promise<Sessions> {
    const sessions = new Sessions(ttlMs, logger, ids);
    sessions.log = await AppendLog.open(
      path.join(folder, 'sessions.log'),
      readSessionRecord,
      (record) => sessions.apply(record),
      logger,
      ops,
    );
    sessions.forgetExpired();
    sessions.compactIfWorthIt(true);
    return sessions;
  }

  /** Issues a 256-bit random token; only its hash is stored. */
  async create(userId: number): Promise<{ token: string; session: Session }> {
    const token = crypto.randomBytes(32).toString('base64url');
    const record: SessionRecord = {
      t: 'add',
      h: hashToken(token),
      uid: userId,
      n: this.ids.nonceOf(userId),
      exp: Date.now() + this.ttlMs,
    };
    await this.write(record);
    if (++this.createdSinceSweep >= 1000) this.forgetExpired();
    return { token, session: this.byHash.get(record.h)! };
  }

  /**
   * The live session for a token, with its expiry pushed forward; undefined if unknown, expired, or
   * issued to an account that no longer holds its user id.
   */
  resume(token: string): Session | undefined {
    const session = this.byHash.get(hashToken(token));
    const now = Date.now();
    if (!session || session.expiresAt <= now) return undefined;
    if (!this.ids.issuedTo(session.userId, session.accountNonce)) {
      this.logger(
        'warn',
        'refused and ended a session issued to another account than the one holding its user id now (restored from an inconsistent copy?)',
        {
          userId: session.userId,
        },
      );
      this.revoke(session.hash).catch((error) =>
        this.logger('warn', 'could not end a session on disk', {
          error: errorText(error),
        }),
      );
      return undefined;
    }
    session.expiresAt = now + this.ttlMs;
    if (session.expiresAt - session.storedExpiry >= this.touchStep) {
      // A lost touch only makes a session expire a day early; not worth failing the resume for.
      this.write({ t: 'touch', h: session.hash, exp: session.expiresAt }).catch((error) =>
        this.logger('warn', 'could not extend a session on disk', {
          error: errorText(error),
        }),
      );
    }
    return session;
  }

  isLive(hash: string): boolean {
    const session = this.byHash.get(hash);
    return (
      session !== undefined && session.expiresAt > Date.now() && this.ids.issuedTo(session.userId, session.accountNonce)
    );
  }

  async revoke(hash: string): Promise<void> {
    if (this.byHash.has(hash)) await this.write({ t: 'del', h: hash });
  }

  /** Ends every session of a user but `keep` (after a password change). Returns the ended hashes. */
  async revokeUser(userId: number, keep?: string): Promise<string[]> {
    const ended = [...this.byHash.values()].filter((s) => s.userId === userId && s.hash !== keep).map((s) => s.hash);
    await Promise.all(ended.map((hash) => this.write({ t: 'del', h: hash })));
    return ended;
  }

  async close(): Promise<void> {
    await this.log.close();
  }

  /** Expired sessions leave memory here and the file at the next compaction: a relay that runs for months stays small. */
  private forgetExpired(): void {
    this.createdSinceSweep = 0;
    const now = Date.now();
    for (const [hash, session] of this.byHash) if (session.expiresAt <= now) this.byHash.delete(hash);
  }

  private async write(record: SessionRecord): Promise<void> {
    await this.log.append(JSON.stringify(record), () => this.apply(record));
    this.compactIfWorthIt(false);
  }

  private compactIfWorthIt(atStart: boolean): void {
    const lines = this.log.lineCount;
    if (!atStart && (lines < 1000 || lines < this.byHash.size * 3)) return;
    // At the start, also rewrite a file from before checksums, so it gets them.
    if (atStart && lines === this.byHash.size && this.log.legacyLines === 0) return;
    this.log.compact(() => {
      const now = Date.now();
      const live: string[] = [];
      for (const session of this.byHash.values()) {
        if (session.expiresAt <= now) continue;
        live.push(
          JSON.stringify({
            t: 'add',
            h: session.hash,
            uid: session.userId,
            n: session.accountNonce,
            exp: session.expiresAt,
          }),
        );
      }
      return live;
    });
  }

  private apply(record: SessionRecord): void {
    switch (record.t) {
      case 'add':
        this.ids.saw(record.uid);
        this.byHash.set(record.h, {
          hash: record.h,
          userId: record.uid,
          accountNonce: record.n,
          expiresAt: record.exp,
          storedExpiry: record.exp,
        });
        break;
      case 'touch': {
        const session = this.byHash.get(record.h);
        if (session) {
          session.storedExpiry = record.exp;
          session.expiresAt = Math.max(session.expiresAt, record.exp);
        }
        break;
      }
      case 'del':
        this.byHash.delete(record.h);
        break;
    }
  }
}
