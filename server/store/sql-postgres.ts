// Sql over a pg connection pool. Statements arrive with `?` placeholders (sql.ts) and are
// rewritten once to PostgreSQL's `$1, $2, …`; values come back as the SQLite store returns them:
// BIGINT and NUMERIC as JS numbers (the pool's own type parsers, so nothing global changes),
// BYTEA as bytes. A transaction holds one pooled connection from BEGIN to COMMIT or ROLLBACK;
// other statements run meanwhile on the pool's other connections, outside it.
import pg from 'pg';
import { WfError } from '../../protocol/errors.js';
import type { Sql, SqlRunner, SqlValue } from './sql.js';

const { Pool, types } = pg;

// Only static statement texts are cached (and prepared by name on each connection); a caller
// that builds SQL per request (an IN list of varying length) runs unnamed past this many.
const STATEMENT_CACHE_MAX = 512;

/**
 * How long a statement waits for a connection: a new one to the server, or a free one from the
 * pool when all are busy (a loaded process holds its transactions longer). Past it, STORE_UNREACHABLE.
 */
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * `?` → `$n`, leaving alone what is not a placeholder: quoted strings ('it''s ?'), quoted
 * identifiers ("a?"), dollar-quoted bodies ($$…$$), and comments.
 */
export function toPostgresPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; ) {
    const c = sql[i];
    const skipTo = (end: string, from: number): number => {
      const j = sql.indexOf(end, from);
      return j < 0 ? sql.length : j + end.length;
    };
    let next: number;
    if (c === "'" || c === '"') {
      // A doubled quote inside is an escaped one: scanning on from the next quote handles it.
      next = skipTo(c, i + 1);
    } else if (c === '-' && sql[i + 1] === '-') {
      next = skipTo('\n', i + 2);
    } else if (c === '/' && sql[i + 1] === '*') {
      next = skipTo('*/', i + 2);
    } else if (c === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))?.[0];
      next = tag ? skipTo(tag, i + tag.length) : i + 1;
    } else if (c === '?') {
      out += `$${++n}`;
      i++;
      continue;
    } else {
      next = i + 1;
    }
    out += sql.slice(i, next);
    i = next;
  }
  return out;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** Integers and counts as numbers (what SQLite gives); a value past 2^53 would lose digits, so it is refused. */
function toNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) && /^-?\d+$/.test(text)) throw new Error(`integer ${text} is beyond what a JS number holds exactly`);
  return n;
}

const typeParsers = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8_OID || oid === NUMERIC_OID) return toNumber;
    return types.getTypeParser(oid, format as 'text');
  }) as typeof types.getTypeParser,
};

const toPg = (v: SqlValue): unknown => (typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'bigint' ? v.toString() : v);

/** Connection faults: the server is down, restarting, or the network is gone. */
const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
// SQLSTATE classes and codes: 08 connection exception, 57P01-03 shutdown/starting, 28 auth, 3D000 no such database.
const UNREACHABLE_SQLSTATE = /^(08|28|3D000|57P0[123])/;

/** Where the database is, for messages: host:port/db and the user, never the password. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return `${u.username ? `${decodeURIComponent(u.username)}@` : ''}${host}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the --db URL';
  }
}

/** A connection-level failure as STORE_UNREACHABLE naming the database; other errors as they are. */
export function postgresErrorOf(err: unknown, where: string): unknown {
  if (err instanceof WfError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = (err as Error)?.message ?? String(err);
  const connectionLost = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
  if ((typeof code === 'string' && (UNREACHABLE_ERRNO.has(code) || UNREACHABLE_SQLSTATE.test(code))) || connectionLost) {
    return new WfError('STORE_UNREACHABLE', `PostgreSQL at ${where}: ${typeof code === 'string' ? `${code} ` : ''}(${message})`);
  }
  return err;
}

export interface PostgresSqlOptions {
  /** Connections in the pool (pg's default is 10). */
  max?: number;
  /** Called with errors of idle connections (the server restarted); without a listener they would crash the process. */
  onIdleError?: (err: Error) => void;
}

export class PostgresSql implements Sql {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  /** host:port/db, for messages. */
  readonly where: string;
  private readonly statements = new Map<string, { text: string; name?: string }>();
  private readonly outer: SqlRunner;

  constructor(url: string, opts: PostgresSqlOptions = {}) {
    this.where = describePostgresUrl(url);
    this.pool = new Pool({ connectionString: url, max: opts.max ?? 10, types: typeParsers, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    this.pool.on('error', (err) => opts.onIdleError?.(err));
    this.outer = this.runner(this.pool);
  }

  /** Connect once (a start-up check): STORE_UNREACHABLE naming the database when it cannot be reached. */
  async ping(): Promise<void> {
    await this.all('SELECT 1');
  }

  private statement(sql: string, params: readonly SqlValue[]): pg.QueryConfig {
    let s = this.statements.get(sql);
    if (!s) {
      const text = toPostgresPlaceholders(sql);
      s = this.statements.size < STATEMENT_CACHE_MAX ? { text, name: `wf${this.statements.size}` } : { text };
      if (s.name) this.statements.set(sql, s);
    }
    return { text: s.text, name: s.name, values: params.map(toPg) };
  }

  private runner(client: pg.Pool | pg.PoolClient): SqlRunner {
    const query = async (sql: string, params: readonly SqlValue[] = []) => {
      try {
        return await client.query(this.statement(sql, params));
      } catch (err) {
        throw postgresErrorOf(err, this.where);
      }
    };
    return {
      all: async <T>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows as T[],
      get: async <T>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows[0] as T | undefined,
      run: async (sql: string, params?: readonly SqlValue[]) => ({ changes: (await query(sql, params)).rowCount ?? 0 }),
    };
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.outer.all<T>(sql, params);
  }

  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.outer.get<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.outer.run(sql, params);
  }

  /** A pooled connection for work that needs one session (migrations: several statements, a lock). */
  async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw postgresErrorOf(err, this.where);
    }
  }

  async tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        const result = await fn(this.runner(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          // The connection is gone: the server rolls back on its own; the client must not be reused.
          broken = rollbackErr as Error;
        }
        throw e;
      }
    } catch (err) {
      throw postgresErrorOf(err, this.where);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
