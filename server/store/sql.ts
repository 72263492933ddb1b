// The one interface every repository talks to, whatever holds the data: SQLite (better-sqlite3,
// the embedded default) or PostgreSQL (pg, for several server instances). Statements are written
// once, with `?` placeholders, in the SQL both engines accept (docs/architecture.md §store).
// Each implementation turns the placeholders into its own and maps its values back:
// integers come back as JS numbers (BIGINT included), blobs as Uint8Array, NULL as null.

export type SqlValue = string | number | bigint | boolean | null | Uint8Array;

export interface SqlRunner {
  /** Every row of a query. */
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** A statement that changes rows: how many it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

export type SqlDialect = 'sqlite' | 'postgres';

export interface Sql extends SqlRunner {
  readonly dialect: SqlDialect;
  /**
   * Run `fn` in one transaction: committed when it resolves, rolled back when it throws.
   * Statements issued through the outer Sql while a transaction is open wait for it to end
   * (SQLite has one connection: nothing may slip into someone else's transaction).
   */
  tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Run `fn` in the caller's transaction when it is in one (`q` is a transaction's runner), else
 * in a new one (`q` is the Sql itself). Repository methods take `q: SqlRunner = this.sql` as
 * their last parameter, so one method serves both: alone, or as one step of a larger transaction.
 */
export function inTx<T>(sql: Sql, q: SqlRunner, fn: (q: SqlRunner) => Promise<T>): Promise<T> {
  return q === sql ? sql.tx(fn) : fn(q);
}
