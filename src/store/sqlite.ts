/**
 * The SQLite backend (the default): one file under the data directory, nothing to install or start.
 * better-sqlite3 is synchronous; kysely serialises this process's transactions on its one
 * connection, and SQLite's own write lock serialises processes sharing the file. WAL journal (readers
 * do not block the writer), `synchronous = FULL` (a commit acknowledged to a client survives a crash
 * of the process and of the machine). A writer that finds the lock taken waits at most
 * BUSY_WAIT_MS inside SQLite (a blocking wait: better-sqlite3 is synchronous), then gives up and the
 * store retries the whole transaction after an asynchronous pause, so that another connection of
 * the same process holding the lock across an `await` can finish. A database file it creates is
 * mode 0600 (and its directory 0700).
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import { migrate } from './migrations.js';
import { type Database as Tables, SqlStore } from './sql-store.js';

/** Milliseconds SQLite itself waits for a busy lock before the store's asynchronous retry. */
export const BUSY_WAIT_MS = 20;

/** Opens (creating if needed) a SQLite store and applies pending migrations. */
export async function openSqliteStore(file: string): Promise<SqlStore> {
  if (file !== ':memory:') {
    // The fleet's data is the service's alone: a new database (and so its -wal and -shm files,
    // which SQLite creates with the database's mode) is readable by its owner only.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (!existsSync(file)) {
      try {
        closeSync(openSync(file, 'wx', 0o600));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db, 'sqlite');
  return new SqlStore({
    kind: 'sqlite',
    location: file,
    db,
    isUniqueViolation: (err) => {
      const code = (err as { code?: unknown } | null)?.code;
      return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
    },
    isBusy: (err) => {
      const code = (err as { code?: unknown } | null)?.code;
      return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
    },
    close: () => db.destroy(),
  });
}
