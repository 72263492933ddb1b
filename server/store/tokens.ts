// Operator tokens: several, each with a role, stored as SHA-256 hashes (never the token itself).
// Tokens are 32 random bytes, so a fast hash is enough (no password guessing possible).
import { createHash, randomBytes } from 'node:crypto';
import { WfError } from '../../protocol/errors.js';
import type { TokenView } from '../../protocol/views.js';
import { audit, nowSeconds, type Actor, type Db } from './db.js';

/** viewer: read only; deployer: + publish, deploy, rollback, rollouts; admin: everything. */
export const ROLES = ['viewer', 'deployer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAllows(has: Role, needs: Role): boolean {
  return ROLES.indexOf(has) >= ROLES.indexOf(needs);
}

export type { TokenView } from '../../protocol/views.js';

export interface TokenIdentity extends Actor {
  role: Role;
}

interface TokenRow {
  id: string;
  name: string;
  role: Role;
  token_hash: string;
  created_at: number;
  revoked_at: number | null;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
const view = (r: TokenRow): TokenView => ({ id: r.id, name: r.name, role: r.role, createdAt: r.created_at, revokedAt: r.revoked_at });

export class TokenRepo {
  /** Live tokens by hash: every API request asks, so it is answered from memory. */
  private byHash = new Map<string, TokenIdentity>();
  /** Several instances: tell the others to re-read the tokens (server/cluster/cluster.ts). */
  onChanged?: () => void;

  constructor(private readonly db: Db) {
    this.reload();
  }

  /** Re-read the live tokens (another instance created or revoked one). */
  reload(): void {
    const rows = this.db.prepare('SELECT * FROM operator_tokens WHERE revoked_at IS NULL').all() as TokenRow[];
    this.byHash = new Map(rows.map((r) => [r.token_hash, { id: r.id, name: r.name, role: r.role }]));
  }

  /** Who holds this bearer token; undefined when it is unknown or revoked. */
  identify(token: string): TokenIdentity | undefined {
    const hash = hashToken(token);
    const hit = this.byHash.get(hash);
    if (hit) return hit;
    // Not cached: perhaps made on another instance a moment ago (failed attempts are throttled per address).
    const row = this.db.prepare('SELECT * FROM operator_tokens WHERE token_hash = ? AND revoked_at IS NULL').get(hash) as TokenRow | undefined;
    if (!row) return undefined;
    const who = { id: row.id, name: row.name, role: row.role };
    this.byHash.set(hash, who);
    return who;
  }

  /**
   * The token of data/operator-token (or --token) is an admin token, so existing deployments keep
   * working. Recorded once; if an admin revoked it, it stays revoked.
   */
  adoptBootstrap(token: string, name = 'operator-token'): void {
    const hash = hashToken(token);
    if (this.db.prepare('SELECT 1 FROM operator_tokens WHERE token_hash = ?').get(hash)) return;
    this.insert(name, 'admin', hash);
    this.reload();
  }

  private insert(name: string, role: Role, hash: string): TokenRow {
    const row: TokenRow = { id: randomBytes(4).toString('hex'), name, role, token_hash: hash, created_at: nowSeconds(), revoked_at: null };
    this.db.prepare('INSERT INTO operator_tokens (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?)').run(row.id, name, role, hash, row.created_at);
    return row;
  }

  /** A new token; the secret is returned once and only its hash is kept. */
  create(name: string, role: Role, actor: Actor | null): TokenView & { token: string } {
    if (!ROLES.includes(role)) throw new WfError('REQUEST_INVALID', `role "${role}": expected one of ${ROLES.join(', ')}`);
    const token = randomBytes(32).toString('base64url');
    const row = this.db.transaction(() => {
      const r = this.insert(name, role, hashToken(token));
      audit(this.db, 'token.create', { id: r.id, name, role }, { actor });
      return r;
    })();
    this.reload();
    this.onChanged?.();
    return { ...view(row), token };
  }

  list(): TokenView[] {
    return (this.db.prepare('SELECT * FROM operator_tokens ORDER BY created_at, id').all() as TokenRow[]).map(view);
  }

  revoke(id: string, actor: Actor | null): TokenView {
    const row = this.db.transaction(() => {
      const r = this.db.prepare('SELECT * FROM operator_tokens WHERE id = ?').get(id) as TokenRow | undefined;
      if (!r) throw new WfError('TOKEN_NOT_FOUND', id);
      if (r.revoked_at !== null) return r;
      const admins = this.db.prepare("SELECT COUNT(*) AS n FROM operator_tokens WHERE role = 'admin' AND revoked_at IS NULL").get() as { n: number };
      if (r.role === 'admin' && admins.n <= 1) throw new WfError('TOKEN_LAST_ADMIN', `${id} (${r.name})`);
      r.revoked_at = nowSeconds();
      this.db.prepare('UPDATE operator_tokens SET revoked_at = ? WHERE id = ?').run(r.revoked_at, id);
      audit(this.db, 'token.revoke', { id, name: r.name, role: r.role }, { actor });
      return r;
    })();
    this.reload();
    this.onChanged?.();
    return view(row);
  }
}
