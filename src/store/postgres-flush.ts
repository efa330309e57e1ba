/**
 * A PostgreSQL group commit in one statement, for the flushes that only add VMs (placements and
 * claims: the service's hot path).
 *
 * The shared transaction (writeFlush in sql-store's batch) takes seven round trips: BEGIN, the
 * host rows locked and their generations read, the names taken read, the hosts updated, the VMs
 * and the events inserted, COMMIT. With two instances on the two-core development machine each round
 * trip wakes a server process, and the service's CPU per placement was 450-500 µs. Here the whole
 * group is one prepared statement (parsed and planned once per connection) that runs as its own
 * transaction:
 *
 * - the hosts touched are locked in name order (as the shared path does), so that two instances
 *   writing the same hosts wait for each other instead of deadlocking;
 * - each host row is updated only at its expected generation; a VM name already taken fails the
 *   insert on the primary key;
 * - if any host's generation moved, the statement fails on purpose (a division by zero, SQLSTATE
 *   22012) and nothing is written; a taken name fails it the same way (23505).
 *
 * A failed statement wrote nothing, and the caller then runs the shared transaction, which says
 * which hosts conflicted and which names were taken, and writes the other hosts. So the outcome of
 * a flush is the shared path's either way; this one is only its common case, in one round trip.
 */
import type pg from 'pg';
import type { Flush } from './flush.js';
import { eventRow, vmRow } from './sql-store.js';

const STATEMENT = `
with v as (
  select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
    as v(name, expected, free_cpus, free_memory, vms)
),
locked as (select name from hosts where name in (select name from v) order by name for update),
u as (
  update hosts set generation = v.expected + 1, free_cpus = v.free_cpus, free_memory = v.free_memory, vms = v.vms, updated_at = $6
  from v where hosts.name = v.name and hosts.generation = v.expected and hosts.name in (select name from locked)
  returning hosts.name
),
added as (
  insert into vms (name, host, status, expires_at, allocation, placement, created_at, updated_at, displaced)
  select n, h, s, e, a, p, $6, $6, d
  from unnest($7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[], $13::integer[]) as x(n, h, s, e, a, p, d)
  returning 1
),
logged as (
  insert into events (at, kind, host, vm, instance, data)
  select * from unnest($14::bigint[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[])
  returning 1
)
select 1 / (case when (select count(*) from u) = cardinality($1::text[]) then 1 else 0 end) as ok,
  (select count(*) from added) as added, (select count(*) from logged) as logged`;

/** SQLSTATE of the statement's deliberate failure when a host's generation moved. */
const MOVED = '22012';
/** SQLSTATE of a unique violation (a VM name taken). */
const TAKEN = '23505';

/** The statement's parameters if the flush only adds VMs to hosts it knows the generation of; else null. */
export function simpleFlushValues(flush: Flush): unknown[] | null {
  const hosts: string[] = [];
  const expected: number[] = [];
  const freeCpus: number[] = [];
  const freeMemory: number[] = [];
  const vms: number[] = [];
  const vm = { n: [] as string[], h: [] as string[], s: [] as string[], e: [] as (number | null)[], a: [] as string[], p: [] as string[], d: [] as number[] };
  const ev = { at: [] as number[], kind: [] as string[], host: [] as (string | null)[], vm: [] as (string | null)[], instance: [] as string[], data: [] as string[] };
  const log = (events: Flush['hostless'][number]['events']): void => {
    for (const e of events) {
      const r = eventRow(e);
      ev.at.push(r.at);
      ev.kind.push(r.kind);
      ev.host.push(r.host);
      ev.vm.push(r.vm);
      ev.instance.push(r.instance);
      ev.data.push(r.data);
    }
  };
  for (const [host, list] of flush.byHost) {
    const exp = flush.expected.get(host);
    const stats = flush.stats.get(host);
    if (typeof exp !== 'number' || !stats) return null;
    for (const o of list) {
      if (o.put || o.remove || o.plan || (o.updated?.length ?? 0) > 0 || (o.removed?.length ?? 0) > 0) return null;
    }
    hosts.push(host);
    expected.push(exp);
    freeCpus.push(stats.freeCpus);
    freeMemory.push(stats.freeMemory);
    vms.push(stats.vms);
    for (const o of list) {
      for (const a of o.added ?? []) {
        const r = vmRow(a, flush.now);
        vm.n.push(r.name);
        vm.h.push(r.host);
        vm.s.push(r.status);
        vm.e.push(r.expires_at);
        vm.a.push(r.allocation);
        vm.p.push(r.placement);
        vm.d.push(r.displaced);
      }
      log(o.events);
    }
  }
  for (const o of flush.hostless) {
    if (o.put || o.remove || o.plan || o.added || o.updated || o.removed) return null;
    log(o.events);
  }
  return [hosts, expected, freeCpus, freeMemory, vms, flush.now, vm.n, vm.h, vm.s, vm.e, vm.a, vm.p, vm.d, ev.at, ev.kind, ev.host, ev.vm, ev.instance, ev.data];
}

/**
 * Writes a flush that only adds VMs in one statement (see the module's comment). True: written, no
 * conflict. False: not that kind of flush, or a host moved or a name was taken, and nothing was
 * written (the shared transaction is to be run). Other errors are thrown.
 */
export async function writeSimpleFlush(pool: pg.Pool, flush: Flush): Promise<boolean> {
  const values = simpleFlushValues(flush);
  if (values === null) return false;
  try {
    await pool.query({ name: 'numaplan-flush-added', text: STATEMENT, values });
    return true;
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === MOVED || code === TAKEN) return false;
    throw err;
  }
}
