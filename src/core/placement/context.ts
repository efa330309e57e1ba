/**
 * The placement context: the contract between the kernel and the policies. A chooser receives a
 * `PlacementContext` (one request, one host's capacity view, one page size and one CPU mode) and
 * judges node sets with `evaluate`/`quickEvaluate`; `compareEvaluations` is the objective multi-node
 * choices are ranked by. The implementation is the evaluator (`evaluator.ts`); the splitting
 * arithmetic is in `split.ts`, explicit layouts in `layout.ts`.
 */
import { hostCapacity, type HostCapacity, type NodeCapacity } from './capacity.js';
import { Evaluator } from './evaluator.js';
import type { VmRequest } from './request.js';
import type { HostState } from './state.js';
import type { Topology } from '../topology/model.js';
import type { RefusalReason } from './types.js';

export { compareEvaluations, compareIds, matchingDevices } from './evaluator.js';
export { memResource, modeLabel } from './layout.js';
export { MIB, fewestToReach, memorySplitUnit, proportional, waterFill } from './split.js';
export { topologyDistance } from './topology-index.js';

/**
 * How vCPUs map to hardware threads:
 * - core: one vCPU per free whole core, siblings left free (smt=auto while whole cores exist);
 * - thread: any free PU, filling a core's siblings (smt=prefer; smt=auto's fallback);
 * - isolate: one vCPU per whole core, its siblings held idle for the VM;
 * - fill: whole cores only, vCPUs fill all their threads (smt=require);
 * - shared: shared vCPUs on PUs not dedicated to anyone.
 */
export type CpuMode = 'core' | 'thread' | 'isolate' | 'fill' | 'shared';

/** vCPUs (and emulator pCPUs) and memory on one node, in vCPU order. */
export interface Part {
  node: number;
  vcpus: number;
  emulator: number;
  memory: number;
}

/** The judgement of one node set. */
export interface SetEvaluation {
  ok: boolean;
  /** The vCPU nodes, ascending (the set that was evaluated). */
  nodes: number[];
  /** vCPU parts in vCPU order; memory here is the memory on that same node. */
  parts: Part[];
  /** Every memory grant by node, ascending node id (includes tier nodes without vCPUs). */
  memory: { node: number; bytes: number }[];
  /** Weighted SLIT ratio (1 = all local). */
  cost: number;
  /** Preferred devices that cannot be on the set's nodes. */
  missingPreferred: number;
  shortfalls: RefusalReason[];
}

/** Everything a policy needs to judge node sets for one request. */
export interface PlacementContext {
  request: VmRequest;
  /** The host's topology (the capacity view's). */
  topology: Topology;
  capacity: HostCapacity;
  pageSize: number;
  /** The unit memory is split over nodes in (memorySplitUnit: whole MiB, or the page size when larger). */
  memUnit: number;
  mode: CpuMode;
  /** vCPUs + reserved emulator pCPUs. */
  slots: number;
  memory: number;
  /** Nodes eligible for vCPUs, ascending id. */
  cpuNodes: NodeCapacity[];
  /** Nodes eligible for memory: the same as cpuNodes for DRAM, the tier's nodes otherwise. */
  memNodes: NodeCapacity[];
  separateMemory: boolean;
  /** vCPU slots a node can take in this mode. */
  cpuCap(node: number): number;
  /** Bytes of the page size a node can give. */
  memCap(node: number): number;
  /**
   * Reserved emulator pCPUs a node can give: in shared mode only completely free PUs (no tenant,
   * not the reserve, not held by anyone), since emulator pCPUs are then held exclusively; in the
   * dedicated modes every vCPU slot is exclusive already, so this is `cpuCap`.
   */
  emulatorCap(node: number): number;
  distance(a: number, b: number): number;
  evaluate(nodes: readonly number[]): SetEvaluation;
  /**
   * The same judgement as `evaluate` for ranking many sets: `ok`, `nodes`, `cost` and
   * `missingPreferred` are exactly evaluate's, but `parts`, `memory` and `shortfalls` may be left
   * empty (they are, on the allocation-free path for the common request: no layout, no memory tier,
   * no devices). Call `evaluate` on the sets you keep.
   */
  quickEvaluate(nodes: readonly number[]): SetEvaluation;
  /**
   * quickEvaluate's verdict as a number, allocating nothing: the cost of a set that holds the VM,
   * +Infinity for one that does not, null when the request needs the full evaluation (then call
   * quickEvaluate or evaluate).
   */
  quickCost(nodes: readonly number[]): number | null;
  /**
   * For an explicit guest layout: why no assignment of guest nodes to distinct nodes of `nodes`
   * fits (per guest node that fits on none of them, what it lacks on the closest; else the set as a
   * whole); empty when an assignment fits or the request has no layout.
   */
  layoutShortfalls(nodes: readonly number[]): RefusalReason[];
  /** Lower bound on the node count from capacities alone. */
  minNodes(): number;
  /** Upper bound on the node count from the request (strict, maxNodes, layout) and the host. */
  maxNodes(): number;
  /** Objective order of two evaluations: fewer nodes, fewer missing preferred devices, lower cost, lower ids. */
  compare(a: SetEvaluation, b: SetEvaluation): number;
}

/** Builds the context (the evaluator) for one request, page size and CPU mode. */
export function makeContext(request: VmRequest, state: HostState, pageSize: number, mode: CpuMode, capacity: HostCapacity = hostCapacity(state)): PlacementContext {
  if (capacity.topology !== state.topology) throw new Error('internal: a capacity view of another host');
  return new Evaluator(request, capacity, pageSize, mode);
}
