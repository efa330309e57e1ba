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
import { weightedDistance } from '../../cost/model.js';
import { assignDevices } from '../../placement/assign.js';
import type { HostCapacity } from '../../placement/capacity.js';
import { type PlacementContext, makeContext } from '../../placement/context.js';
import { cpuModes, pageSizesFor } from '../../placement/engine.js';
import type { NodeChoice } from '../../placement/policy.js';
import type { VmRequest } from '../../placement/request.js';
import type { HostState } from '../../placement/state.js';
import type { PlacedDevice } from '../../placement/types.js';
import type { EngineChooser } from './choosers.js';

/** The engine's decision on one host, before concrete CPUs. */
export interface HostJudgement {
  ctx: PlacementContext;
  choice: NodeChoice;
  /** Devices assigned (only when the VM asks for devices; else empty). */
  devices: PlacedDevice[];
  /** Rank key: [latency ratio, node count, non-local devices, score total]; lower wins, in order. */
  key: [number, number, number, number];
}

/** Judges one host; null when the policy places nothing there. */
export function judgeHost(chooser: EngineChooser, request: VmRequest, state: HostState, capacity: HostCapacity): HostJudgement | null {
  if (state.topology.nodes.length > chooser.nodeLimit) return null;
  const pages = pageSizesFor(request, capacity);
  for (const mode of cpuModes(request)) {
    for (const pageSize of pages) {
      const ctx = makeContext(request, state, pageSize, mode, capacity);
      const choice = chooser.choose(ctx);
      if (!choice) continue;
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

/** Lexicographic order of two keys with the tolerance fleet mode has always used (1e-12). */
export function keyLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (Math.abs(d) > 1e-12) return d < 0;
  }
  return false;
}

/** predictCost's relativeLatency for the chosen set (vCPUs without emulator pCPUs, memory grants). */
function latencyOf(ctx: PlacementContext, choice: NodeChoice): number {
  const ev = choice.evaluation;
  const only = ev.parts[0];
  const mem = ev.memory[0];
  if (ev.parts.length === 1 && ev.memory.length === 1 && only && mem && only.node === mem.node) {
    return only.vcpus === 0 || mem.bytes === 0 ? 1 : Math.round((ctx.distance(only.node, only.node) / 10) * 1e4) / 1e4;
  }
  const v = new Map<number, number>();
  for (const p of ev.parts) v.set(p.node, p.vcpus);
  const m = new Map<number, number>();
  for (const g of ev.memory) m.set(g.node, g.bytes);
  return Math.round(weightedDistance(ctx.distance, v, m).relative * 1e4) / 1e4;
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
