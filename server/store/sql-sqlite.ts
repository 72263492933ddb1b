// Sql over one better-sqlite3 connection. better-sqlite3 is synchronous, so a transaction that
// awaits in the middle would let other callers' statements land inside it: while one is open,
// everything else queues behind it (the gate) and only the transaction's own runner goes through.
import type Database from 'better-sqlite3';
import type { Sql, SqlRunner, SqlValue } from './sql.js';

// Statements are static strings in the repositories; the cap only guards against a caller
// that builds SQL text per request (an IN list of varying length).
const STATEMENT_CACHE_MAX = 512;

const toSqlite = (v: SqlValue): unknown => (typeof v === 'boolean' ? (v ? 1 : 0) : v);

export class SqliteSql implements Sql {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Database.Statement>();
  private open: Promise<void> | null = null;

  constructor(readonly db: Database.Database) {}

  private statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      if (this.statements.size >= STATEMENT_CACHE_MAX) this.statements.clear();
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  // The runner that bypasses the gate: the transaction's own, and the outer one once the gate is clear.
  private readonly direct: SqlRunner = {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => this.statement(sql).all(...params.map(toSqlite)) as T[],
    get: async <T>(sql: string, params: readonly SqlValue[] = []) => this.statement(sql).get(...params.map(toSqlite)) as T | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => ({ changes: this.statement(sql).run(...params.map(toSqlite)).changes }),
  };

  private async gate(): Promise<void> {
    while (this.open) await this.open;
  }

  async all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    if (this.open) await this.gate();
    return this.direct.all<T>(sql, params);
  }

  async get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    if (this.open) await this.gate();
    return this.direct.get<T>(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    if (this.open) await this.gate();
    return this.direct.run(sql, params);
  }

  async tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
    // No await between seeing the gate clear and closing it, or two transactions would both pass.
    while (this.open) await this.open;
    let release!: () => void;
    this.open = new Promise<void>((r) => (release = r));
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.direct);
        this.db.exec('COMMIT');
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
    } finally {
      this.open = null;
      release();
    }
  }

  async close(): Promise<void> {
    await this.gate();
    this.db.close();
  }
}
