/**
 * A PostgreSQL group commit in one statement, for the flushes that only add VMs (placements and
 * claims: the service's hot path).
 *
 * The shared transaction (writeFlush in sql-store's batch) takes seven round trips: BEGIN, the
 * host rows locked and their generations read, the names taken read, the hosts updated, the VMs
 * and the events inserted, COMMIT. On the two-core development machine each round trip wakes a
 * server process, and one instance placed 1,700-1,800/s. Here the group is one prepared statement
 * (parsed and planned once per connection), its own transaction:
 *
 * - the hosts touched are locked in name order (as the shared path does), so that two instances
 *   writing the same hosts wait for each other instead of deadlocking, and their generations read;
 * - if every host is at its expected generation, each is updated, and the VMs and events inserted;
 * - else nothing is written, and the statement answers which hosts moved: they conflict, and the
 *   statement runs again without them (the flush's other hosts are written, as the shared path
 *   writes them).
 *
 * A VM name already taken fails the insert on the primary key (SQLSTATE 23505): nothing was written,
 * and the caller runs the shared transaction, which tells the names taken. A count of updated hosts
 * short of the hosts (it cannot be, with the rows locked) fails the statement the same way (a
 * division by zero, 22012). So the outcome of a flush is the shared path's either way.
 */
import type pg from 'pg';
import type { Flush, FlushOutcome } from './flush.js';
import type { HostStats } from './types.js';
import { eventRow, vmRow } from './sql-store.js';

const STATEMENT = `
with v as (
  select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
    as v(name, expected, free_cpus, free_memory, vms)
),
locked as (select name, generation from hosts where name in (select name from v) order by name for update),
moved as (select v.name from v left join locked on locked.name = v.name where locked.generation is distinct from v.expected),
ok as (select not exists (select 1 from moved) as ok),
u as (
  update hosts set generation = v.expected + 1, free_cpus = v.free_cpus, free_memory = v.free_memory, vms = v.vms, updated_at = $6
  from v where hosts.name = v.name and hosts.generation = v.expected and (select ok from ok)
  returning hosts.name
),
added as (
  insert into vms (name, host, status, expires_at, allocation, placement, created_at, updated_at, displaced)
  select n, h, s, e, a, p, $6, $6, d
  from unnest($7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[], $13::integer[]) as x(n, h, s, e, a, p, d)
  where (select ok from ok)
  returning 1
),
logged as (
  insert into events (at, kind, host, vm, instance, data)
  select * from unnest($14::bigint[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[])
  where (select ok from ok)
  returning 1
)
select array(select name from moved order by name) as moved,
  1 / (case when not (select ok from ok) or (select count(*) from u) = cardinality($1::text[]) then 1 else 0 end) as checked,
  (select count(*) from added) as added, (select count(*) from logged) as logged`;

/** SQLSTATE of the statement's deliberate failure (hosts updated short of the hosts). */
const SHORT = '22012';
/** SQLSTATE of a unique violation (a VM name taken). */
const TAKEN = '23505';

/** One column of `rows`, as an array parameter of the statement. */
function column<R, K extends keyof R>(rows: readonly R[], key: K): R[K][] {
  return rows.map((r) => r[key]);
}

/** The statement's parameters if the flush only adds VMs to hosts it knows the generation of; else null. */
export function simpleFlushValues(flush: Flush): unknown[] | null {
  // Chained hosts conflict outside SQLite's writer thread: the shared transaction says so.
  if ((flush.chained?.length ?? 0) > 0) return null;
  const hosts: { name: string; expected: number; stats: HostStats }[] = [];
  const vms: ReturnType<typeof vmRow>[] = [];
  const events: ReturnType<typeof eventRow>[] = [];
  for (const [name, list] of flush.byHost) {
    const expected = flush.expected.get(name);
    const stats = flush.stats.get(name);
    if (typeof expected !== 'number' || !stats) return null;
    if (list.some((o) => o.put || o.remove || o.plan || (o.updated?.length ?? 0) > 0 || (o.removed?.length ?? 0) > 0)) return null;
    hosts.push({ name, expected, stats });
    for (const o of list) {
      for (const a of o.added ?? []) vms.push(vmRow(a, flush.now));
      for (const e of o.events) events.push(eventRow(e));
    }
  }
  for (const o of flush.hostless) {
    if (o.put || o.remove || o.plan || o.added || o.updated || o.removed) return null;
    for (const e of o.events) events.push(eventRow(e));
  }
  const stat = (key: 'freeCpus' | 'freeMemory' | 'vms'): number[] => hosts.map((h) => h.stats[key]);
  return [
    column(hosts, 'name'),
    column(hosts, 'expected'),
    stat('freeCpus'),
    stat('freeMemory'),
    stat('vms'),
    flush.now,
    ...(['name', 'host', 'status', 'expires_at', 'allocation', 'placement', 'displaced'] as const).map((k) => column(vms, k)),
    ...(['at', 'kind', 'host', 'vm', 'instance', 'data'] as const).map((k) => column(events, k)),
  ];
}

/** The flush without the ops of `hosts`. */
function without(flush: Flush, hosts: ReadonlySet<string>): Flush {
  return { ...flush, byHost: new Map([...flush.byHost].filter(([h]) => !hosts.has(h))) };
}

/**
 * Writes a flush that only adds VMs (see the module's comment): its outcome, the hosts whose
 * generation moved left out. Null: not that kind of flush, or a VM name was taken, and nothing was
 * written (the shared transaction is to be run). Other errors are thrown.
 */
export async function writeSimpleFlush(pool: pg.Pool, flush: Flush): Promise<FlushOutcome | null> {
  let values = simpleFlushValues(flush);
  if (values === null) return null;
  // A client of its own, not pool.query: that one closes the connection on any error, and a taken
  // name would then cost a new connection and server process.
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const conflicted = new Set<string>();
    // Each round leaves out at least one more host, so this ends (at worst with no host, the events alone).
    for (let rest = flush; ; ) {
      const r = await client.query<{ moved: string[] }>({ name: 'numaplan-flush-added', text: STATEMENT, values });
      const moved = r.rows[0]?.moved ?? [];
      if (moved.length === 0) return { conflicted, takenVms: new Set() };
      for (const h of moved) conflicted.add(h);
      rest = without(rest, conflicted);
      if (rest.byHost.size === 0 && rest.hostless.every((o) => o.events.length === 0)) return { conflicted, takenVms: new Set() };
      values = simpleFlushValues(rest) as unknown[];
    }
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === SHORT || code === TAKEN) return null;
    // An error the server answered leaves the session usable; any other (the connection) does not.
    if (typeof code !== 'string') broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}
