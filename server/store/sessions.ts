// Console sessions (docs/console.md §sessions): a browser exchanges an operator token for a random
// session id kept in an HttpOnly cookie. Only the id's SHA-256 is stored, with the token's id: the
// name and role are read from the token at every lookup, so revoking the token ends its sessions.
// Stored in the shared store so every server instance knows every session.
import { createHash, randomBytes } from 'node:crypto';
import type { Role } from './tokens.js';
import type { Sql } from './sql.js';

export interface SessionLimits {
  /** A session ends this long after sign-in, whatever happens (ms). */
  absoluteMs: number;
  /** ...or this long after its last request (ms). */
  idleMs: number;
}

export const SESSION_LIMITS: SessionLimits = { absoluteMs: 12 * 3600_000, idleMs: 3600_000 };

/** The last-request time is written at most this often, not on every request. */
const TOUCH_EVERY_MS = 60_000;

export interface Session {
  tokenId: string;
  name: string;
  role: Role;
  csrf: string;
  expiresAt: number;
  idleExpiresAt: number;
}

interface SessionRow {
  id_hash: string;
  token_id: string;
  csrf: string;
  seen_ms: number;
  expires_ms: number;
  name: string;
  role: Role;
}

const hashId = (id: string) => createHash('sha256').update(id).digest('hex');

export class SessionRepo {
  constructor(
    private readonly sql: Sql,
    private readonly limits: SessionLimits = SESSION_LIMITS,
  ) {}

  /** A new session for a live token: the cookie value (returned once) and the session. */
  async create(token: { id: string; name: string; role: Role }, now: number): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const expires = now + this.limits.absoluteMs;
    // Ended sessions are swept here, so the table holds only live ones (plus those since the last sign-in).
    await this.sql.run('DELETE FROM operator_sessions WHERE expires_ms <= ? OR seen_ms <= ?', [now, now - this.limits.idleMs]);
    await this.sql.run('INSERT INTO operator_sessions (id_hash, token_id, csrf, created_ms, seen_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)', [
      hashId(id),
      token.id,
      csrf,
      now,
      now,
      expires,
    ]);
    return { id, session: { tokenId: token.id, name: token.name, role: token.role, csrf, expiresAt: expires, idleExpiresAt: Math.min(expires, now + this.limits.idleMs) } };
  }

  /** The live session of a cookie value; undefined when unknown, ended, or its token revoked. Counts as a request (idle limit). */
  async lookup(id: string, now: number): Promise<Session | undefined> {
    const row = await this.sql.get<SessionRow>(
      `SELECT s.id_hash, s.token_id, s.csrf, s.seen_ms, s.expires_ms, t.name, t.role
         FROM operator_sessions s JOIN operator_tokens t ON t.id = s.token_id
        WHERE s.id_hash = ? AND t.revoked_at IS NULL`,
      [hashId(id)],
    );
    if (!row || now >= row.expires_ms || now >= row.seen_ms + this.limits.idleMs) return undefined;
    let seen = row.seen_ms;
    if (now - seen >= TOUCH_EVERY_MS) {
      seen = now;
      await this.sql.run('UPDATE operator_sessions SET seen_ms = ? WHERE id_hash = ?', [now, row.id_hash]);
    }
    return { tokenId: row.token_id, name: row.name, role: row.role, csrf: row.csrf, expiresAt: row.expires_ms, idleExpiresAt: Math.min(row.expires_ms, seen + this.limits.idleMs) };
  }

  /** Sign out: the session is gone from the store. */
  async end(id: string): Promise<void> {
    await this.sql.run('DELETE FROM operator_sessions WHERE id_hash = ?', [hashId(id)]);
  }

  /** Every session of a token (when it is revoked). */
  async endForToken(tokenId: string): Promise<number> {
    return (await this.sql.run('DELETE FROM operator_sessions WHERE token_id = ?', [tokenId])).changes;
  }
}
