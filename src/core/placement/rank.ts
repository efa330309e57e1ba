/**
 * The host-ranking rule: how decisions on different hosts compare, for every caller that chooses a
 * host (the service, the simulator's fleet mode). Lower wins, in order:
 *
 *   1. predicted memory latency ratio (the cost model's weighted SLIT ratio of the VM's vCPUs and
 *      memory, or the measured ratio where the host is calibrated, rounded as `predictCost` reports
 *      it: 1 = all local);
 *   2. nodes the VM uses;
 *   3. requested devices that are not on the VM's nodes;
 *   4. how much of the host stays free once the VM is placed (free PUs / PUs + free bytes / bytes,
 *      over the DRAM nodes with CPUs): the fullest host first, best fit at the host level, which
 *      keeps emptier hosts whole for the VMs that need a host's every node;
 *   5. the policy's score of its choice (the weighted sum of its score terms: for numaplan's one-node
 *      choices best fit, device richness and socket balance).
 *
 * Two keys within 1e-12 of each other on every term are equal, and the caller's candidate order
 * decides (the fleet index's best-fit order). The key is read off the decision, never off an
 * explanation: no policy reads another's output.
 */
import { SLIT_LOCAL, latencyDistance, weightedDistance } from '../cost/model.js';
import type { Decision } from './decide.js';

/** A host's rank key for a decision: [latency ratio, nodes, non-local devices, host left free, score]. */
export type HostKey = readonly [number, number, number, number, number];

const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** The rank key of a decision (see the module comment). */
export function hostKey(d: Decision): HostKey {
  const ev = d.choice.evaluation;
  let score = 0;
  for (const t of d.choice.score ?? []) score += t.value * t.weight;
  let misses = 0;
  for (const x of d.assignment?.devices ?? []) if (!x.local) misses++;
  return [latencyOf(d), d.nodes.length, misses, leftFree(d), score];
}

/** The host's free share once the decision is placed: free PUs / PUs + free bytes / bytes (DRAM nodes with CPUs). */
function leftFree(d: Decision): number {
  const l = d.ledger;
  const ev = d.choice.evaluation;
  let pus = 0;
  for (const p of ev.parts) pus += p.vcpus + p.emulator;
  let bytes = 0;
  for (const m of ev.memory) bytes += m.bytes;
  const totals = l.totals();
  const cpu = totals.pus > 0 ? Math.max(0, l.freeSlots - pus) / totals.pus : 0;
  let free = 0;
  for (let i = 0; i < l.nodes.length; i++) if (l.isCounted(i)) free += l.freeBytesAt(i);
  const mem = totals.bytes > 0 ? Math.max(0, free - bytes) / totals.bytes : 0;
  return cpu + mem;
}

/** predictCost's relativeLatency of the chosen set (vCPUs without emulator pCPUs, memory grants; measured where the host is calibrated). */
function latencyOf(d: Decision): number {
  const ev = d.choice.evaluation;
  const only = ev.parts[0];
  const mem = ev.memory[0];
  const distance = latencyDistance(d.ctx.topology, d.ctx.distance);
  if (ev.parts.length === 1 && ev.memory.length === 1 && only && mem && only.node === mem.node) {
    return only.vcpus === 0 || mem.bytes === 0 ? 1 : r4(distance(only.node, only.node) / SLIT_LOCAL);
  }
  if (ev.parts.length === 0) return 1;
  const v = new Map<number, number>();
  for (const p of ev.parts) v.set(p.node, p.vcpus);
  const m = new Map<number, number>();
  for (const g of ev.memory) m.set(g.node, g.bytes);
  return r4(weightedDistance(distance, v, m).relative);
}

/** True when key `a` ranks strictly before key `b` (lexicographic, with a 1e-12 tolerance per term). */
export function keyLess(a: HostKey, b: HostKey): boolean {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (Math.abs(d) > 1e-12) return d < 0;
  }
  return false;
}
