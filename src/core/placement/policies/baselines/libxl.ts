/**
 * Xen's libxl automatic NUMA placement (tools/libs/light/libxl_numa.c libxl__get_numa_candidate,
 * libxl_dom.c numa_place_domain and numa_cmpf), used by `xl create` when a guest has no affinity.
 *
 * What libxl does, and what is reproduced here:
 * - Candidates are node sets of growing size, starting at ceil(vCPUs / CPUs per node) when every
 *   node has the same CPU count (else 1); the first size with any suitable candidate wins (fewer
 *   nodes first). A candidate is suitable when its free memory holds the guest and it has at least as
 *   many CPUs (all of them, busy or not) as the guest has vCPUs.
 * - Among a size's candidates, numa_cmpf: fewer vCPUs (of existing domains) able to run on the
 *   candidate's nodes, then more free memory; ties keep the first candidate in combination order.
 * - Placement is *soft*: libxl sets the guest's soft vCPU affinity to the candidate's CPUs (and its
 *   memory node affinity to the nodes); the scheduler may still run vCPUs elsewhere. Here the
 *   Placement still lists one home CPU per vCPU (`cpus`, from the shared assignment, so that the
 *   state accounts for them and nothing is handed out twice); the soft affinity, every CPU of the
 *   chosen nodes, is given in the explanation's notes ("soft affinity: vCPUs may run on CPUs ...").
 * - More than 16 NUMA nodes: libxl skips automatic placement (the enumeration is a sum of binomials,
 *   65,535 sets at 16 nodes). Here such hosts are refused with a `numa-nodes` reason.
 *
 * Simplifications: a candidate must also pass the shared evaluation (free CPUs in the request's
 * CPU mode, devices, the standard split); candidates that libxl would take by overcommitting CPUs
 * are skipped in numa_cmpf order. Existing VMs count their vCPUs on every node they have vCPUs on,
 * as libxl counts a domain on every node its affinity covers.
 */
import { formatCpuList } from '../../../topology/cpulist.js';
import type { Topology } from '../../../topology/model.js';
import type { PlacementContext } from '../../context.js';
import type { HostState } from '../../state.js';
import { type NodeChoice, definePolicy } from '../../policy.js';
import { choiceOf, combinations, explicitChoice } from './common.js';

/** libxl's limit: above 16 NUMA nodes automatic placement is skipped. */
export const LIBXL_MAX_NUMA_NODES = 16;

/** vCPUs of existing VMs able to run on each node (libxl's nr_vcpus_on_nodes). */
export function vcpusOnNodes(ctx: PlacementContext): ReadonlyMap<number, number> {
  return ctx.capacity.vcpusByNode;
}

/** vcpusOnNodes counted from a host state's allocations. */
export function vcpusOnNodesOf(state: HostState): Map<number, number> {
  const nodeOf = puNodes(state.topology);
  const out = new Map<number, number>();
  const seen: number[] = [];
  for (const a of state.allocations) {
    for (const n of nodesOfCpus(a.cpus, nodeOf, seen)) out.set(n, (out.get(n) ?? 0) + a.cpus.length);
  }
  return out;
}

/** The distinct nodes of some CPUs, in first-seen order, written to `out` (a VM spans few nodes). */
export function nodesOfCpus(cpus: readonly number[], nodeOf: ReadonlyMap<number, number | null>, out: number[]): number[] {
  out.length = 0;
  for (const c of cpus) {
    const n = nodeOf.get(c);
    if (n !== null && n !== undefined && !out.includes(n)) out.push(n);
  }
  return out;
}

const PU_NODES = new WeakMap<Topology, Map<number, number | null>>();

/** OS CPU index -> node, memoised per topology. */
export function puNodes(topology: Topology): Map<number, number | null> {
  let m = PU_NODES.get(topology);
  if (!m) {
    m = new Map(topology.pus.map((p) => [p.os, p.node]));
    PU_NODES.set(topology, m);
  }
  return m;
}

const PU_COUNTS = new WeakMap<Topology, number[]>();

/** PUs per node, in topology node order, memoised per topology. */
function nodePuCounts(topo: Topology): number[] {
  let counts = PU_COUNTS.get(topo);
  if (!counts) {
    counts = topo.nodes.map((n) => topo.pus.filter((p) => p.node === n.id).length);
    PU_COUNTS.set(topo, counts);
  }
  return counts;
}

const SOFT = new WeakMap<Topology, Map<string, string>>();

/** The CPU list of the online, allowed PUs of a node set (the soft affinity), memoised per topology and set. */
function softAffinity(topology: Topology, ids: readonly number[]): string {
  let byIds = SOFT.get(topology);
  if (!byIds) SOFT.set(topology, (byIds = new Map()));
  const key = ids.join(',');
  let list = byIds.get(key);
  if (list === undefined) {
    list = formatCpuList(topology.pus.filter((p) => p.node !== null && ids.includes(p.node) && p.online && p.allowed).map((p) => p.os));
    if (byIds.size < 4096) byIds.set(key, list);
  }
  return list;
}

/** The libxl chooser. */
export function chooseLibxl(ctx: PlacementContext): NodeChoice | null {
  const explicit = explicitChoice(ctx, 'libxl');
  if (explicit !== undefined) return explicit;
  const nodes = ctx.cpuNodes;
  if (nodes.length === 0) return null;
  // Every choice below is an evaluation that holds the VM: none can when all the free capacity together does not.
  if (!Number.isFinite(ctx.minNodes())) return null;
  const topo = ctx.topology;
  const pusPerNode = nodePuCounts(topo);
  const uniform = pusPerNode.every((c) => c === pusPerNode[0]) && (pusPerNode[0] ?? 0) > 0;
  const vcpus = ctx.request.vcpus;
  let k = uniform ? Math.max(1, Math.ceil(vcpus / (pusPerNode[0] as number))) : 1;
  k = Math.min(k, nodes.length);
  const hi = Math.min(ctx.maxNodes(), nodes.length);
  const onNode = vcpusOnNodes(ctx);
  const needMem = ctx.separateMemory ? 0 : ctx.request.memory;
  for (; k <= hi; k++) {
    const cands: { ids: number[]; nrVcpus: number; freeMem: number; order: number }[] = [];
    combinations(nodes, k, (combo) => {
      let freeMem = 0;
      let cpus = 0;
      let nrVcpus = 0;
      for (const c of combo) {
        freeMem += ctx.memCap(c.id);
        cpus += c.totalPus;
        nrVcpus += onNode.get(c.id) ?? 0;
      }
      if (freeMem < needMem || cpus < vcpus) return;
      cands.push({ ids: combo.map((c) => c.id), nrVcpus, freeMem, order: cands.length });
    });
    cands.sort((a, b) => a.nrVcpus - b.nrVcpus || b.freeMem - a.freeMem || a.order - b.order);
    for (const c of cands) {
      const ev = ctx.evaluate(c.ids);
      if (!ev.ok) continue;
      const soft = softAffinity(topo, c.ids);
      return choiceOf(
        ev,
        [
          `libxl: smallest candidate size ${k}; among ${cands.length} candidate(s) the fewest vCPUs already runnable (${c.nrVcpus}), then the most free memory`,
          `soft affinity: vCPUs may run on CPUs ${soft} (xl cpus_soft); cpus lists the home CPUs accounted for`,
        ],
        [
          { name: 'nodes', value: k, weight: 1, note: 'fewest nodes first' },
          { name: 'vcpus', value: c.nrVcpus, weight: 1, note: 'vCPUs of other VMs runnable on the nodes (fewer wins)' },
          { name: 'freeMemory', value: c.freeMem, weight: -1, note: 'free memory of the nodes (more wins)' },
        ],
      );
    }
  }
  return null;
}

/** libxl policy (refuses hosts above 16 nodes, as libxl skips placement there). */
export const libxlPolicy = definePolicy('libxl', 'Xen libxl automatic placement: fewest nodes, then fewest vCPUs already runnable there, then most free memory; soft affinity', chooseLibxl, {
  nodeLimit: LIBXL_MAX_NUMA_NODES,
  limitWhy: 'libxl skips automatic NUMA placement on hosts with more than 16 nodes (the candidate enumeration is exponential)',
});
