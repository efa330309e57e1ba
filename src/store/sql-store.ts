/**
 * The store over SQL, one implementation for both backends (kysely builds the dialect's SQL). The
 * backends (`sqlite.ts`, `postgres.ts`) only open the connection, set their options and say which
 * driver errors mean "unique key taken" and "busy, try again".
 *
 * Every conditional write is one transaction that starts with
 * `UPDATE hosts SET generation = g + 1 ... WHERE name = ? AND generation = g`: zero rows updated
 * means another writer got there first, and the transaction is rolled back (`conflict`).
 */
import type { Durability } from './types.js';
import { type Generated, type Kysely, type Transaction, sql } from 'kysely';
import type { Allocation } from '../core/placement/state.js';
import { type Flush, type FlushOutcome, writeFlush } from './flush.js';
import { appliedMigrations } from './migrations.js';
import type {
  EventKind,
  FleetBatch,
  FleetEvent,
  FleetStore,
  FleetTotals,
  HostChange,
  HostDocument,
  HostPut,
  HostLoad,
  HostRow,
  NewEvent,
  PlanRecord,
  PlanStatus,
  PlanProgress,
  PlanWrite,
  VmLoad,
  VmRecord,
  WriteOutcome,
} from './types.js';

/** Tables as kysely sees them. */
export interface Database {
  hosts: {
    name: string;
    source: string;
    topology: string;
    reserve: string;
    topo_version: number;
    generation: number;
    nodes: number;
    total_cpus: number;
    free_cpus: number;
    total_memory: number;
    free_memory: number;
    vms: number;
    created_at: number;
    updated_at: number;
  };
  vms: {
    name: string;
    host: string;
    status: string;
    expires_at: number | null;
    allocation: string;
    placement: string;
    created_at: number;
    updated_at: number;
    displaced: Generated<number>;
  };
  events: { id: Generated<number>; at: number; kind: string; host: string | null; vm: string | null; instance: string; data: string };
  plans: { id: string; host: string; status: string; version: number; next_step: number; document: string; progress: string; created_at: number; updated_at: number };
}

/** What a backend tells the shared code about its driver. */
export interface Backend {
  kind: 'sqlite' | 'postgres';
  /** When a write is durable enough to answer (see Durability). */
  durability: Durability;
  location: string;
  db: Kysely<Database>;
  /** True for a unique/primary-key violation. */
  isUniqueViolation(err: unknown): boolean;
  /** True for "locked, try again" errors (SQLite busy). */
  isBusy(err: unknown): boolean;
  /** A group-commit transaction run by the driver itself (SQLite: prepared statements, no query builder); absent, the shared one. */
  batch?<T>(body: (b: FleetBatch) => Promise<T>): Promise<T>;
  /** The same, resolving at commit with the promise of its sync to disk (see FleetStore.stagedBatch); absent, `batch`. */
  stagedBatch?<T>(body: (b: FleetBatch) => Promise<T>): Promise<{ value: T; durable: Promise<void> }>;
  /**
   * A group commit written by the driver's own means (SQLite: its writer thread; PostgreSQL: one
   * statement when the flush only adds VMs); null, or absent, `stagedBatch` with writeFlush.
   */
  commitFlush?(flush: Flush): Promise<{ value: FlushOutcome; durable: Promise<void> } | null>;
  /** See FleetStore.commitDepth (absent: 1). */
  commitDepth?(): number;
  /** See FleetStore.chainedCommits (absent: false). */
  chainedCommits?(): boolean;
  close(): Promise<void>;
}

class Abort extends Error {
  constructor(readonly why: 'conflict' | 'name-taken' | 'not-empty') {
    super(why);
  }
}

const HOST_COLUMNS = [
  'name',
  'source',
  'generation',
  'topo_version',
  'nodes',
  'total_cpus',
  'free_cpus',
  'total_memory',
  'free_memory',
  'vms',
  'created_at',
  'updated_at',
] as const;

type HostCols = Pick<Database['hosts'], (typeof HOST_COLUMNS)[number]>;

function hostRow(r: HostCols): HostRow {
  return {
    name: r.name,
    source: r.source,
    generation: Number(r.generation),
    topoVersion: Number(r.topo_version),
    nodes: Number(r.nodes),
    totalCpus: Number(r.total_cpus),
    freeCpus: Number(r.free_cpus),
    totalMemory: Number(r.total_memory),
    freeMemory: Number(r.free_memory),
    vms: Number(r.vms),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function vmRecord(r: Omit<Database['vms'], 'displaced'>): VmRecord {
  return {
    name: r.name,
    host: r.host,
    status: r.status as Allocation['status'],
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    allocation: JSON.parse(r.allocation) as Allocation,
    placement: JSON.parse(r.placement) as unknown,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function eventRow(e: NewEvent): Omit<Database['events'], 'id'> {
  return { at: e.at, kind: e.kind, host: e.host, vm: e.vm, instance: e.instance, data: JSON.stringify(e.data ?? null) };
}

/** Writes one VM's changed status, expiry and allocation (with its displacement mark). */
async function updateVm(trx: Transaction<Database>, host: string, u: HostChange['updated'][number], now: number): Promise<void> {
  await trx
    .updateTable('vms')
    .set({
      status: u.status,
      expires_at: u.expiresAt,
      allocation: JSON.stringify(u.allocation),
      displaced: u.allocation.displaced ? 1 : 0,
      updated_at: now,
      ...(u.placement !== undefined ? { placement: JSON.stringify(u.placement) } : {}),
    })
    .where('host', '=', host)
    .where('name', '=', u.name)
    .execute();
}

function planRecord(r: Database['plans']): PlanRecord {
  return {
    id: r.id,
    host: r.host,
    status: r.status as PlanStatus,
    version: Number(r.version),
    nextStep: Number(r.next_step),
    document: JSON.parse(r.document) as unknown,
    progress: JSON.parse(r.progress) as PlanProgress,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** Writes a plan change whose version was checked in this transaction. */
async function updatePlan(trx: Transaction<Database>, w: PlanWrite, now: number): Promise<void> {
  const r = await trx
    .updateTable('plans')
    .set({ status: w.status, next_step: w.nextStep, progress: JSON.stringify(w.progress), version: w.expectedVersion + 1, updated_at: now })
    .where('id', '=', w.id)
    .where('version', '=', w.expectedVersion)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw new Abort('conflict');
}

/** Rows per multi-row insert and names per IN list (well under SQLite's and PostgreSQL's parameter limits). */
const CHUNK = 200;

function chunks<T>(xs: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

export function vmRow(a: HostChange['added'][number], now: number): Omit<Database['vms'], 'displaced'> & { displaced: number } {
  return {
    name: a.name,
    host: a.host,
    status: a.status,
    expires_at: a.expiresAt,
    allocation: JSON.stringify(a.allocation),
    placement: a.placementJson ?? JSON.stringify(a.placement),
    created_at: now,
    updated_at: now,
    displaced: a.allocation.displaced ? 1 : 0,
  };
}

/** The statements of one group-commit transaction (see FleetBatch). */
class SqlBatch implements FleetBatch {
  constructor(
    private readonly db: Kysely<Database>,
    /** PostgreSQL: lock the host rows read (SQLite holds the database write lock already). */
    private readonly forUpdate: boolean,
  ) {}

  async generations(hosts: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const part of chunks([...new Set(hosts)].sort())) {
      let q = this.db.selectFrom('hosts').select(['name', 'generation']).where('name', 'in', part).orderBy('name');
      if (this.forUpdate) q = q.forUpdate();
      for (const r of await q.execute()) out.set(r.name, Number(r.generation));
    }
    return out;
  }

  async planVersions(ids: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const part of chunks([...new Set(ids)].sort())) {
      let q = this.db.selectFrom('plans').select(['id', 'version']).where('id', 'in', part).orderBy('id');
      if (this.forUpdate) q = q.forUpdate();
      for (const r of await q.execute()) out.set(r.id, Number(r.version));
    }
    return out;
  }

  async takenNames(names: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of chunks(names)) for (const r of await this.db.selectFrom('vms').select('name').where('name', 'in', part).execute()) out.add(r.name);
    return out;
  }

  async applyChanges(changes: readonly HostChange[]): Promise<void> {
    const added: ReturnType<typeof vmRow>[] = [];
    const events: NewEvent[] = [];
    // Every host's generation and numbers in one statement (a round trip per host was most of a group commit's).
    for (const part of chunks(changes)) {
      const rows = part.map(
        (c) =>
          sql`(cast(${c.host} as text), cast(${c.expectedGeneration} as bigint), cast(${c.stats.freeCpus} as bigint), cast(${c.stats.freeMemory} as bigint), cast(${c.stats.vms} as bigint), cast(${c.now} as bigint))`,
      );
      const r = await sql`update hosts set generation = v.expected + 1, free_cpus = v.free_cpus, free_memory = v.free_memory, vms = v.vms, updated_at = v.now
        from (values ${sql.join(rows)}) as v(name, expected, free_cpus, free_memory, vms, now)
        where hosts.name = v.name and hosts.generation = v.expected`.execute(this.db);
      if (Number(r.numAffectedRows) !== part.length) throw new Abort('conflict');
    }
    for (const change of changes) {
      for (const part of chunks(change.removed)) await this.db.deleteFrom('vms').where('host', '=', change.host).where('name', 'in', part).execute();
      for (const u of change.updated) await updateVm(this.db as Transaction<Database>, change.host, u, change.now);
      for (const w of change.plans ?? []) await updatePlan(this.db as Transaction<Database>, w, change.now);
      for (const a of change.added) added.push(vmRow(a, change.now));
      events.push(...change.events);
    }
    for (const part of chunks(added)) await this.db.insertInto('vms').values(part).execute();
    await this.appendEvents(events);
  }

  async putHosts(puts: readonly HostPut[]): Promise<void> {
    for (const put of puts) {
      const stats = { nodes: put.stats.nodes, total_cpus: put.stats.totalCpus, free_cpus: put.stats.freeCpus, total_memory: put.stats.totalMemory, free_memory: put.stats.freeMemory, vms: put.stats.vms };
      if (put.expectedGeneration === null) {
        await this.db
          .insertInto('hosts')
          .values({ name: put.name, source: put.source, topology: put.topology, reserve: put.reserve, topo_version: 1, generation: 1, ...stats, created_at: put.now, updated_at: put.now })
          .execute();
      } else {
        const r = await this.db
          .updateTable('hosts')
          .set((eb) => ({
            generation: (put.expectedGeneration as number) + 1,
            ...stats,
            updated_at: put.now,
            ...(put.topologyChanged ? { source: put.source, topology: put.topology, reserve: put.reserve, topo_version: eb('topo_version', '+', 1) } : {}),
          }))
          .where('name', '=', put.name)
          .where('generation', '=', put.expectedGeneration)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) throw new Abort('conflict');
      }
      for (const u of put.vms ?? []) await updateVm(this.db as Transaction<Database>, put.name, u, put.now);
      await this.appendEvents(put.events);
    }
  }

  async removeHosts(names: readonly string[], events: readonly NewEvent[]): Promise<void> {
    for (const part of chunks(names)) await this.db.deleteFrom('hosts').where('name', 'in', part).execute();
    await this.appendEvents(events);
  }

  async appendEvents(events: readonly NewEvent[]): Promise<void> {
    for (const part of chunks(events)) await this.db.insertInto('events').values(part.map(eventRow)).execute();
  }
}

/**
 * How long a write keeps retrying while the database is busy (SQLite: another connection holds the
 * write lock). Retries wait asynchronously, so a second connection in the same process can finish.
 */
const BUSY_RETRY_MS = 15_000;

/** The shared implementation. */
export class SqlStore implements FleetStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly durability: Durability;
  readonly location: string;
  private readonly db: Kysely<Database>;

  constructor(private readonly backend: Backend) {
    this.kind = backend.kind;
    this.location = backend.location;
    this.durability = backend.durability;
    this.db = backend.db;
  }

  get commitDepth(): number {
    return this.backend.commitDepth?.() ?? 1;
  }

  get chainedCommits(): boolean {
    return this.backend.chainedCommits?.() ?? false;
  }

  migrations(): Promise<string[]> {
    return appliedMigrations(this.db);
  }

  /** Runs `attempt` again while the database is busy (after a short random pause), for up to BUSY_RETRY_MS. */
  private async retryBusy<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + BUSY_RETRY_MS;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (this.backend.isBusy(err) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 2 + Math.floor(Math.random() * 20)));
          continue;
        }
        throw err;
      }
    }
  }

  private async write(body: (trx: Transaction<Database>) => Promise<number>): Promise<WriteOutcome> {
    try {
      return { ok: true, generation: await this.retryBusy(() => this.db.transaction().execute(body)) };
    } catch (err) {
      if (err instanceof Abort) return { ok: false, why: err.why };
      if (this.backend.isUniqueViolation(err)) return { ok: false, why: 'name-taken' };
      throw err;
    }
  }

  async putHost(put: HostPut): Promise<WriteOutcome> {
    const out = await this.write(async (trx) => {
      const stats = {
        nodes: put.stats.nodes,
        total_cpus: put.stats.totalCpus,
        free_cpus: put.stats.freeCpus,
        total_memory: put.stats.totalMemory,
        free_memory: put.stats.freeMemory,
        vms: put.stats.vms,
      };
      let generation: number;
      if (put.expectedGeneration === null) {
        generation = 1;
        const exists = await trx.selectFrom('hosts').select('name').where('name', '=', put.name).executeTakeFirst();
        if (exists) throw new Abort('conflict');
        await trx
          .insertInto('hosts')
          .values({ name: put.name, source: put.source, topology: put.topology, reserve: put.reserve, topo_version: 1, generation, ...stats, created_at: put.now, updated_at: put.now })
          .execute();
      } else {
        generation = put.expectedGeneration + 1;
        const cur = await trx
          .updateTable('hosts')
          .set({ generation, ...stats, updated_at: put.now })
          .where('name', '=', put.name)
          .where('generation', '=', put.expectedGeneration)
          .executeTakeFirst();
        if (Number(cur.numUpdatedRows) !== 1) throw new Abort('conflict');
        if (put.topologyChanged) {
          await trx
            .updateTable('hosts')
            .set((eb) => ({ source: put.source, topology: put.topology, reserve: put.reserve, topo_version: eb('topo_version', '+', 1) }))
            .where('name', '=', put.name)
            .execute();
        }
      }
      for (const u of put.vms ?? []) await updateVm(trx, put.name, u, put.now);
      if (put.events.length > 0) await trx.insertInto('events').values(put.events.map(eventRow)).execute();
      return generation;
    });
    // Two writers registering the same new host: the loser sees the primary key taken.
    return !out.ok && out.why === 'name-taken' ? { ok: false, why: 'conflict' } : out;
  }

  async removeHost(name: string, expectedGeneration: number, now: number, events: NewEvent[]): Promise<WriteOutcome> {
    void now;
    return this.write(async (trx) => {
      const vms = await trx.selectFrom('vms').select('name').where('host', '=', name).limit(1).execute();
      if (vms.length > 0) throw new Abort('not-empty');
      const r = await trx.deleteFrom('hosts').where('name', '=', name).where('generation', '=', expectedGeneration).executeTakeFirst();
      if (Number(r.numDeletedRows) !== 1) throw new Abort('conflict');
      if (events.length > 0) await trx.insertInto('events').values(events.map(eventRow)).execute();
      return expectedGeneration + 1;
    });
  }

  async applyChange(change: HostChange): Promise<WriteOutcome> {
    return this.write(async (trx) => {
      const generation = change.expectedGeneration + 1;
      const s = change.stats;
      const r = await trx
        .updateTable('hosts')
        .set({ generation, free_cpus: s.freeCpus, free_memory: s.freeMemory, vms: s.vms, updated_at: change.now })
        .where('name', '=', change.host)
        .where('generation', '=', change.expectedGeneration)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new Abort('conflict');
      if (change.removed.length > 0) {
        await trx.deleteFrom('vms').where('host', '=', change.host).where('name', 'in', change.removed).execute();
      }
      for (const u of change.updated) await updateVm(trx, change.host, u, change.now);
      for (const w of change.plans ?? []) await updatePlan(trx, w, change.now);
      if (change.added.length > 0) {
        await trx
          .insertInto('vms')
          .values(
            change.added.map((a) => vmRow(a, change.now)),
          )
          .execute();
      }
      if (change.events.length > 0) await trx.insertInto('events').values(change.events.map(eventRow)).execute();
      return generation;
    });
  }

  async appendEvents(events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.write(async (trx) => {
      await trx.insertInto('events').values(events.map(eventRow)).execute();
      return 0;
    });
  }

  async hostRow(name: string): Promise<HostRow | null> {
    const r = await this.db.selectFrom('hosts').select(HOST_COLUMNS).where('name', '=', name).executeTakeFirst();
    return r ? hostRow(r) : null;
  }

  async hostRows(names: readonly string[]): Promise<HostRow[]> {
    const out: HostRow[] = [];
    for (const part of chunks(names)) for (const r of await this.db.selectFrom('hosts').select(HOST_COLUMNS).where('name', 'in', part).execute()) out.push(hostRow(r));
    return out;
  }

  async hostDocument(name: string): Promise<HostDocument | null> {
    const r = await this.db
      .selectFrom('hosts')
      .select(['name', 'generation', 'topo_version', 'topology', 'reserve'])
      .where('name', '=', name)
      .executeTakeFirst();
    return r ? { name: r.name, generation: Number(r.generation), topoVersion: Number(r.topo_version), topology: r.topology, reserve: r.reserve } : null;
  }

  async listHosts(options: { after?: string; limit: number }): Promise<HostRow[]> {
    let q = this.db.selectFrom('hosts').select(HOST_COLUMNS);
    if (options.after !== undefined) q = q.where('name', '>', options.after);
    const rows = await q.orderBy('name').limit(options.limit).execute();
    return rows.map(hostRow);
  }

  async vmsOf(host: string): Promise<VmRecord[]> {
    const rows = await this.db.selectFrom('vms').selectAll().where('host', '=', host).orderBy('name').execute();
    return rows.map(vmRecord);
  }

  async vm(name: string): Promise<VmRecord | null> {
    const r = await this.db.selectFrom('vms').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? vmRecord(r) : null;
  }

  async listVms(options: { host?: string; limit: number; displaced?: boolean }): Promise<VmRecord[]> {
    let q = this.db.selectFrom('vms').selectAll();
    if (options.host !== undefined) q = q.where('host', '=', options.host);
    if (options.displaced === true) q = q.where('displaced', '=', 1);
    const rows = await q.orderBy('name').limit(options.limit).execute();
    return rows.map(vmRecord);
  }

  async totals(now: number): Promise<FleetTotals> {
    const h = await this.db
      .selectFrom('hosts')
      .select((eb) => [
        eb.fn.countAll<number>().as('hosts'),
        eb.fn.coalesce(eb.fn.sum<number>('nodes'), eb.lit(0)).as('nodes'),
        eb.fn.coalesce(eb.fn.sum<number>('total_cpus'), eb.lit(0)).as('total_cpus'),
        eb.fn.coalesce(eb.fn.sum<number>('free_cpus'), eb.lit(0)).as('free_cpus'),
        eb.fn.coalesce(eb.fn.sum<number>('total_memory'), eb.lit(0)).as('total_memory'),
        eb.fn.coalesce(eb.fn.sum<number>('free_memory'), eb.lit(0)).as('free_memory'),
      ])
      .executeTakeFirst();
    const v = await this.db
      .selectFrom('vms')
      .select((eb) => ['status', 'displaced', eb.fn.countAll<number>().as('n')])
      .where((eb) => eb.or([eb('status', '=', 'committed'), eb('expires_at', '>', now)]))
      .groupBy(['status', 'displaced'])
      .execute();
    const count = (s: string): number => v.filter((r) => r.status === s).reduce((n, r) => n + Number(r.n), 0);
    const displaced = v.filter((r) => Number(r.displaced) === 1).reduce((n, r) => n + Number(r.n), 0);
    return {
      hosts: Number(h?.hosts ?? 0),
      nodes: Number(h?.nodes ?? 0),
      cpus: { total: Number(h?.total_cpus ?? 0), free: Number(h?.free_cpus ?? 0) },
      memory: { total: Number(h?.total_memory ?? 0), free: Number(h?.free_memory ?? 0) },
      vms: { committed: count('committed'), claimed: count('claimed'), displaced },
    };
  }

  async events(options: { after?: number; limit: number }): Promise<FleetEvent[]> {
    let q = this.db.selectFrom('events').selectAll();
    if (options.after !== undefined) q = q.where('id', '>', options.after);
    const rows = await q.orderBy('id').limit(options.limit).execute();
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      kind: r.kind as EventKind,
      host: r.host,
      vm: r.vm,
      instance: r.instance,
      data: JSON.parse(r.data) as unknown,
    }));
  }

  async foreignHosts(options: { after: number; instance: string }): Promise<{ last: number; hosts: string[] }> {
    const last = await this.lastEventId();
    if (last <= options.after) return { last: options.after, hosts: [] };
    const rows = await this.db
      .selectFrom('events')
      .select('host')
      .where('id', '>', options.after)
      .where('id', '<=', last)
      .where('instance', '<>', options.instance)
      .where('host', 'is not', null)
      .groupBy('host')
      .execute();
    return { last, hosts: rows.map((r) => r.host as string) };
  }

  async stagedBatch<T>(body: (b: FleetBatch) => Promise<T>): Promise<{ value: T; durable: Promise<void> }> {
    const staged = this.backend.stagedBatch;
    if (!staged) return { value: await this.batch(body), durable: Promise.resolve() };
    return this.retryBusy(() => staged(body));
  }

  async commitFlush(flush: Flush): Promise<{ value: FlushOutcome; durable: Promise<void> }> {
    const native = this.backend.commitFlush;
    const done = native ? await this.retryBusy(() => native(flush)) : null;
    return done ?? this.stagedBatch((b) => writeFlush(b, flush));
  }

  async batch<T>(body: (b: FleetBatch) => Promise<T>): Promise<T> {
    return this.retryBusy(async () => {
      if (this.backend.batch) return this.backend.batch(body);
      if (this.kind === 'sqlite') {
        // BEGIN IMMEDIATE: the write lock from the start, so that generations read stay current.
        return this.db.connection().execute(async (conn) => {
          await sql`begin immediate`.execute(conn);
          try {
            const out = await body(new SqlBatch(conn, false));
            await sql`commit`.execute(conn);
            return out;
          } catch (err) {
            await sql`rollback`.execute(conn).catch(() => undefined);
            throw err;
          }
        });
      }
      return this.db.transaction().execute((trx) => body(new SqlBatch(trx, true)));
    });
  }

  async loadHosts(options: { after?: string; limit: number }): Promise<HostLoad[]> {
    let q = this.db.selectFrom('hosts').select([...HOST_COLUMNS, 'topology', 'reserve']);
    if (options.after !== undefined) q = q.where('name', '>', options.after);
    const rows = await q.orderBy('name').limit(options.limit).execute();
    return rows.map((r) => ({ ...hostRow(r), topology: r.topology, reserve: r.reserve }));
  }

  async loadVms(options: { after?: string; limit: number }): Promise<VmLoad[]> {
    let q = this.db.selectFrom('vms').select(['name', 'host', 'allocation']);
    if (options.after !== undefined) q = q.where('name', '>', options.after);
    const rows = await q.orderBy('name').limit(options.limit).execute();
    return rows.map((r) => ({ name: r.name, host: r.host, allocation: JSON.parse(r.allocation) as Allocation }));
  }

  async allocationsOf(hosts: readonly string[]): Promise<VmLoad[]> {
    const out: VmLoad[] = [];
    for (const part of chunks([...hosts].sort())) {
      const rows = await this.db.selectFrom('vms').select(['name', 'host', 'allocation']).where('host', 'in', part).orderBy('host').orderBy('name').execute();
      for (const r of rows) out.push({ name: r.name, host: r.host, allocation: JSON.parse(r.allocation) as Allocation });
    }
    return out;
  }

  async insertPlan(p: Omit<PlanRecord, 'version' | 'updatedAt'>): Promise<void> {
    const out = await this.write(async (trx) => {
      await trx
        .insertInto('plans')
        .values({ id: p.id, host: p.host, status: p.status, version: 1, next_step: p.nextStep, document: JSON.stringify(p.document), progress: JSON.stringify(p.progress), created_at: p.createdAt, updated_at: p.createdAt })
        .execute();
      return 0;
    });
    if (!out.ok) throw new Error(`plan ${p.id} could not be stored: ${out.why}`);
  }

  async plan(id: string): Promise<PlanRecord | null> {
    const r = await this.db.selectFrom('plans').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? planRecord(r) : null;
  }

  async listPlans(options: { host?: string; limit: number }): Promise<PlanRecord[]> {
    let q = this.db.selectFrom('plans').selectAll();
    if (options.host !== undefined) q = q.where('host', '=', options.host);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
    return rows.map(planRecord);
  }

  async lastEventId(): Promise<number> {
    const r = await this.db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
    return Number(r?.id ?? 0);
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}
