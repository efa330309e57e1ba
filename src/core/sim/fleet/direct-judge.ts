/**
 * numaplan's judgement of one host read straight off the host's capacity view, for the requests that
 * make up almost every fleet decision: a plain dedicated DRAM VM (smt=prefer, so hardware-thread
 * mode; no devices, explicit nodes, layout, memory tier, interleave or emulator pCPUs) that fits on
 * one node. For such a request the engine's steps are, page size by page size (`pageSizesFor`
 * order): skip a page size whose free bytes over the DRAM nodes fall short; bound the node count
 * from below by capacities (`minNodes`) and above by the request (`maxNodes`); when one node may do,
 * score every node that holds the whole VM (`singleNodeTotal`, the lowest wins, ties to the lowest
 * id). This module takes the same steps with the same arithmetic, without a placement context: no
 * closures, no evaluation objects. What it cannot settle (a page size where no single node holds
 * the VM but several might) it leaves to the engine (`GENERAL`), which then judges the host from the
 * start. The chosen node's full evaluation is built only when the decision commits (`revive`).
 *
 * Equality with the engine's judgement (key and node) is tested on random host states.
 */
import { latencyDistance } from '../../cost/model.js';
import type { HostCapacity, NodeCapacity } from '../../placement/capacity.js';
import { fewestToReach, topologyDistance } from '../../placement/context.js';
import { pageSizesFor } from '../../placement/engine.js';
import { type SingleNodeFacts, type SingleScoreScope, maxPhysicalFunctions, singleNodeTotal } from '../../placement/policies/numaplan.js';
import type { VmRequest } from '../../placement/request.js';
import type { HostState } from '../../placement/state.js';
import { type CompactJudgement, dramFree } from './judge.js';

/** The engine must judge this host itself. */
export const GENERAL = 'general';

/** True for the requests the direct judgement covers (see the module comment). */
export function directEligible(request: VmRequest): boolean {
  return (
    request.cpuPolicy === 'dedicated' &&
    request.smt === 'prefer' &&
    request.emulator === 'share' &&
    request.tier === 'dram' &&
    request.devices.length === 0 &&
    !request.nodes &&
    !request.layout &&
    request.numa !== 'interleave'
  );
}

const ids: number[] = [];
const nodes: NodeCapacity[] = [];
let pageNow = 4096;
const freeThreads = (i: number): number => (nodes[i] as NodeCapacity).freePus.length;
const freeBytes = (i: number): number => (nodes[i] as NodeCapacity).memory.get(pageNow) ?? 0;
const NO_LOADS: ReadonlyMap<number, number> = new Map();
// Scratch inputs of the score, rewritten for every node judged (judging is synchronous).
const facts: SingleNodeFacts = { node: undefined, mode: 'thread', cpuCap: 0, memCap: 0, cost: 1, missingPreferred: 0 };
const scope: SingleScoreScope = { slots: 0, memory: 0, separateMemory: false, devices: 0, maxDevices: 0, packageLoad: NO_LOADS };

/**
 * numaplan's single-node judgement of a host for a `directEligible` request: the memo form (null
 * choice, the node in `node`), null when numaplan places nothing there, or `GENERAL`.
 */
export function numaplanDirect(request: VmRequest, state: HostState, capacity: HostCapacity): CompactJudgement | null | typeof GENERAL {
  try {
    return judgeDirect(request, state, capacity);
  } finally {
    // Drop the scratch references to this host's nodes and loads.
    nodes.length = 0;
    facts.node = undefined;
    scope.packageLoad = NO_LOADS;
  }
}


function judgeDirect(request: VmRequest, state: HostState, capacity: HostCapacity): CompactJudgement | null | typeof GENERAL {
  // The eligible nodes (DRAM with CPUs, in the capacity view's order), indexed 0..n-1 for the bounds.
  nodes.length = 0;
  ids.length = 0;
  for (const n of capacity.nodes) {
    if (n.totalPus > 0 && n.tier === 'dram') {
      ids.push(nodes.length);
      nodes.push(n);
    }
  }
  const count = nodes.length;
  const slots = request.vcpus;
  const memory = request.memory;
  const hi = request.numa === 'strict' ? 1 : Math.min(request.maxNodes ?? count, count, request.vcpus);
  let scoped = false;
  for (const pageSize of pageSizesFor(request, capacity)) {
    if (dramFree(capacity, pageSize) < memory) continue;
    pageNow = pageSize;
    const k = fewestToReach(ids, freeThreads, slots);
    const j = Number.isFinite(k) ? fewestToReach(ids, freeBytes, memory) : k;
    const lo = Number.isFinite(j) ? Math.max(1, k, j) : j;
    if (lo > hi) continue;
    if (lo !== 1) return GENERAL;
    if (!scoped) {
      scope.slots = slots;
      scope.memory = memory;
      scope.maxDevices = maxPhysicalFunctions(nodes);
      scope.packageLoad = capacity.packageLoad;
      scoped = true;
    }
    let best: NodeCapacity | null = null;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const n of nodes) {
      const cpuCap = n.freePus.length;
      const memCap = n.memory.get(pageSize) ?? 0;
      if (cpuCap < slots || memCap < memory) continue;
      facts.node = n;
      facts.cpuCap = cpuCap;
      facts.memCap = memCap;
      const score = singleNodeTotal(facts, scope);
      if (best === null || score < bestScore) {
        best = n;
        bestScore = score;
      }
    }
    if (best === null) return GENERAL;
    const latency = Math.round((latencyDistance(state.topology, topologyDistance(state.topology))(best.id, best.id) / 10) * 1e4) / 1e4;
    return { key: [latency, 1, 0, bestScore], mode: 'thread', pageSize, choice: null, node: best.id, devices: [] };
  }
  return null;
}
