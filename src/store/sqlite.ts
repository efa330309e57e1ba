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
 * The group commit (`stagedBatch`) syncs the log where it costs least, by the disk's recent sync
 * latency (INLINE_SYNC_MS). On a slow disk it keeps the event loop free while the disk syncs: its
 * transaction commits with `synchronous = NORMAL` (the write-ahead log is written, not synced;
 * SQLite keeps the database consistent and syncs around checkpoints itself), then the log file is
 * synced with fdatasync on libuv's thread pool, and the batch's requests are answered only after
 * that sync returned (a sync covers every commit written before it started; see WalSync), while the
 * decisions and commits of the next batch overlap it. On a fast disk the commit syncs the log itself
 * (`synchronous = FULL`, as every other write here does). Either way a commit acknowledged is on
 * disk exactly as with `synchronous = FULL`. `NUMAPLAN_SQLITE_SYNC=pool` always syncs on the thread
 * pool; `NUMAPLAN_SQLITE_SYNC=inline` always inside the commit, as before either existed (both for
 * comparison).
 *
 * With durability `commit` (see open.ts) a group commit is answered at once: its log is written to
 * the operating system and not waited for on disk (SQLite syncs it before each checkpoint).
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, fdatasync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import { migrate } from './migrations.js';
import { BACKSTOP_PAGES, WalCheckpointer } from './sqlite-checkpoint.js';
import type { StoreOptions } from './types.js';
import { type Database as Tables, SqlStore } from './sql-store.js';
import type { FleetBatch, HostChange, HostPut, NewEvent } from './types.js';

/** The group-commit statements, prepared once per database (better-sqlite3 caches nothing itself). */
function statements(db: Database.Database) {
  return {
    generation: db.prepare<[string], { generation: number }>('select generation from hosts where name = ?'),
    vmExists: db.prepare<[string], { name: string }>('select name from vms where name = ?'),
    hostStats: db.prepare('update hosts set generation = ?, free_cpus = ?, free_memory = ?, vms = ?, updated_at = ? where name = ? and generation = ?'),
    deleteVm: db.prepare('delete from vms where host = ? and name = ?'),
    updateVm: db.prepare('update vms set status = ?, expires_at = ?, allocation = ?, displaced = ?, updated_at = ? where host = ? and name = ?'),
    insertVm: db.prepare('insert into vms (name, host, status, expires_at, allocation, placement, created_at, updated_at, displaced) values (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    insertEvent: db.prepare('insert into events (at, kind, host, vm, instance, data) values (?, ?, ?, ?, ?, ?)'),
    insertHost: db.prepare(
      'insert into hosts (name, source, topology, reserve, topo_version, generation, nodes, total_cpus, free_cpus, total_memory, free_memory, vms, created_at, updated_at) values (?, ?, ?, ?, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    updateHost: db.prepare('update hosts set generation = ?, nodes = ?, total_cpus = ?, free_cpus = ?, total_memory = ?, free_memory = ?, vms = ?, updated_at = ? where name = ? and generation = ?'),
    updateTopology: db.prepare('update hosts set source = ?, topology = ?, reserve = ?, topo_version = topo_version + 1 where name = ?'),
    deleteHost: db.prepare('delete from hosts where name = ?'),
    updatePlacement: db.prepare('update vms set placement = ? where host = ? and name = ?'),
    planVersion: db.prepare<[string], { version: number }>('select version from plans where id = ?'),
    updatePlan: db.prepare('update plans set status = ?, next_step = ?, progress = ?, version = ?, updated_at = ? where id = ? and version = ?'),
  };
}

/** One group-commit transaction on SQLite's own connection (see FleetBatch); the caller holds the write lock. */
class SqliteBatch implements FleetBatch {
  constructor(private readonly s: ReturnType<typeof statements>) {}

  async generations(hosts: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const h of hosts) {
      const r = this.s.generation.get(h);
      if (r) out.set(h, Number(r.generation));
    }
    return out;
  }

  async planVersions(ids: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const id of ids) {
      const r = this.s.planVersion.get(id);
      if (r) out.set(id, Number(r.version));
    }
    return out;
  }

  async takenNames(names: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const n of names) if (this.s.vmExists.get(n)) out.add(n);
    return out;
  }

  async applyChanges(changes: readonly HostChange[]): Promise<void> {
    for (const c of changes) {
      const st = c.stats;
      const r = this.s.hostStats.run(c.expectedGeneration + 1, st.freeCpus, st.freeMemory, st.vms, c.now, c.host, c.expectedGeneration);
      if (r.changes !== 1) throw new Error(`internal: host ${c.host} moved from generation ${c.expectedGeneration} inside the transaction`);
      for (const name of c.removed) this.s.deleteVm.run(c.host, name);
      for (const u of c.updated) this.updateVm(c.host, u, c.now);
      for (const w of c.plans ?? []) {
        const p = this.s.updatePlan.run(w.status, w.nextStep, JSON.stringify(w.progress), w.expectedVersion + 1, c.now, w.id, w.expectedVersion);
        if (p.changes !== 1) throw new Error(`internal: plan ${w.id} moved from version ${w.expectedVersion} inside the transaction`);
      }
      for (const a of c.added) {
        this.s.insertVm.run(a.name, a.host, a.status, a.expiresAt, JSON.stringify(a.allocation), a.placementJson ?? JSON.stringify(a.placement), c.now, c.now, a.allocation.displaced ? 1 : 0);
      }
      await this.appendEvents(c.events);
    }
  }

  private updateVm(host: string, u: HostChange['updated'][number], now: number): void {
    this.s.updateVm.run(u.status, u.expiresAt, JSON.stringify(u.allocation), u.allocation.displaced ? 1 : 0, now, host, u.name);
    if (u.placement !== undefined) this.s.updatePlacement.run(JSON.stringify(u.placement), host, u.name);
  }

  async putHosts(puts: readonly HostPut[]): Promise<void> {
    for (const p of puts) {
      const st = p.stats;
      if (p.expectedGeneration === null) {
        this.s.insertHost.run(p.name, p.source, p.topology, p.reserve, st.nodes, st.totalCpus, st.freeCpus, st.totalMemory, st.freeMemory, st.vms, p.now, p.now);
      } else {
        const r = this.s.updateHost.run(p.expectedGeneration + 1, st.nodes, st.totalCpus, st.freeCpus, st.totalMemory, st.freeMemory, st.vms, p.now, p.name, p.expectedGeneration);
        if (r.changes !== 1) throw new Error(`internal: host ${p.name} moved from generation ${p.expectedGeneration} inside the transaction`);
        if (p.topologyChanged) this.s.updateTopology.run(p.source, p.topology, p.reserve, p.name);
      }
      for (const u of p.vms ?? []) this.updateVm(p.name, u, p.now);
      await this.appendEvents(p.events);
    }
  }

  async removeHosts(names: readonly string[], events: readonly NewEvent[]): Promise<void> {
    for (const n of names) this.s.deleteHost.run(n);
    await this.appendEvents(events);
  }

  async appendEvents(events: readonly NewEvent[]): Promise<void> {
    for (const e of events) this.s.insertEvent.run(e.at, e.kind, e.host, e.vm, e.instance, JSON.stringify(e.data ?? null));
  }
}

/** fdatasync calls on one log at a time (libuv's thread pool has 4 threads; one is left to other work). */
const SYNCS_IN_FLIGHT = 3;

/**
 * Syncs a database's write-ahead log off the event loop: each request starts an fdatasync on the
 * thread pool (so it covers every write made before the request), up to SYNCS_IN_FLIGHT at once;
 * requests beyond that share the next one to start. Overlapping syncs of one file cost the disk
 * little more than one (the kernel writes each dirty page once and merges the cache flushes): on
 * the development machine one at a time managed about 600 syncs/s, two or more at once several
 * thousand.
 */
class WalSync {
  private fd: number;
  private running = 0;
  private waiting: { promise: Promise<void>; start: () => void } | null = null;

  /** Told how long each sync took (ms), from its start to its callback. */
  onSynced: ((ms: number) => void) | null = null;

  constructor(private readonly path: string) {
    this.fd = openSync(path, 'r');
  }

  /** Resolves once everything written to the log before the call is on disk. */
  sync(): Promise<void> {
    if (this.running < SYNCS_IN_FLIGHT) return this.start();
    if (!this.waiting) {
      let start: () => void = () => undefined;
      const promise = new Promise<void>((resolve, reject) => {
        start = () => this.start().then(resolve, reject);
      });
      this.waiting = { promise, start };
    }
    return this.waiting.promise;
  }

  private start(): Promise<void> {
    // SQLite deletes the log only when the last connection closes (never while this store is
    // open); should it be gone anyway, the file at the path is the one written now.
    if (fstatSync(this.fd).nlink === 0) {
      closeSync(this.fd);
      this.fd = openSync(this.path, 'r');
    }
    this.running++;
    const t0 = performance.now();
    return new Promise<void>((resolve, reject) => {
      fdatasync(this.fd, (err) => {
        this.running--;
        if (!err) this.onSynced?.(performance.now() - t0);
        const next = this.waiting;
        this.waiting = null;
        next?.start();
        if (err) reject(err);
        else resolve();
      });
    });
  }

  async close(): Promise<void> {
    while (this.running > 0 || this.waiting) await new Promise((r) => setTimeout(r, 1));
    closeSync(this.fd);
  }
}

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
  const prepared = statements(sqlite);
  const native = new SqliteBatch(prepared);
  // Group commits commit without a sync of their own when the database is a file in WAL mode (not
  // :memory:): the log is then synced off the event loop (durability disk), or not waited for (commit).
  const walFile = file !== ':memory:' && String(sqlite.pragma('journal_mode', { simple: true })) === 'wal';
  const staged = process.env.NUMAPLAN_SQLITE_SYNC !== 'inline' && walFile && existsSync(`${file}-wal`);
  const wal = staged && durability === 'disk' ? new WalSync(`${file}-wal`) : null;
  // A file's log is checkpointed in a worker thread, not by the commit that fills it (see sqlite-checkpoint.ts).
  const checkpointer = walFile ? new WalCheckpointer(file, BUSY_WAIT_MS) : null;
  if (checkpointer) sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  // Fast syncs are made inside the commit (see INLINE_SYNC_MS); NUMAPLAN_SQLITE_SYNC=pool always syncs on the thread pool.
  const latency = new SyncLatency();
  const inlineWhenFast = process.env.NUMAPLAN_SQLITE_SYNC !== 'pool';
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
      await wal?.close();
      await checkpointer?.close();
      await db.destroy();
    },
  });
}
