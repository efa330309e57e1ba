/**
 * The fleet's cheap judgement of one host for one VM: what the engine would decide there, without
 * building the placement. The same steps as the engine's attempt (`placeWith`): CPU modes in order,
 * page sizes in order (`pageSizesFor`), a context per (mode, page size) on the host's capacity view,
 * the policy's chooser picks the node set (choosers rank sets with the context's `quickEvaluate`),
 * devices assigned only when the VM asks for some (a device shortage moves on to the next page size,
 * as in the engine). No concrete CPUs, vNUMA, explanation or refusal reasons.
 *
 * The host's rank key is what the full placement would report: predicted latency ratio (the cost
 * model's weighted SLIT ratio of vCPUs and memory, rounded as `predictCost` rounds it), the
 * placement's node count, preferred devices that are not local, and the chooser's score total.
 */
import { SLIT_LOCAL, latencyDistance, weightedDistance } from '../../cost/model.js';
import { type AssignContext, assignDevices } from '../../placement/assign.js';
import type { HostCapacity } from '../../placement/capacity.js';
import { type PlacementContext, makeContext, topologyDistance } from '../../placement/context.js';
import { cpuModes, pageSizesFor } from '../../placement/engine.js';
import type { CpuMode } from '../../placement/context.js';
import type { NodeChoice } from '../../placement/policy.js';
import type { VmRequest } from '../../placement/request.js';
import type { HostState } from '../../placement/state.js';
import type { PlacedDevice } from '../../placement/types.js';
import type { EngineChooser } from './choosers.js';

/** The engine's decision on one host, before concrete CPUs. */
export interface HostJudgement {
  /** What assignment needs of the context the choice was made in. */
  ctx: AssignContext;
  choice: NodeChoice;
  /** Devices assigned (only when the VM asks for devices; else empty). */
  devices: PlacedDevice[];
  /** Rank key: [latency ratio, node count, non-local devices, score total]; lower wins, in order. */
  key: [number, number, number, number];
}

/**
 * What a host's memo keeps of a judgement: the rank key and the chosen evaluation with the (mode,
 * page size) of its context, not the context itself. Contexts are many closures over the host's
 * capacity; memoised ones outlive the young generation and get promoted, then die when the host
 * changes, which made scavenges the largest cost of a fleet replay. `revive` rebuilds the context
 * for the one host a decision commits to.
 */
export interface CompactJudgement {
  key: HostJudgement['key'];
  mode: CpuMode;
  pageSize: number;
  /** The chooser's choice; null for a direct single-node judgement (direct-judge.ts), whose node is `node`. */
  choice: NodeChoice | null;
  /** The chosen node of a direct judgement (-1 otherwise). */
  node: number;
  devices: PlacedDevice[];
}

/** The memo form of a judgement. */
export function compact(j: HostJudgement): CompactJudgement {
  return { key: j.key, mode: j.ctx.mode, pageSize: j.ctx.pageSize, choice: j.choice, node: -1, devices: j.devices };
}

/**
 * The judgement again, ready to commit, on the same host state (the memo is cleared on every change,
 * so the capacity is the one the judgement was made on): what assignment reads, without a context;
 * a direct judgement gets its one node evaluated in a context of the judged mode and page size.
 */
export function revive(c: CompactJudgement, request: VmRequest, state: HostState, capacity: HostCapacity): HostJudgement {
  const distance = topologyDistance(state.topology);
  const ctx: AssignContext = { request, topology: state.topology, capacity, mode: c.mode, pageSize: c.pageSize, distance };
  if (c.choice !== null) return { ctx, choice: c.choice, devices: c.devices, key: c.key };
  if (request.memory % c.pageSize === 0 && request.emulator === 'share' && request.devices.length === 0 && request.tier === 'dram') {
    // What the context's evaluate gives for one node that holds the whole plain VM: every vCPU and
    // every byte there (the proportional split of whole pages over one node), cost d(n,n)/10.
    const node = c.node;
    const evaluation = {
      ok: true,
      nodes: [node],
      parts: [{ node, vcpus: request.vcpus, emulator: 0, memory: request.memory }],
      memory: [{ node, bytes: request.memory }],
      cost: distance(node, node) / SLIT_LOCAL,
      missingPreferred: 0,
      shortfalls: [],
    };
    return { ctx, choice: { evaluation, score: [] }, devices: c.devices, key: c.key };
  }
  const full = makeContext(request, state, c.pageSize, c.mode, capacity);
  const evaluation = full.evaluate([c.node]);
  if (!evaluation.ok) throw new Error(`internal: node ${c.node} was judged to hold ${request.name} but its evaluation fails`);
  return { ctx: full, choice: { evaluation, score: [] }, devices: c.devices, key: c.key };
}

/** Judges one host; null when the policy places nothing there. */
export function judgeHost(chooser: EngineChooser, request: VmRequest, state: HostState, capacity: HostCapacity): HostJudgement | null {
  if (state.topology.nodes.length > chooser.nodeLimit) return null;
  const pages = pageSizesFor(request, capacity);
  const dram = request.tier === 'dram';
  for (const mode of cpuModes(request)) {
    for (const pageSize of pages) {
      // DRAM memory comes from DRAM nodes with CPUs at one page size: less than the request free in
      // all of them together and every chooser refuses; skip building the context.
      if (dram && dramFree(capacity, pageSize) < request.memory) continue;
      const ctx = makeContext(request, state, pageSize, mode, capacity);
      const choice = chooser.choose(ctx);
      if (!choice || 'refused' in choice) continue;
      const ev = choice.evaluation;
      let devices: PlacedDevice[] = [];
      let misses = 0;
      if (request.devices.length > 0) {
        const d = assignDevices(ctx, ev.parts);
        if (!d.ok) continue;
        devices = d.devices;
        for (const x of devices) if (!x.local) misses++;
      }
      let score = 0;
      for (const t of choice.score ?? []) score += t.value * t.weight;
      return { ctx, choice, devices, key: [latencyOf(ctx, choice), nodeCount(choice), misses, score] };
    }
  }
  return null;
}

/** Free bytes of one page size over the DRAM nodes with CPUs (the nodes a DRAM request's memory may use). */
export function dramFree(capacity: HostCapacity, pageSize: number): number {
  let sum = 0;
  for (const n of capacity.nodes) if (n.tier === 'dram' && n.totalPus > 0) sum += n.memory.get(pageSize) ?? 0;
  return sum;
}

/** Lexicographic order of two keys with the tolerance fleet mode has always used (1e-12). */
export function keyLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (Math.abs(d) > 1e-12) return d < 0;
  }
  return false;
}

/** predictCost's relativeLatency for the chosen set (vCPUs without emulator pCPUs, memory grants; measured where the host is calibrated). */
function latencyOf(ctx: PlacementContext, choice: NodeChoice): number {
  const ev = choice.evaluation;
  const only = ev.parts[0];
  const mem = ev.memory[0];
  const distance = latencyDistance(ctx.state.topology, ctx.distance);
  if (ev.parts.length === 1 && ev.memory.length === 1 && only && mem && only.node === mem.node) {
    return only.vcpus === 0 || mem.bytes === 0 ? 1 : Math.round((distance(only.node, only.node) / 10) * 1e4) / 1e4;
  }
  const v = new Map<number, number>();
  for (const p of ev.parts) v.set(p.node, p.vcpus);
  const m = new Map<number, number>();
  for (const g of ev.memory) m.set(g.node, g.bytes);
  return Math.round(weightedDistance(distance, v, m).relative * 1e4) / 1e4;
}

/** Nodes of the placement: those with vCPUs or memory. */
function nodeCount(choice: NodeChoice): number {
  const ev = choice.evaluation;
  if (ev.parts.length === 1 && (ev.memory.length === 0 || (ev.memory.length === 1 && ev.parts[0]?.node === ev.memory[0]?.node))) return 1;
  const s = new Set<number>();
  for (const p of ev.parts) s.add(p.node);
  for (const g of ev.memory) s.add(g.node);
  return s.size;
}
