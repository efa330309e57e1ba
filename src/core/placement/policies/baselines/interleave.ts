/**
 * interleave: memory interleaved page by page over every eligible node, as `numactl --interleave=all`
 * or libvirt `<numatune><memory mode='interleave' nodeset='all'/>` do. The kernel's interleave
 * policy hands pages round-robin; here memory is spread as evenly as the nodes' free pages allow
 * (water filling in whole pages, remainder to the lowest ids).
 *
 * vCPUs: an interleaved process is not bound to CPUs at all (the scheduler moves it). A placement
 * must name one pCPU per vCPU, so vCPUs go first-fit: the lowest node ids first, each node filled
 * before the next (documented simplification); a request with a *required* device starts with the
 * nodes that have a free one (an operator pins such a VM next to its device). Every access then costs
 * the average distance.
 *
 * Simplifications: with `numa=strict` or an explicit guest layout (which interleave cannot express)
 * the policy falls back to first-fit; `maxnodes=N` interleaves over the first N eligible nodes;
 * `nodes=` interleaves over exactly those nodes.
 */
import { weightedDistance } from '../../../cost/model.js';
import { type Part, type PlacementContext, type SetEvaluation, matchingDevices, waterFill } from '../../context.js';
import { type NodeChoice, definePolicy } from '../../policy.js';
import { chooseFirstFit } from './first-fit.js';
import { choiceOf } from './common.js';

/** The interleave chooser. */
export function chooseInterleave(ctx: PlacementContext): NodeChoice | null {
  const request = ctx.request;
  if (request.numa === 'strict' || request.layout) return chooseFirstFit(ctx);
  const limit = request.maxNodes ?? Number.POSITIVE_INFINITY;
  let cpuIds = ctx.cpuNodes.map((n) => n.id);
  const required = request.devices.filter((d) => d.locality === 'required');
  if (required.length > 0) {
    const near = new Set<number>();
    for (const req of required) for (const d of matchingDevices(ctx.capacity, req)) if (d.node !== null) near.add(d.node);
    cpuIds = [...cpuIds.filter((id) => near.has(id)), ...cpuIds.filter((id) => !near.has(id))];
  }
  cpuIds = cpuIds.slice(0, limit);
  const memIds = ctx.separateMemory ? ctx.memNodes.map((n) => n.id) : cpuIds;
  if (cpuIds.length === 0 || memIds.length === 0) return null;

  // vCPUs first-fit over the node ids.
  const parts: Part[] = [];
  let left = ctx.slots;
  for (const id of cpuIds) {
    if (left === 0) break;
    const take = Math.min(left, ctx.cpuCap(id));
    if (take > 0) {
      parts.push({ node: id, vcpus: take, emulator: 0, memory: 0 });
      left -= take;
    }
  }
  if (left > 0) return null;
  const emulator = ctx.slots - request.vcpus;
  if (emulator > 0) {
    let primary = parts[0] as Part;
    for (const p of parts) if (p.vcpus > primary.vcpus) primary = p;
    if (primary.vcpus <= emulator) return null;
    primary.vcpus -= emulator;
    primary.emulator = emulator;
  }

  // Memory interleaved over every memory node.
  const units = waterFill(request.memory / ctx.memUnit, memIds.map((id) => Math.floor(ctx.memCap(id) / ctx.memUnit)));
  if (!units) return null;
  const memory = memIds.map((id, i) => ({ node: id, bytes: (units[i] as number) * ctx.memUnit })).filter((m) => m.bytes > 0);
  for (const p of parts) p.memory = memory.find((m) => m.node === p.node)?.bytes ?? 0;

  // Devices: required ones on the vCPU nodes, preferred ones counted when elsewhere.
  const vcpuNodes = new Set(parts.map((p) => p.node));
  const used = new Set<string>();
  let missingPreferred = 0;
  for (const req of request.devices) {
    const free = matchingDevices(ctx.capacity, req).filter((d) => !used.has(d.address) && !(d.physfn !== null && used.has(d.physfn)));
    const local = free.filter((d) => d.node !== null && vcpuNodes.has(d.node));
    if (req.locality === 'required' && local.length < req.count) return null;
    if (free.length < req.count) return null;
    if (req.locality === 'preferred') missingPreferred += Math.max(0, req.count - local.length);
    for (const d of [...local, ...free.filter((x) => !local.includes(x))].slice(0, req.count)) used.add(d.address);
  }

  const cost = weightedDistance(ctx.distance, new Map(parts.map((p) => [p.node, p.vcpus + p.emulator])), new Map(memory.map((m) => [m.node, m.bytes]))).relative;
  const evaluation: SetEvaluation = { ok: true, nodes: [...vcpuNodes].sort((a, b) => a - b), parts, memory, cost, missingPreferred, shortfalls: [] };
  return choiceOf(evaluation, [`interleave: memory spread page by page over nodes ${memIds.join(',')}; vCPUs first-fit on nodes ${parts.map((p) => p.node).join(',')}`]);
}

/** interleave policy. */
export const interleavePolicy = definePolicy('interleave', 'memory interleaved over every eligible node (numactl --interleave=all); vCPUs first-fit by node id', chooseInterleave, {
  sets: false,
});
