/**
 * The store over SQL, one implementation for both backends (kysely builds the dialect's SQL). The
 * backends (`sqlite.ts`, `postgres.ts`) only open the connection, set their options and say which
 * driver errors mean "unique key taken" and "busy, try again".
 *
 * Every conditional write is one transaction that starts with
 * `UPDATE hosts SET generation = g + 1 ... WHERE name = ? AND generation = g`: zero rows updated
 * means another writer got there first, and the transaction is rolled back (`conflict`).
 */
import type { Generated, Kysely, Transaction } from 'kysely';
import type { Allocation } from '../core/placement/state.js';
import { appliedMigrations } from './migrations.js';
import type {
  EventKind,
  FleetEvent,
  FleetStore,
  FleetTotals,
  HostChange,
  HostDocument,
  HostPut,
  HostRow,
  NewEvent,
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
}

/** What a backend tells the shared code about its driver. */
export interface Backend {
  kind: 'sqlite' | 'postgres';
  location: string;
  db: Kysely<Database>;
  /** True for a unique/primary-key violation. */
  isUniqueViolation(err: unknown): boolean;
  /** True for "locked, try again" errors (SQLite busy). */
  isBusy(err: unknown): boolean;
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

function eventRow(e: NewEvent): Omit<Database['events'], 'id'> {
  return { at: e.at, kind: e.kind, host: e.host, vm: e.vm, instance: e.instance, data: JSON.stringify(e.data ?? null) };
}

/** Writes one VM's changed status, expiry and allocation (with its displacement mark). */
async function updateVm(trx: Transaction<Database>, host: string, u: HostChange['updated'][number], now: number): Promise<void> {
  await trx
    .updateTable('vms')
    .set({ status: u.status, expires_at: u.expiresAt, allocation: JSON.stringify(u.allocation), displaced: u.allocation.displaced ? 1 : 0, updated_at: now })
    .where('host', '=', host)
    .where('name', '=', u.name)
    .execute();
}

/**
 * How long a write keeps retrying while the database is busy (SQLite: another connection holds the
 * write lock). Retries wait asynchronously, so a second connection in the same process can finish.
 */
const BUSY_RETRY_MS = 15_000;

/** The shared implementation. */
export class SqlStore implements FleetStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly location: string;
  private readonly db: Kysely<Database>;

  constructor(private readonly backend: Backend) {
    this.kind = backend.kind;
    this.location = backend.location;
    this.db = backend.db;
  }

  migrations(): Promise<string[]> {
    return appliedMigrations(this.db);
  }

  private async write(body: (trx: Transaction<Database>) => Promise<number>): Promise<WriteOutcome> {
    const deadline = Date.now() + BUSY_RETRY_MS;
    for (;;) {
      try {
        const generation = await this.db.transaction().execute(body);
        return { ok: true, generation };
      } catch (err) {
        if (err instanceof Abort) return { ok: false, why: err.why };
        if (this.backend.isUniqueViolation(err)) return { ok: false, why: 'name-taken' };
        if (this.backend.isBusy(err) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 2 + Math.floor(Math.random() * 20)));
          continue;
        }
        throw err;
      }
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
      if (change.added.length > 0) {
        await trx
          .insertInto('vms')
          .values(
            change.added.map((a) => ({
              name: a.name,
              host: a.host,
              status: a.status,
              expires_at: a.expiresAt,
              allocation: JSON.stringify(a.allocation),
              placement: JSON.stringify(a.placement),
              created_at: change.now,
              updated_at: change.now,
              displaced: a.allocation.displaced ? 1 : 0,
            })),
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

  async candidates(o: { minFreeCpus: number; minFreeMemory: number; limit: number; offset: number }): Promise<HostRow[]> {
    const rows = await this.db
      .selectFrom('hosts')
      .select(HOST_COLUMNS)
      .where('free_cpus', '>=', o.minFreeCpus)
      .where('free_memory', '>=', o.minFreeMemory)
      .orderBy('free_cpus')
      .orderBy('free_memory')
      .orderBy('name')
      .limit(o.limit)
      .offset(o.offset)
      .execute();
    return rows.map(hostRow);
  }

  async countCandidates(o: { minFreeCpus: number; minFreeMemory: number }): Promise<number> {
    const r = await this.db
      .selectFrom('hosts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('free_cpus', '>=', o.minFreeCpus)
      .where('free_memory', '>=', o.minFreeMemory)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
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

  async hostsWithExpiredClaims(now: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('vms')
      .select('host')
      .distinct()
      .where('status', '=', 'claimed')
      .where('expires_at', '<=', now)
      .orderBy('host')
      .limit(limit)
      .execute();
    return rows.map((r) => r.host);
  }

  async claimsInFlight(now: number): Promise<number> {
    const r = await this.db
      .selectFrom('vms')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'claimed')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
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

  close(): Promise<void> {
    return this.backend.close();
  }
}
