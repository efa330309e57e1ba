/**
 * One group commit of a service instance (FleetMirror's flush) as data, and the statements that
 * write it inside its transaction (`writeFlush`, run in `store.stagedBatch`): the generation checks
 * of the hosts touched, the VM names taken, stored plans' versions, then the writes of the hosts that
 * passed. The flush is data only (the mirror's ops without their callbacks), so that it could be
 * written where a store's connection lives.
 */
import type { FleetBatch, HostChange, HostPut, HostStats, NewEvent, PlanWrite } from './types.js';

/** One request's writes (FleetMirror's Op without its callbacks). */
export interface FlushOp {
  added?: HostChange['added'];
  updated?: HostChange['updated'];
  removed?: string[];
  events: NewEvent[];
  /** A host registration or update (its own write, generation-checked like a change). */
  put?: Omit<HostPut, 'expectedGeneration' | 'events'>;
  /** Removes the host. */
  remove?: boolean;
  /** A stored plan changed with the host: written only if the plan is still at its expected version (else the op conflicts). */
  plan?: PlanWrite;
}

/** One flush: the ops by host, the events-only ops, each host's expected generation (null: new) and its numbers after the flush. */
export interface Flush {
  byHost: ReadonlyMap<string, readonly FlushOp[]>;
  hostless: readonly FlushOp[];
  expected: ReadonlyMap<string, number | null>;
  stats: ReadonlyMap<string, HostStats>;
  now: number;
  /**
   * Chained hosts: hosts that an earlier flush of this instance, still in flight when this one was
   * made, also writes. Their expected generation is the one that flush leaves, and their ops were
   * decided on a ledger holding its ops: they may be written only if the last flush before this one
   * that touched them committed them. Only a writer that commits one flush at a time, in the order
   * sent, can tell (ChainLog); anywhere else a chained host conflicts (it is read back and its
   * requests decided again). A generation check alone would not do: after the earlier flush failed,
   * another instance's writes may have moved the host to exactly the generation expected.
   */
  chained?: readonly string[];
  /** The service instance that made it: a chain runs through one instance's flushes (ChainLog). */
  instance?: string;
}

/** What a flush left out: hosts whose generation moved (or whose VM name was taken), and the names taken. */
export interface FlushOutcome {
  conflicted: Set<string>;
  takenVms: Set<string>;
}

/**
 * The statements of one flush, inside its transaction: checks, then writes of the hosts that passed.
 * A chained host (Flush.chained) conflicts unless `chainedOk` has it (see ChainLog).
 */
export async function writeFlush(b: FleetBatch, flush: Flush, chainedOk: ReadonlySet<string> = new Set()): Promise<FlushOutcome> {
  const { byHost, hostless, expected, stats, now } = flush;
  const conflicted = new Set<string>();
  for (const host of flush.chained ?? []) if (!chainedOk.has(host)) conflicted.add(host);
  const gens = await b.generations([...byHost.keys()]);
  for (const [host, exp] of expected) {
    const cur = gens.get(host);
    if (exp === null ? cur !== undefined : cur !== exp) conflicted.add(host);
  }
  const removedHere = new Set<string>();
  const added: string[] = [];
  for (const list of byHost.values()) {
    for (const o of list) {
      for (const r of o.removed ?? []) removedHere.add(r);
      for (const a of o.added ?? []) added.push(a.name);
    }
  }
  // A stored plan another writer changed since this op read it: its host conflicts (read again, decided again).
  const planOps = [...byHost].flatMap(([host, list]) => list.flatMap((o) => (o.plan ? [{ host, plan: o.plan }] : [])));
  if (planOps.length > 0) {
    const versions = await b.planVersions(planOps.map((p) => p.plan.id));
    for (const { host, plan } of planOps) if (versions.get(plan.id) !== plan.expectedVersion) conflicted.add(host);
  }
  const taken = await b.takenNames(added.filter((n) => !removedHere.has(n)));
  const takenVms = new Set<string>();
  for (const [host, list] of byHost) {
    for (const o of list) {
      for (const a of o.added ?? []) {
        if (!taken.has(a.name)) continue;
        takenVms.add(a.name);
        conflicted.add(host);
      }
    }
  }
  const puts: HostPut[] = [];
  const changes: HostChange[] = [];
  const removals: string[] = [];
  const removalEvents: NewEvent[] = [];
  for (const [host, list] of byHost) {
    if (conflicted.has(host)) continue;
    const exp = expected.get(host) as number | null;
    const put = list.find((o) => o.put)?.put;
    if (put) {
      puts.push({ ...put, expectedGeneration: exp, events: list.flatMap((o) => o.events) });
      continue;
    }
    if (list.some((o) => o.remove)) {
      removals.push(host);
      removalEvents.push(...list.flatMap((o) => o.events));
      continue;
    }
    const s = stats.get(host);
    if (!s) continue;
    changes.push({
      host,
      expectedGeneration: exp as number,
      now,
      stats: s,
      added: list.flatMap((o) => o.added ?? []),
      updated: list.flatMap((o) => o.updated ?? []),
      removed: list.flatMap((o) => o.removed ?? []),
      events: list.flatMap((o) => o.events),
      plans: list.flatMap((o) => (o.plan ? [o.plan] : [])),
    });
  }
  await b.putHosts(puts);
  await b.applyChanges(changes);
  await b.removeHosts(removals, removalEvents);
  await b.appendEvents(hostless.flatMap((o) => o.events));
  return { conflicted, takenVms };
}

/**
 * What a writer that commits flushes one at a time, in the order they were sent (SQLite's writer
 * thread), remembers of its last flushes to check their successors' chained hosts: which instance
 * sent each, which hosts it touched and which it committed. A chained host may be written when the
 * last remembered flush of the same instance that touched it committed it. Another instance's
 * flushes in between do not count: that one decided on its own ledger, and a generation it moved
 * is caught by the generation check. A host none of them touched (forgotten: more than `keep`
 * flushes ago, or the earlier flush never arrived here) conflicts, as does one the earlier flush
 * left out or failed.
 */
export class ChainLog {
  private readonly recent: { instance: string | undefined; touched: ReadonlySet<string>; committed: ReadonlySet<string> }[] = [];

  constructor(private readonly keep = 8) {}

  /** The chained hosts of `flush` that may be written (the others conflict: writeFlush's `chainedOk`). */
  verified(flush: Flush): Set<string> {
    const ok = new Set<string>();
    for (const host of flush.chained ?? []) {
      for (let i = this.recent.length - 1; i >= 0; i--) {
        const r = this.recent[i] as (typeof this.recent)[number];
        if (r.instance !== flush.instance || !r.touched.has(host)) continue;
        if (r.committed.has(host)) ok.add(host);
        break;
      }
    }
    return ok;
  }

  /** Records a flush's end: `outcome` once committed, null when it failed (rolled back: nothing committed). */
  record(flush: Flush, outcome: FlushOutcome | null): void {
    const committed = new Set<string>();
    if (outcome) for (const host of flush.byHost.keys()) if (!outcome.conflicted.has(host)) committed.add(host);
    this.recent.push({ instance: flush.instance, touched: new Set(flush.byHost.keys()), committed });
    if (this.recent.length > this.keep) this.recent.shift();
  }
}
