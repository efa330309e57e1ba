/**
 * The node-set choosers of the engine's registry policies, by name, for the fleet's cheap host
 * judgement (judge.ts). A registry policy only exposes `place()`; its chooser (the part that picks
 * the node set) is exported by each policy's module, so this table rebuilds the pairing, together
 * with the node limit a policy's wrapper applies (`withNodeLimit`: the Kubernetes policies refuse
 * hosts above 8 nodes, libxl above 16). A registry policy missing here (e.g. one registered at run
 * time) has no chooser: fleet mode then judges hosts with the full `place()` (the slow path).
 */
import type { HostCapacity } from '../../placement/capacity.js';
import type { ChooseNodes } from '../../placement/policy.js';
import type { VmRequest } from '../../placement/request.js';
import type { HostState } from '../../placement/state.js';
import { GENERAL, directEligible, numaplanDirect } from './direct-judge.js';
import type { CompactJudgement } from './judge.js';
import { chooseNumaplanLean } from '../../placement/policies/numaplan.js';
import { chooseFirstFit } from '../../placement/policies/baselines/first-fit.js';
import { chooseInterleave } from '../../placement/policies/baselines/interleave.js';
import { K8S_MAX_NUMA_NODES, k8sChooser } from '../../placement/policies/baselines/k8s-topology.js';
import { LIBXL_MAX_NUMA_NODES, chooseLibxl } from '../../placement/policies/baselines/libxl.js';
import { novaChooser } from '../../placement/policies/baselines/nova.js';
import { chooseNumad } from '../../placement/policies/baselines/numad.js';

/** A policy's chooser and the most NUMA nodes (all nodes of the topology) it accepts on a host. */
export interface EngineChooser {
  choose: ChooseNodes;
  nodeLimit: number;
  /**
   * True when every node set the chooser keeps is judged by the context's `evaluate` (each node of a
   * set runs at least one vCPU; DRAM memory only on the set's nodes), so fleet mode may prune hosts
   * on the memory of nodes with a free PU only (host-ledger `mayHold`). False (the default) for
   * choosers that build placements of their own (interleave puts memory on every node).
   */
  sets: boolean;
  /**
   * A judgement read straight off the capacity view for the requests `accepts` takes (the same
   * result as the chooser's, without a context), or `GENERAL` when the chooser must run.
   */
  direct?: { accepts(request: VmRequest): boolean; judge(request: VmRequest, state: HostState, capacity: HostCapacity): CompactJudgement | null | typeof GENERAL };
}

const NO_LIMIT = Number.POSITIVE_INFINITY;

const TABLE: Record<string, () => EngineChooser> = {
  numaplan: () => ({ choose: chooseNumaplanLean, nodeLimit: NO_LIMIT, sets: true, direct: { accepts: directEligible, judge: numaplanDirect } }),
  'first-fit': () => ({ choose: chooseFirstFit, nodeLimit: NO_LIMIT, sets: false }),
  interleave: () => ({ choose: chooseInterleave, nodeLimit: NO_LIMIT, sets: false }),
  'k8s-single-numa-node': () => ({ choose: k8sChooser('single-numa-node', false, 'k8s-single-numa-node'), nodeLimit: K8S_MAX_NUMA_NODES, sets: false }),
  'k8s-restricted': () => ({ choose: k8sChooser('restricted', false, 'k8s-restricted'), nodeLimit: K8S_MAX_NUMA_NODES, sets: false }),
  'k8s-best-effort': () => ({ choose: k8sChooser('best-effort', false, 'k8s-best-effort'), nodeLimit: K8S_MAX_NUMA_NODES, sets: false }),
  'k8s-best-effort-closest': () => ({ choose: k8sChooser('best-effort', true, 'k8s-best-effort-closest'), nodeLimit: K8S_MAX_NUMA_NODES, sets: false }),
  'nova-pack': () => ({ choose: novaChooser('pack', 'nova-pack'), nodeLimit: NO_LIMIT, sets: false }),
  'nova-spread': () => ({ choose: novaChooser('spread', 'nova-spread'), nodeLimit: NO_LIMIT, sets: false }),
  libxl: () => ({ choose: chooseLibxl, nodeLimit: LIBXL_MAX_NUMA_NODES, sets: false }),
  numad: () => ({ choose: chooseNumad, nodeLimit: NO_LIMIT, sets: false }),
};

/** The chooser of a registry policy, or null when fleet mode does not know it. */
export function engineChooser(name: string): EngineChooser | null {
  return TABLE[name]?.() ?? null;
}
