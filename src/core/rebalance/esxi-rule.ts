/**
 * An ESXi-like balancing rule, the peer the planner is compared with in the simulator (not a plan
 * numaplan proposes). As VMware documents its NUMA scheduler: every 2 s it compares the nodes' loads
 * and, when the most and least loaded nodes differ by 10% or more, migrates a VM's home node from the
 * busiest node to the idlest, preferring a VM that already has memory on the destination, as long
 * as the move narrows the gap; memory follows (counted as migrated bytes). Modelled here:
 * - load of a node: the share of its usable PUs held (vCPUs, held and emulator CPUs);
 * - candidates: VMs wholly on the busiest node, movable by the planner's rules except the cool-down
 *   (ESXi has none); the destination is the kernel's decision for the VM restricted to the idlest
 *   node (same page size), so nothing is handed out twice;
 * - one move per host per tick (ESXi throttles migrations); among candidates: most memory already on
 *   the destination, then the move that leaves the smallest gap, then name.
 */
import { allocationOfDecision, decide } from '../placement/decide.js';
import { HostLedger } from '../placement/ledger.js';
import { getPolicy } from '../placement/policies/index.js';
import type { Allocation, HostState } from '../placement/state.js';
import { type Move, vmMove, whyNotMovable } from './plan.js';

/** The rule's settings. */
export interface EsxiRuleOptions {
  /** Smallest gap between the busiest and idlest node's load that triggers a move (0.1 = 10%). */
  imbalance: number;
  rateBytesPerSec: number;
}

function loads(ledger: HostLedger): { id: number; load: number; total: number }[] {
  const out: { id: number; load: number; total: number }[] = [];
  for (let i = 0; i < ledger.nodes.length; i++) {
    if (!ledger.isCounted(i)) continue;
    const n = ledger.nodes[i] as (typeof ledger.nodes)[number];
    const free = ledger.nodeFree(i).pus;
    out.push({ id: n.id, load: n.totalPus > 0 ? 1 - free / n.totalPus : 1, total: n.totalPus });
  }
  return out;
}

/** At most one move for a host state under the ESXi-like rule, or null. */
export function esxiMove(state: HostState, now: number, options: EsxiRuleOptions): Move | null {
  const ledger = HostLedger.of(state);
  const l = loads(ledger);
  if (l.length < 2) return null;
  const busiest = l.reduce((a, b) => (b.load > a.load ? b : a));
  const idlest = l.reduce((a, b) => (b.load < a.load ? b : a));
  const gap = busiest.load - idlest.load;
  if (gap < options.imbalance) return null;
  let best: { move: Move; onDest: number; gapAfter: number; name: string } | null = null;
  for (const a of state.allocations) {
    if (a.nodes.length !== 1 || a.nodes[0] !== busiest.id) continue;
    if (whyNotMovable(a, { now, cooldownMs: 0 })) continue;
    const pus = a.cpus.length + a.heldCpus.length + a.emulatorCpus.length;
    const gapAfter = Math.abs(busiest.load - pus / busiest.total - (idlest.load + pus / idlest.total));
    if (gapAfter >= gap) continue;
    ledger.release(a.name);
    let after: Allocation | null = null;
    try {
      const d = decide(getPolicy(), { ...a.request, nodes: [idlest.id], pageSize: a.memory[0]?.pageSize ?? 4096 }, ledger);
      if (d.ok) after = { ...allocationOfDecision(d, 'committed', null), request: a.request };
    } finally {
      ledger.add(a);
    }
    if (!after) continue;
    const v = vmMove(state, a, after);
    const bytes = v.memory.reduce((s, m) => s + m.bytes, 0);
    const onDest = a.memory.filter((m) => m.node === idlest.id).reduce((s, m) => s + m.bytes, 0);
    const seconds = bytes / options.rateBytesPerSec;
    const move: Move = {
      step: 1,
      kind: 'move',
      vms: [v],
      gain: { latency: v.locality.before.relativeLatency - v.locality.after.relativeLatency, freedNodes: [], freedCores: 0, admits: [], value: 0 },
      cost: { bytes, seconds, repins: v.repins.length, price: seconds },
      reason: `ESXi-like rule: node ${busiest.id} at ${(busiest.load * 100).toFixed(0)}% vs node ${idlest.id} at ${(idlest.load * 100).toFixed(0)}%`,
    };
    const better = !best || onDest > best.onDest || (onDest === best.onDest && (gapAfter < best.gapAfter || (gapAfter === best.gapAfter && a.name < best.name)));
    if (better) best = { move, onDest, gapAfter, name: a.name };
  }
  return best?.move ?? null;
}
