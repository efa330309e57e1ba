/**
 * Opens the store a `--db` value names: `sqlite:FILE` (or a bare path ending in .db/.sqlite),
 * `postgres://...` / `postgresql://...`; nothing = SQLite at `DATA_DIR/fleet.db`.
 */
import { join } from 'node:path';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { FleetStore } from './types.js';

/** Error for a --db value that names no store. */
export class StoreConfigError extends Error {
  readonly code = 'ERR_STORE_CONFIG';
  readonly path = '--db';
}

/**
 * When the service answers a write (see `numaplan serve --durability`):
 * - `disk` (default): once its commit is on disk (SQLite's log synced with fdatasync, PostgreSQL's
 *   synchronous commit): an answered placement survives a crash of the service and of the machine.
 * - `commit`: once it committed (SQLite's log written to the operating system, not yet synced;
 *   PostgreSQL with `synchronous_commit = off`): it survives a crash of the service; a crash of the
 *   machine (or of the PostgreSQL server) can lose the last placements answered, up to a second or
 *   so, and leaves the database consistent. The wait for the disk is most of a placement's time.
 */
export type Durability = 'disk' | 'commit';

/** Options of the store. */
export interface StoreOptions {
  durability?: Durability;
}

/** Opens (and migrates) the store. */
export async function openStore(db: string | undefined, dataDir: string, options: StoreOptions = {}): Promise<FleetStore> {
  if (db === undefined || db === '') return openSqliteStore(join(dataDir, 'fleet.db'), options);
  if (db.startsWith('postgres://') || db.startsWith('postgresql://')) return openPostgresStore(db, options);
  if (db.startsWith('sqlite:')) {
    const file = db.slice('sqlite:'.length);
    if (file === '') throw new StoreConfigError('--db: sqlite: needs a file, e.g. sqlite:fleet.db');
    return openSqliteStore(file, options);
  }
  if (/\.(db|sqlite3?)$/.test(db)) return openSqliteStore(db, options);
  throw new StoreConfigError(`--db: expected sqlite:FILE or postgres://USER@HOST/DB, got "${db}"`);
}
