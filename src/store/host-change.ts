/**
 * From hosts to store writes: the per-host numbers kept in columns (`statsOf` a ledger, `hostStats`
 * of a state; the service writes them with every batch), and the difference between two states of a
 * host (`hostChange`: the rows a change adds, updates and removes, conditional on the generation it
 * started from).
 */
import { HostLedger } from '../core/placement/ledger.js';
import type { Allocation, HostState } from '../core/placement/state.js';
import type { HostChange, HostStats, NewEvent } from './types.js';

/** The numbers the store keeps beside a host, read off its ledger. */
export function statsOf(ledger: HostLedger): HostStats {
  const cap = ledger.capacity();
  let totalCpus = 0;
  let freeCpus = 0;
  let freeMemory = 0;
  for (const n of cap.nodes) {
    totalCpus += n.totalPus;
    freeCpus += n.freePus.length;
    for (const b of n.memory.values()) freeMemory += b;
  }
  let totalMemory = 0;
  for (const n of ledger.topology.nodes) totalMemory += n.memory.total;
  return { nodes: ledger.topology.nodes.length, totalCpus, freeCpus, totalMemory, freeMemory, vms: ledger.allocations.length };
}

/** The numbers the store keeps beside a host's state. */
export function hostStats(state: HostState): HostStats {
  return statsOf(HostLedger.of(state));
}

const same = (a: Allocation, b: Allocation): boolean =>
  a.status === b.status && a.expiresAt === b.expiresAt && JSON.stringify(a.displaced ?? null) === JSON.stringify(b.displaced ?? null);

/**
 * The change from `before` (read at `generation`) to `after`. `placements` holds the placement
 * object of each VM that `after` adds (stored beside its allocation, for explain and emit).
 */
export function hostChange(
  host: string,
  generation: number,
  before: HostState,
  after: HostState,
  now: number,
  placements: ReadonlyMap<string, unknown>,
  events: NewEvent[],
): HostChange {
  const old = new Map(before.allocations.map((a) => [a.name, a]));
  const cur = new Map(after.allocations.map((a) => [a.name, a]));
  const removed = [...old.keys()].filter((n) => !cur.has(n));
  const added: HostChange['added'] = [];
  const updated: HostChange['updated'] = [];
  for (const [name, a] of cur) {
    const o = old.get(name);
    if (!o) added.push({ name, host, status: a.status, expiresAt: a.expiresAt, allocation: a, placement: placements.get(name) ?? null });
    else if (!same(o, a)) updated.push({ name, status: a.status, expiresAt: a.expiresAt, allocation: a });
  }
  return { host, expectedGeneration: generation, now, stats: hostStats(after), added, updated, removed, events };
}
