// Types of what a JavaScript revision sees: `db`, `log` and `DatabaseError`
// are in scope (or `require('retort')`). Written by `retort init --lang js`
// so that editors check revisions (see jsconfig.json); the runtime is built
// into Retort's JavaScript interpreter.
//
// A revision sets `exports.id`, `exports.parents`, `exports.message` (and
// optionally `branchLabels`, `dependsOn`, `transactional`) and exports
// `upgrade()` and `downgrade()`.

/** What a statement parameter may be (integers exact up to 2^53 - 1). */
type RetortParam = null | undefined | boolean | number | bigint | string | Uint8Array;

/** What a query returns in a row. */
type RetortValue = null | boolean | number | string | Uint8Array;

/** Rows of a query: an array of arrays, with the column names. */
interface RetortRows extends Array<RetortValue[]> {
  columns: string[];
}

interface RetortDb {
  /** The database the revision runs against. */
  readonly dialect: 'postgres' | 'mysql' | 'sqlite';
  /** `"offline"` when statements are recorded into a script rather than run. */
  readonly mode: 'online' | 'offline';
  readonly offline: boolean;
  /** Runs one statement (`$1`..`$N` placeholders); returns rows affected (0 offline). Throws DatabaseError. */
  execute(sql: string, params?: RetortParam[]): number;
  /** Runs one statement that returns rows. Fails offline. */
  query(sql: string, params?: RetortParam[]): RetortRows;
}

interface RetortLog {
  /** `log(m)` is `log.info(m)`. */
  (message: unknown): void;
  trace(message: unknown): void;
  debug(message: unknown): void;
  info(message: unknown): void;
  warn(message: unknown): void;
  error(message: unknown): void;
}

/** The database refused a statement; `code` is its SQLSTATE or error code. */
declare class DatabaseError extends Error {
  constructor(message: string, code?: string | null);
  code: string | null;
}

declare const db: RetortDb;
declare const log: RetortLog;

interface RetortRevision {
  id: string;
  parents?: string | string[] | null;
  message?: string;
  branchLabels?: string | string[] | null;
  dependsOn?: string | string[] | null;
  transactional?: boolean;
  upgrade(): void;
  downgrade(): void;
}

declare module 'retort' {
  export const db: RetortDb;
  export const log: RetortLog;
  const DatabaseErrorClass: typeof DatabaseError;
  export { DatabaseErrorClass as DatabaseError };
}
