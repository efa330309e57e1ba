/**
 * The invariant checker: reads every host and VM from a store and says what is wrong.
 *
 * - no pCPU handed out twice: a CPU of a dedicated VM (its vCPUs, held siblings, emulator CPUs) is
 *   in no other VM and not in the host reserve; shared VMs may share CPUs only with each other;
 * - no device handed out twice, and never a physical function together with one of its VFs;
 * - huge pages of each size on each node: allocated bytes at most the pool; regular memory of each
 *   node at most total - pools - reserve;
 * - every CPU, node and device a VM holds exists on its host; its CPUs are online, allowed and
 *   outside the host reserve;
 * - a VM marked displaced (a host update its caller accepted broke it) is exempt from the above,
 *   but nothing else may hold what it holds;
 * - every acknowledged placement is present (same host, same CPUs), unless it was released.
 *
 * Claims that lapsed at or before `now` are ignored: their resources are free by definition.
 */
import { judgeAllocations } from '../core/placement/host-update.js';
import type { Allocation, HostReserve } from '../core/placement/state.js';
import { topologyFromJson } from '../core/topology/json.js';
import type { Topology } from '../core/topology/model.js';
import type { FleetStore, HostRow, VmRecord } from './types.js';

/** A placement a client was told succeeded. */
export interface Acknowledged {
  name: string;
  host: string;
  cpus: number[];
}

/** What the checker found. */
export interface InvariantReport {
  ok: boolean;
  hosts: number;
  vms: number;
  problems: string[];
}

/**
 * Checks one host's live allocations; returns the problems found. The judgement is the engine's
 * (`judgeAllocations`): every VM not marked displaced must fit the host as it is, and no VM may hold
 * what a displaced one holds.
 */
export function checkHost(host: string, topology: Topology, reserve: HostReserve, allocations: readonly Allocation[]): string[] {
  const displaced = new Set(allocations.filter((a) => a.displaced).map((a) => a.name));
  return judgeAllocations(topology, reserve, allocations)
    .filter((b) => !displaced.has(b.vm))
    .map((b) => `${host}: ${b.vm}: ${b.resource}${b.node === null ? '' : ` on node ${b.node}`}: ${b.detail}`);
}

/** Times a host is read again when it changed while being read. */
const READ_ATTEMPTS = 50;

/**
 * A host's row and VMs as one generation left them: the row, the VMs, the row again, until the two
 * rows agree (null when the host is gone). A store changing that host without pause for every attempt
 * is an error: the check cannot be made.
 */
async function consistentHost(store: FleetStore, first: HostRow): Promise<{ row: HostRow; vms: VmRecord[] } | null> {
  let row: HostRow | null = first;
  for (let i = 0; i < READ_ATTEMPTS && row !== null; i++) {
    const vms = await store.vmsOf(first.name);
    const again: HostRow | null = await store.hostRow(first.name);
    if (again !== null && again.generation === row.generation) return { row: again, vms };
    row = again;
  }
  if (row === null) return null;
  throw new Error(`host ${first.name} changed on every one of ${READ_ATTEMPTS} reads; its VMs cannot be checked against its row`);
}

/** Checks the whole store, and that every acknowledged placement (not released since) is present. */
export async function checkStore(store: FleetStore, now: number, acknowledged: readonly Acknowledged[] = []): Promise<InvariantReport> {
  const problems: string[] = [];
  let hosts = 0;
  let vms = 0;
  const live = new Map<string, VmRecord>();
  let after: string | undefined;
  for (;;) {
    const page = await store.listHosts({ ...(after !== undefined ? { after } : {}), limit: 500 });
    if (page.length === 0) break;
    for (const h of page) {
      hosts++;
      const doc = await store.hostDocument(h.name);
      if (!doc) continue;
      let topology: Topology;
      try {
        topology = topologyFromJson(doc.topology, `${h.name}:topology`);
      } catch (err) {
        // A model stored before the checks it now fails (an impossible host registered by an older version).
        problems.push(`${h.name}: stored topology is not a possible machine: ${(err as Error).message}`);
        continue;
      }
      const reserve = JSON.parse(doc.reserve) as HostReserve;
      // A live store changes while it is read (a service expiring a claim): the host's row and its VMs
      // are compared only as one generation left them (every change of a host's VMs bumps it).
      const read = await consistentHost(store, h);
      if (read === null) continue;
      const { row, vms: all } = read;
      const records = all.filter((v) => v.status === 'committed' || v.expiresAt === null || v.expiresAt > now);
      vms += records.length;
      for (const r of records) {
        live.set(r.name, r);
        if (r.allocation.name !== r.name) problems.push(`${h.name}: row ${r.name} holds the allocation of ${r.allocation.name}`);
      }
      if (row.vms !== all.length) problems.push(`${h.name}: host row counts ${row.vms} VMs, ${all.length} stored`);
      problems.push(...checkHost(h.name, topology, reserve, records.map((r) => r.allocation)));
    }
    after = page[page.length - 1]?.name;
  }
  for (const a of acknowledged) {
    const r = live.get(a.name);
    if (!r) problems.push(`acknowledged placement ${a.name} on ${a.host} is missing`);
    else if (r.host !== a.host) problems.push(`acknowledged placement ${a.name} was on ${a.host}, the store has it on ${r.host}`);
    else if (r.allocation.cpus.join(',') !== a.cpus.join(',')) problems.push(`acknowledged placement ${a.name}: CPUs ${a.cpus.join(',')} acknowledged, ${r.allocation.cpus.join(',')} stored`);
  }
  return { ok: problems.length === 0, hosts, vms, problems };
}

