// Operator tokens: several, each with a role, stored as SHA-256 hashes (never the token itself).
// Tokens are 32 random bytes, so a fast hash is enough (no password guessing possible).
import { createHash, randomBytes } from 'node:crypto';
import { WfError } from '../../protocol/errors.js';
import type { TokenView } from '../../protocol/views.js';
import { StoreCache } from './cache.js';
import { audit, nowSeconds, type Actor } from './db.js';
import type { Sql, SqlRunner } from './sql.js';

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
  /**
   * Live tokens by hash: every API request asks, so it is answered from memory. Reloaded after
   * this repository's own writes; `live.invalidate()` drops it for changes made elsewhere.
   */
  readonly live: StoreCache<'live', Map<string, TokenIdentity>>;
  /** Several instances: tell the others to forget the tokens (server/cluster/cluster.ts). */
  onChanged?: () => void;

  constructor(private readonly sql: Sql) {
    this.live = new StoreCache(async () => {
      const rows = await this.sql.all<TokenRow>('SELECT * FROM operator_tokens WHERE revoked_at IS NULL');
      return new Map(rows.map((r) => [r.token_hash, { id: r.id, name: r.name, role: r.role }]));
    });
  }

  /** Who holds this bearer token; undefined when it is unknown or revoked. */
  async identify(token: string): Promise<TokenIdentity | undefined> {
    const hash = hashToken(token);
    const byHash = this.live.peek('live') ?? (await this.live.get('live'));
    const hit = byHash?.get(hash);
    if (hit) return hit;
    // Not cached: perhaps made on another instance a moment ago (failed attempts are throttled per address).
    const row = await this.sql.get<TokenRow>('SELECT * FROM operator_tokens WHERE token_hash = ? AND revoked_at IS NULL', [hash]);
    return row ? { id: row.id, name: row.name, role: row.role } : undefined;
  }

  /**
   * The token of data/operator-token (or --token) is an admin token, so existing deployments keep
   * working. Recorded once; if an admin revoked it, it stays revoked.
   */
  async adoptBootstrap(token: string, name = 'operator-token'): Promise<void> {
    const hash = hashToken(token);
    if (await this.sql.get('SELECT id FROM operator_tokens WHERE token_hash = ?', [hash])) return;
    await this.insert(name, 'admin', hash, this.sql);
    this.live.invalidate();
  }

  private async insert(name: string, role: Role, hash: string, q: SqlRunner): Promise<TokenRow> {
    const row: TokenRow = { id: randomBytes(4).toString('hex'), name, role, token_hash: hash, created_at: nowSeconds(), revoked_at: null };
    await q.run('INSERT INTO operator_tokens (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?)', [row.id, name, role, hash, row.created_at]);
    return row;
  }

  /** A new token; the secret is returned once and only its hash is kept. */
  async create(name: string, role: Role, actor: Actor | null): Promise<TokenView & { token: string }> {
    if (!ROLES.includes(role)) throw new WfError('REQUEST_INVALID', `role "${role}": expected one of ${ROLES.join(', ')}`);
    const token = randomBytes(32).toString('base64url');
    const row = await this.sql.tx(async (q) => {
      const r = await this.insert(name, role, hashToken(token), q);
      await audit(q, 'token.create', { id: r.id, name, role }, { actor });
      return r;
    });
    this.live.invalidate();
    this.onChanged?.();
    return { ...view(row), token };
  }

  async list(): Promise<TokenView[]> {
    return (await this.sql.all<TokenRow>('SELECT * FROM operator_tokens ORDER BY created_at, id')).map(view);
  }

  async revoke(id: string, actor: Actor | null): Promise<TokenView> {
    const row = await this.sql.tx(async (q) => {
      const r = await q.get<TokenRow>('SELECT * FROM operator_tokens WHERE id = ?', [id]);
      if (!r) throw new WfError('TOKEN_NOT_FOUND', id);
      if (r.revoked_at !== null) return r;
      const admins = await q.get<{ n: number }>("SELECT COUNT(*) AS n FROM operator_tokens WHERE role = 'admin' AND revoked_at IS NULL");
      if (r.role === 'admin' && admins!.n <= 1) throw new WfError('TOKEN_LAST_ADMIN', `${id} (${r.name})`);
      r.revoked_at = nowSeconds();
      await q.run('UPDATE operator_tokens SET revoked_at = ? WHERE id = ?', [r.revoked_at, id]);
      await audit(q, 'token.revoke', { id, name: r.name, role: r.role }, { actor });
      return r;
    });
    this.live.invalidate();
    this.onChanged?.();
    return view(row);
  }
}
