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
 *
 * A service's group commits (`commitFlush`) are written by a thread of their own with its own
 * connection (sqlite-writer.ts): their statements, their commit and the log's sync do not hold the
 * event loop, which goes on deciding the next requests meanwhile (two group commits may be at the
 * writer at once, on different hosts). `NUMAPLAN_SQLITE_SYNC` writes them on this connection instead,
 * for comparison: `loop` as before the writer thread (the log synced where it costs least, by the
 * disk's recent sync latency, INLINE_SYNC_MS: inside the commit on a fast disk; on a slow one the
 * transaction commits with `synchronous = NORMAL` and the log is synced with fdatasync on libuv's
 * thread pool, the requests answered only after that sync returned, see WalSync), `inline` always
 * inside the commit, `pool` always on the thread pool. Every way, a commit acknowledged is on disk
 * exactly as with `synchronous = FULL`.
 *
 * With durability `commit` (see open.ts) a group commit is answered at once: its log is written to
 * the operating system and not waited for on disk (SQLite syncs it before each checkpoint).
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import { migrate } from './migrations.js';
import { BACKSTOP_PAGES, WalCheckpointer } from './sqlite-checkpoint.js';
import type { StoreOptions } from './types.js';
import { type Database as Tables, SqlStore } from './sql-store.js';
import type { FleetBatch } from './types.js';
import { type Flush, type FlushOutcome, writeFlush } from './flush.js';
import { SqliteBatch } from './sqlite-batch.js';
import { SqliteWriter } from './sqlite-writer.js';
import { WalSync } from './wal-sync.js';

/**
 * A log sync this fast (ms, smoothed over the last ones) is made inside the commit, on the event
 * loop, rather than on the thread pool. Waiting briefly costs less than the thread pool's round
 * trip, and the requests that arrive meanwhile gather into the next group commit: on this
 * machine with syncs of 0.1 ms, 8 clients placed 1.33-1.38x as many VMs per second that way, in groups
 * of 7 rather than 3 (the off-loop sync answers sooner, so each transaction carries fewer requests).
 * A slow disk (syncs of several ms under load) is synced off the loop, where that wins.
 */
export const INLINE_SYNC_MS = 1;

/** A smoothed sync latency (ms): each new sample weighs a tenth. */
export class SyncLatency {
  ms = 0;
  add(sample: number): void {
    this.ms += (sample - this.ms) / 10;
  }
}

/** Group commits a service instance may have at the writer thread at once (see FleetStore.commitDepth). */
export const WRITER_DEPTH = 2;

/** Where group commits are written: NUMAPLAN_SQLITE_SYNC (unset: `thread`). */
type CommitMode = 'thread' | 'loop' | 'inline' | 'pool';

function commitMode(value: string | undefined): CommitMode {
  if (value === undefined || value === '') return 'thread';
  if (value === 'thread' || value === 'loop' || value === 'inline' || value === 'pool') return value;
  throw new Error(`NUMAPLAN_SQLITE_SYNC: expected thread, loop, inline or pool, got "${value}"`);
}

/** Milliseconds SQLite itself waits for a busy lock before the store's asynchronous retry. */
export const BUSY_WAIT_MS = 20;

/** Opens (creating if needed) a SQLite store and applies pending migrations. */
export async function openSqliteStore(file: string, options: StoreOptions = {}): Promise<SqlStore> {
  const durability = options.durability ?? 'disk';
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
  const native = new SqliteBatch(sqlite);
  // Group commits commit without a sync of their own when the database is a file in WAL mode (not
  // :memory:): the log is then synced off the event loop (durability disk), or not waited for (commit).
  const walFile = file !== ':memory:' && String(sqlite.pragma('journal_mode', { simple: true })) === 'wal';
  // Where group commits are written (see the module comment): the writer thread unless
  // NUMAPLAN_SQLITE_SYNC names one of the ways on this connection (for comparison).
  const mode = commitMode(process.env.NUMAPLAN_SQLITE_SYNC);
  // Started by the first group commit: a store that never makes one (the CLI's) starts no thread.
  const threaded = walFile && mode === 'thread';
  let writer: SqliteWriter | null = null;
  const startWriter = (): SqliteWriter =>
    (writer ??= new SqliteWriter({ file, busyMs: BUSY_WAIT_MS, synchronous: durability === 'disk' ? 'FULL' : 'NORMAL', autocheckpointPages: BACKSTOP_PAGES }));
  const staged = (mode === 'loop' || mode === 'pool') && walFile && existsSync(`${file}-wal`);
  const wal = staged && durability === 'disk' ? new WalSync(`${file}-wal`) : null;
  // A file's log is checkpointed in a worker thread, not by the commit that fills it (see sqlite-checkpoint.ts).
  const checkpointer = walFile ? new WalCheckpointer(file, BUSY_WAIT_MS) : null;
  if (checkpointer) sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  // Fast syncs are made inside the commit (see INLINE_SYNC_MS); NUMAPLAN_SQLITE_SYNC=pool always syncs on the thread pool.
  const latency = new SyncLatency();
  const inlineWhenFast = mode !== 'pool';
  if (wal) wal.onSynced = (ms) => latency.add(ms);
  const syncNormal = sqlite.prepare('pragma synchronous = NORMAL');
  const syncFull = sqlite.prepare('pragma synchronous = FULL');
  // Prepared once, not parsed again for every transaction.
  const begin = sqlite.prepare('begin immediate');
  const commit = sqlite.prepare('commit');
  const rollback = sqlite.prepare('rollback');
  /** One group-commit transaction; `relaxed`: commit without syncing (the caller syncs the log). */
  const transaction = <T>(body: (b: FleetBatch) => Promise<T>, relaxed: boolean): Promise<T> =>
    // Inside kysely's connection (its mutex keeps its own queries out), on the same connection:
    // BEGIN IMMEDIATE takes the write lock at once, so the generations read stay current.
    db.connection().execute(async () => {
      if (relaxed) syncNormal.run();
      try {
        begin.run();
        try {
          const out = await body(native);
          commit.run();
          checkpointer?.wrote();
          return out;
        } catch (err) {
          if (sqlite.inTransaction) rollback.run();
          throw err;
        }
      } finally {
        if (relaxed) syncFull.run();
      }
    });
  return new SqlStore({
    kind: 'sqlite',
    durability,
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
    batch: <T>(body: (b: FleetBatch) => Promise<T>): Promise<T> => transaction(body, false),
    ...(threaded
      ? {
          // A writer thread that failed leaves the group commits to this connection, one at a time
          // (a chained host then conflicts: only the writer can check its chain).
          commitDepth: () => (writer === null || writer.alive ? WRITER_DEPTH : 1),
          chainedCommits: () => writer === null || writer.alive,
          commitFlush: async (flush: Flush): Promise<{ value: FlushOutcome; durable: Promise<void> }> => {
            const w = startWriter();
            if (!w.alive) return { value: await transaction((b) => writeFlush(b, flush), false), durable: Promise.resolve() };
            const value = await w.write(flush);
            checkpointer?.wrote();
            return { value, durable: Promise.resolve() };
          },
        }
      : {}),
    ...(staged
      ? {
          stagedBatch: async <T>(body: (b: FleetBatch) => Promise<T>): Promise<{ value: T; durable: Promise<void> }> => {
            if (wal && inlineWhenFast && latency.ms < INLINE_SYNC_MS) {
              // A fast disk: the commit syncs the log itself (synchronous = FULL), timed.
              const t0 = performance.now();
              const value = await transaction(body, false);
              latency.add(performance.now() - t0);
              return { value, durable: Promise.resolve() };
            }
            const value = await transaction(body, true);
            const durable = wal ? wal.sync() : Promise.resolve();
            // A caller that fails before awaiting it must not leave an unhandled rejection.
            durable.catch(() => undefined);
            return { value, durable };
          },
        }
      : {}),
    close: async () => {
      await (writer as SqliteWriter | null)?.close();
      await wal?.close();
      await checkpointer?.close();
      await db.destroy();
    },
  });
}
