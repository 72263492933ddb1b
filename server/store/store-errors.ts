// Disk faults of the data directory as typed errors naming the path and the cause, instead of
// INTERNAL (the CLI's "bug" exit code) or a stack trace. Node fs errors carry errno codes,
// better-sqlite3 errors SQLite result codes; both map here.
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { WfError } from '../../protocol/errors.js';

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'SQLITE_FULL']);
const READ_ONLY = new Set(['EROFS', 'EACCES', 'EPERM', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_CANTOPEN']);

/** The typed store error for a system error, or undefined when `err` is not one. */
export function storeErrorOf(err: unknown, path?: string): WfError | undefined {
  if (err instanceof WfError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return undefined;
  const where = path ?? (err as { path?: string }).path;
  const detail = `${where ? `${where}: ` : ''}${code} (${(err as Error).message})`;
  if (DISK_FULL.has(code)) return new WfError('STORE_DISK_FULL', detail);
  if (READ_ONLY.has(code)) return new WfError('STORE_READ_ONLY', detail);
  const fromFs = typeof (err as { syscall?: unknown }).syscall === 'string';
  if ((fromFs && /^E[A-Z]+$/.test(code)) || code.startsWith('SQLITE_IOERR')) return new WfError('STORE_IO', detail);
  return undefined;
}

/** Run a store operation; system errors come out typed. */
export function storeOp<T>(path: string, op: () => T): T {
  try {
    return op();
  } catch (err) {
    throw storeErrorOf(err, path) ?? err;
  }
}

/** storeOp for an asynchronous operation. */
export async function storeOpAsync<T>(path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw storeErrorOf(err, path) ?? err;
  }
}

/**
 * mkdir -p with the real cause: on a read-only file system a recursive mkdir reports ENOENT, so
 * the nearest existing ancestor is asked whether it is writable.
 */
export function ensureDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    let ancestor = path;
    while (!existsSync(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
    try {
      accessSync(ancestor, constants.W_OK);
    } catch (cause) {
      throw storeErrorOf(cause, path) ?? cause;
    }
    throw storeErrorOf(err, path) ?? err;
  }
}
