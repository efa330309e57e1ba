/**
 * Opens the store a `--db` value names: `sqlite:FILE` (or a bare path ending in .db/.sqlite),
 * `postgres://...` / `postgresql://...`; nothing = SQLite at `DATA_DIR/fleet.db`.
 */
import { join } from 'node:path';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { FleetStore, StoreOptions } from './types.js';

export type { Durability, StoreOptions } from './types.js';

/** Error for a --db value that names no store. */
export class StoreConfigError extends Error {
  readonly code = 'ERR_STORE_CONFIG';
  readonly path = '--db';
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
