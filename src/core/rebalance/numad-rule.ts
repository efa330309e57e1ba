/**
 * A numad-like rule, the second peer the planner is compared with in the simulator (not a plan
 * numaplan proposes). numad rescans every 5-15 s; for a process whose memory and threads are spread
 * over nodes that could be fewer, it picks the nodes with the most free resources (its "magnitude":
 * free CPU x free memory) that can hold the process, binds it there and migrates its pages, one
 * process per scan. Modelled here:
 * - candidates: VMs on more than one node, movable by the planner's rules except the cool-down
 *   (numad has none);
 * - the destination: the node of the largest free PUs x free bytes (ignoring what the VM itself
 *   holds there) whose kernel decision for the VM restricted to that node (same page size) succeeds;
 * - one move per host per scan: the VM with the most vCPUs (then name).
 */
import { allocationOfDecision, decide } from '../placement/decide.js';
import { HostLedger } from '../placement/ledger.js';
import { getPolicy } from '../placement/policies/index.js';
import type { Allocation, HostState } from '../placement/state.js';
import { type Move, vmMove, whyNotMovable } from './plan.js';

/** numad's longest scan interval, seconds. */
export const NUMAD_EVERY_SEC = 15;

/** At most one move for a host state under the numad-like rule, or null. */
export function numadMove(state: HostState, now: number, options: { rateBytesPerSec: number }): Move | null {
  const spread = state.allocations
    .filter((a) => a.nodes.length > 1 && !whyNotMovable(a, { now, cooldownMs: 0 }))
    .sort((a, b) => b.cpus.length - a.cpus.length || (a.name < b.name ? -1 : 1));
  if (spread.length === 0) return null;
  const ledger = HostLedger.of(state);
  for (const a of spread) {
    ledger.release(a.name);
    let after: Allocation | null = null;
    try {
      const nodes: { id: number; magnitude: number }[] = [];
      for (let i = 0; i < ledger.nodes.length; i++) {
        if (!ledger.isCounted(i)) continue;
        const f = ledger.nodeFree(i);
        nodes.push({ id: (ledger.nodes[i] as (typeof ledger.nodes)[number]).id, magnitude: f.pus * f.bytes });
      }
      nodes.sort((x, y) => y.magnitude - x.magnitude || x.id - y.id);
      for (const n of nodes) {
        const d = decide(getPolicy(), { ...a.request, nodes: [n.id], pageSize: a.memory[0]?.pageSize ?? 4096 }, ledger);
        if (d.ok) {
          after = { ...allocationOfDecision(d, 'committed', null), request: a.request };
          break;
        }
      }
    } finally {
      ledger.add(a);
    }
    if (!after) continue;
    const v = vmMove(state, a, after);
    const bytes = v.memory.reduce((s, m) => s + m.bytes, 0);
    const seconds = bytes / options.rateBytesPerSec;
    return {
      step: 1,
      kind: 'narrow',
      vms: [v],
      gain: { latency: v.locality.before.relativeLatency - v.locality.after.relativeLatency, freedNodes: [], freedCores: 0, admits: [], value: 0 },
      cost: { bytes, seconds, repins: v.repins.length, price: seconds },
      reason: `numad-like rule: ${a.name} spans nodes ${a.nodes.join(',')}; node ${after.nodes.join(',')} has the most free resources that hold it`,
    };
  }
  return null;
}
