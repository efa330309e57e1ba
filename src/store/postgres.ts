/**
 * The PostgreSQL backend, for several service instances sharing one fleet. A pool of connections;
 * BIGINT columns are read as JS numbers (every value stored is a safe integer: byte counts and
 * milliseconds). Conflicting writers meet on the host row: PostgreSQL makes the second UPDATE wait
 * for the first to commit and then re-checks its `generation = g` condition on the new row, which
 * fails, so the second writer sees zero rows and retries from fresh state.
 */
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { migrate } from './migrations.js';
import { writeSimpleFlush } from './postgres-flush.js';
import type { Durability } from './types.js';
import type { Flush } from './flush.js';
import { type Database as Tables, SqlStore } from './sql-store.js';

const INT8_OID = 20;

/** Options of the PostgreSQL store. */
export interface PostgresOptions {
  /** Pool size (default 10). */
  max?: number;
  /** `commit`: the pool's sessions commit with `synchronous_commit = off` (see Durability). */
  durability?: Durability;
}

/** How group commits are written: NUMAPLAN_PG_FLUSH (unset: `statement`). */
function flushMode(value: string | undefined): 'statement' | 'transaction' {
  if (value === undefined || value === '' || value === 'statement') return 'statement';
  if (value === 'transaction') return value;
  throw new Error(`NUMAPLAN_PG_FLUSH: expected statement or transaction, got "${value}"`);
}

/** The URL without its password, for logs and /health. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}

/** Connects to a PostgreSQL database and applies pending migrations. */
export async function openPostgresStore(url: string, options: PostgresOptions = {}): Promise<SqlStore> {
  // Checked before anything is opened: a bad value is an error, not a pool left behind.
  const mode = flushMode(process.env.NUMAPLAN_PG_FLUSH);
  const types = {
    getTypeParser: ((oid: number, format?: string) =>
      oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  };
  const durability = options.durability ?? 'disk';
  // `commit`: every session of the pool starts with synchronous_commit off (a startup parameter), so
  // a commit returns before its WAL record is flushed (PostgreSQL's own asynchronous commit).
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, types, ...(durability === 'commit' ? { options: '-c synchronous_commit=off' } : {}) });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrate(db, 'postgres');
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new SqlStore({
    kind: 'postgres',
    durability,
    location: redactUrl(url),
    db,
    isUniqueViolation: (err) => (err as { code?: unknown } | null)?.code === '23505',
    // serialization_failure / deadlock_detected: safe to run the transaction again.
    isBusy: (err) => {
      const code = (err as { code?: unknown } | null)?.code;
      return code === '40001' || code === '40P01';
    },
    // A flush that only adds VMs is one statement (postgres-flush.ts); NUMAPLAN_PG_FLUSH=transaction
    // writes every flush with the shared transaction instead, for comparison.
    ...(mode === 'statement'
      ? {
          commitFlush: async (flush: Flush) => {
            const value = await writeSimpleFlush(pool, flush);
            return value === null ? null : { value, durable: Promise.resolve() };
          },
        }
      : {}),
    close: () => db.destroy(),
  });
}
