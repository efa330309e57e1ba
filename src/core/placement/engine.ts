/**
 * The shared machinery behind every policy: `placeWith(policyName, choose, request, state)`.
 *
 * 1. CPU modes to try, in order: smt=auto with dedicated vCPUs tries whole cores first and falls
 *    back to sibling threads only when no whole-core placement exists (and says so); other SMT
 *    policies have one mode. Page sizes: the requested one, or for `auto` the host's sizes from the
 *    largest down (1G, 2M, 4K) among those dividing the memory. Modes are the outer loop: one vCPU per
 *    core matters more than the page size.
 * 2. For each (mode, page size): build the context, ask the policy's chooser for a node set, then
 *    assign concrete CPUs and devices, build the vNUMA, predict the cost, write the explanation.
 * 3. Explicit host CPUs (`cpus=`) bypass the chooser: honoured exactly, every CPU checked.
 * 4. Nothing fits: reasons per node (binding resource, need, have, shortfall) and host-wide, from the
 *    most permissive (mode, page size) tried, plus hints: the nearest changes that would fit, each
 *    verified by re-running the same policy on the changed request.
 */
import { type CostDevice, describeDeviceIo, measuredOf, predictCost } from '../cost/model.js';
import type { Topology } from '../topology/model.js';
import { pageSizeLabel } from '../topology/sizes.js';
import { LINK_CLASSES, linkRank } from '../topology/device-matrix.js';
import { assign, assignDevices, withIo } from './assign.js';
import { LINK_WORDS, LOOSEST_LINK, PAIRING_LEVELS } from './pairing.js';
import { type HostCapacity, hostCapacity } from './capacity.js';
import { type CpuMode, type Part, type PlacementContext, type SetEvaluation, makeContext, memResource, memorySplitUnit, modeLabel, proportional, waterFill } from './context.js';
import type { ChooseNodes, NodeChoice, PlaceOptions } from './policy.js';
import { RequestError, type VmRequest } from './request.js';
import type { HostState } from './state.js';
import type { MemoryPolicy, PlacedDevice, Placement, PlacementResult, RefusalReason } from './types.js';
import { describeIo, withOneGuestNode } from './io-threads.js';
import { topologyIndex } from './topology-index.js';
import { buildVnuma } from './vnuma.js';

/** CPU modes to try for a request, in order. */
export function cpuModes(request: VmRequest): CpuMode[] {
  if (request.cpuPolicy === 'shared') return ['shared'];
  switch (request.smt) {
    case 'auto':
      return ['core', 'thread'];
    case 'prefer':
      return ['thread'];
    case 'isolate':
      return ['isolate'];
    case 'require':
      return ['fill'];
  }
}

/** Page sizes to try for a request, in order. */
export function pageSizesFor(request: VmRequest, capacity: HostCapacity): number[] {
  if (request.pageSize !== 'auto') return [request.pageSize];
  return capacity.pageSizes.filter((p) => request.memory % p === 0);
}

/** An attempt; a `lite` one (hints) stops at the node set: no placement object, no refusal reasons. */
type Attempt =
  | { ok: true; placement: Placement; nodes: number[] }
  | { ok: true; placement: null; nodes: number[] }
  | { ok: false; ctx: PlacementContext | null; reasons: RefusalReason[] };

/** Places with a chooser and the shared machinery. */
export function placeWith(policy: string, choose: ChooseNodes, request: VmRequest, state: HostState, options: PlaceOptions = {}): PlacementResult {
  const capacity = hostCapacity(state);
  const attempt = attemptPlace(policy, choose, request, state, options, capacity);
  if (attempt.ok) {
    if (!attempt.placement) throw new Error('internal: a full attempt without a placement');
    return { ok: true, placement: attempt.placement };
  }
  // Object.assign copies like a spread (same keys, same order) but far faster on these mixed shapes.
  const reasons = attempt.reasons.map((r) => Object.assign({}, r, { shortfall: Math.max(0, r.need - r.have) }));
  const hints = options.hints === false ? [] : hintsFor(policy, choose, request, state, attempt.ctx, capacity);
  return { ok: false, reasons, hints };
}

/** One placement attempt; `capacity` is the capacity view of `state` (built once, shared by the hints). */
function attemptPlace(policy: string, choose: ChooseNodes, request: VmRequest, state: HostState, options: PlaceOptions, capacity: HostCapacity, lite = false): Attempt {
  if (state.allocations.some((a) => a.name === request.name)) {
    throw new RequestError('name', `a VM named "${request.name}" is already placed on this host`);
  }
  checkNodes(request, state);
  const modes = cpuModes(request);
  const pages = pageSizesFor(request, capacity);
  if (pages.length === 0) throw new RequestError('memory', `${request.memory} bytes is not a whole number of any page size`);
  if (request.cpus) {
    const explicit = placeExplicit(policy, request, state, capacity, pages, options);
    return explicit.ok ? { ok: true, placement: explicit.placement, nodes: explicit.placement.nodes } : explicit;
  }
  let last: PlacementContext | null = null;
  let reasons: RefusalReason[] = [];
  let policyReasons: RefusalReason[] = [];
  for (const mode of modes) {
    for (const pageSize of pages) {
      const ctx = makeContext(request, state, pageSize, mode, capacity);
      last = ctx;
      const choice = choose(ctx);
      if (!choice) continue;
      if ('refused' in choice) {
        policyReasons = choice.refused;
        continue;
      }
      if (!choice.evaluation.ok) throw new Error(`policy ${policy} chose a set that does not fit`);
      const a = assign(ctx, choice.evaluation);
      if (!a.ok) {
        reasons = [{ resource: a.resource, node: a.node, need: a.need, have: a.have, detail: a.detail }];
        continue;
      }
      const ev = choice.evaluation;
      // The placement's nodes, as buildPlacement lists them.
      const nodes = [...new Set([...ev.parts.map((p) => p.node), ...ev.memory.map((m) => m.node)])].sort((x, y) => x - y);
      if (lite) return { ok: true, placement: null, nodes };
      return { ok: true, placement: buildPlacement(policy, ctx, choice, a.assignment, modes, pages, options), nodes };
    }
  }
  if (lite) return { ok: false, ctx: last, reasons: [] };
  if (last) reasons = [...refusalReasons(last), ...policyReasons, ...reasons];
  if (reasons.length === 0) {
    // Every refusal says why: when the shared per-node checks find nothing missing, it was the
    // policy's own rule that found no set.
    reasons = [{ resource: 'node-set', node: null, need: 1, have: 0, detail: `${policy}: no node set this policy's rule considers holds the VM, although the shared checks find no node short of it` }];
  }
  return { ok: false, ctx: last, reasons };
}

function checkNodes(request: VmRequest, state: HostState): void {
  const ids = request.nodes ? new Set(state.topology.nodes.map((n) => n.id)) : new Set<number>();
  for (const n of request.nodes ?? []) {
    if (!ids.has(n)) throw new RequestError('nodes', `node ${n} does not exist on this host (nodes: ${[...ids].join(',')})`);
  }
  if (!request.cpus) return;
  const cpus = topologyIndex(state.topology).puCore;
  for (const c of request.cpus) if (!cpus.has(c)) throw new RequestError('cpus', `CPU ${c} does not exist on this host`);
}

function placeExplicit(
  policy: string,
  request: VmRequest,
  state: HostState,
  capacity: HostCapacity,
  pages: number[],
  options: PlaceOptions,
): { ok: true; placement: Placement } | { ok: false; ctx: null; reasons: RefusalReason[] } {
  const cpus = request.cpus as number[];
  const puOf = new Map(state.topology.pus.map((p) => [p.os, p]));
  const reasons: RefusalReason[] = [];
  const held: number[] = [];
  const shared = request.cpuPolicy === 'shared';
  const sharedUse = new Set<number>();
  for (const a of state.allocations) if (!a.exclusive) for (const c of a.cpus) sharedUse.add(c);
  const busy = (c: number): string | null => {
    const owner = capacity.cpuOwner.get(c);
    if (owner) return owner;
    if (!shared && sharedUse.has(c)) return 'shared VMs';
    const pu = puOf.get(c);
    if (!pu || !pu.online || !pu.allowed || pu.node === null) return 'nobody: it is offline, outside the cpuset or on no node';
    return null;
  };
  for (const c of cpus) {
    const owner = busy(c);
    if (owner) reasons.push({ resource: `cpu:${c}`, node: puOf.get(c)?.node ?? null, need: 1, have: 0, detail: `CPU ${c} is taken by ${owner}` });
  }
  if (request.smt === 'isolate' && !shared) {
    const mine = new Set(cpus);
    for (const c of cpus) {
      const core = state.topology.cores[puOf.get(c)?.core ?? -1];
      for (const s of core?.pus ?? []) {
        if (mine.has(s) || held.includes(s)) continue;
        const owner = busy(s);
        if (owner) reasons.push({ resource: `cpu:${s}`, node: puOf.get(s)?.node ?? null, need: 1, have: 0, detail: `sibling ${s} of CPU ${c} must be idle (smt=isolate) but is taken by ${owner}` });
        else held.push(s);
      }
    }
  }
  const order: number[] = [];
  const byNode = new Map<number, number[]>();
  cpus.forEach((c, i) => {
    const n = puOf.get(c)?.node ?? -1;
    if (!byNode.has(n)) {
      byNode.set(n, []);
      order.push(n);
    }
    byNode.get(n)?.push(i);
  });
  if (reasons.length > 0) return { ok: false, ctx: null, reasons };
  // Reserved emulator pCPUs (emulator=N): completely free CPUs of the node holding the most pinned
  // vCPUs (first such node on ties), as for placements the engine chooses; never one of the pins.
  const emulator = request.emulator === 'share' ? 0 : request.emulator;
  let emulatorCpus: number[] = [];
  let primary = -1;
  if (emulator > 0) {
    primary = order.reduce((best, n) => ((byNode.get(n)?.length ?? 0) > (byNode.get(best)?.length ?? 0) ? n : best), order[0] as number);
    const mine = new Set([...cpus, ...held]);
    const free = (capacity.byId.get(primary)?.freePus ?? []).filter((c) => !mine.has(c));
    if (free.length < emulator) {
      return {
        ok: false,
        ctx: null,
        reasons: [{ resource: 'emulator-cpus', node: primary, need: emulator, have: free.length, detail: `reserved emulator pCPUs must be completely free CPUs of node ${primary}, the node of the most pinned vCPUs; it has ${free.length}` }],
      };
    }
    emulatorCpus = free.slice(free.length - emulator);
  }
  let lastReasons: RefusalReason[] = [];
  for (const pageSize of pages) {
    const ctx = makeContext(request, state, pageSize, shared ? 'shared' : 'thread', capacity);
    const memNodes = request.tier !== 'dram' ? null : (request.nodes ?? order);
    const parts: Part[] = order.map((n) => ({ node: n, vcpus: byNode.get(n)?.length ?? 0, emulator: n === primary ? emulator : 0, memory: 0 }));
    let memory: { node: number; bytes: number }[] = [];
    const shortfalls: RefusalReason[] = [];
    if (memNodes) {
      const weights = memNodes.map((n) => byNode.get(n)?.length ?? 0);
      const w = weights.some((x) => x > 0) ? weights : memNodes.map(() => 1);
      const unit = memorySplitUnit(request.memory, pageSize);
      const unitsTotal = request.memory / unit;
      const share = w.map((x) => Math.floor((unitsTotal * x) / w.reduce((s, y) => s + y, 0)));
      let rest = unitsTotal - share.reduce((s, x) => s + x, 0);
      for (let i = 0; rest > 0; i = (i + 1) % share.length) if ((w[i] as number) > 0) (share[i] = (share[i] as number) + 1), rest--;
      memory = memNodes.map((n, i) => ({ node: n, bytes: (share[i] as number) * unit })).filter((m) => m.bytes > 0);
      for (const m of memory) {
        if (m.bytes > ctx.memCap(m.node)) {
          shortfalls.push({ resource: memResource(pageSize), node: m.node, need: m.bytes, have: ctx.memCap(m.node), detail: `memory for the explicit CPUs on node ${m.node}` });
        }
      }
      for (const p of parts) p.memory = memory.find((m) => m.node === p.node)?.bytes ?? 0;
    } else {
      const ev = ctx.evaluate(order);
      memory = ev.memory;
      if (!ev.ok) shortfalls.push(...ev.shortfalls.filter((s) => !['cpus', 'cores'].includes(s.resource)));
    }
    if (shortfalls.length > 0) {
      lastReasons = shortfalls;
      continue;
    }
    const dev = assignDevices(ctx, parts);
    if (!dev.ok) {
      lastReasons = [{ resource: dev.resource, node: null, need: dev.need, have: dev.have, detail: dev.detail ?? 'devices for the explicit CPUs' }];
      continue;
    }
    const vm = new Map(memory.map((m) => [m.node, m.bytes]));
    const evaluation: SetEvaluation = {
      ok: true,
      nodes: [...order].sort((a, b) => a - b),
      parts,
      memory: [...memory].sort((a, b) => a.node - b.node),
      cost: 0,
      missingPreferred: dev.devices.filter((d) => !d.local).length,
      shortfalls: [],
    };
    evaluation.cost = predictCost({ distance: ctx.distance, vcpusByNode: new Map(parts.map((p) => [p.node, p.vcpus])), memoryByNode: vm, pageSize, deviceNodes: [] }).relativeLatency;
    const io = withIo(ctx, parts, { cpus: [...cpus], heldCpus: held.sort((a, b) => a - b), emulatorCpus, vcpuIndexes: order.map((n) => byNode.get(n) ?? []), devices: dev.devices, io: null });
    if (!io.ok) {
      lastReasons = [{ resource: io.resource, node: io.node, need: io.need, have: io.have, detail: `${io.detail} (explicit CPUs)` }];
      continue;
    }
    const assignment = io.assignment;
    const choice: NodeChoice = { evaluation, score: [], alternatives: [], notes: ['host CPUs given explicitly (cpus=): honoured exactly, each one checked free'] };
    return { ok: true, placement: buildPlacement(policy, ctx, choice, assignment, [ctx.mode], pages, options) };
  }
  return { ok: false, ctx: null, reasons: lastReasons };
}

function smtText(ctx: PlacementContext, modes: CpuMode[]): string {
  switch (ctx.mode) {
    case 'core':
      return 'one vCPU per physical core; sibling threads left free';
    case 'thread':
      return modes.length > 1
        ? 'no placement with one vCPU per whole core exists: vCPUs share sibling threads'
        : ctx.request.cpus
          ? 'explicit host CPUs'
          : 'vCPUs fill sibling threads (smt=prefer)';
    case 'isolate':
      return 'one vCPU per physical core; its siblings held idle so no other tenant shares the core (smt=isolate)';
    case 'fill':
      return 'whole cores only; vCPUs fill their sibling threads (smt=require)';
    case 'shared':
      return 'shared vCPUs on PUs no dedicated VM holds';
  }
}

function buildPlacement(
  policy: string,
  ctx: PlacementContext,
  choice: NodeChoice,
  a: import('./assign.js').Assignment,
  modes: CpuMode[],
  pages: number[],
  options: PlaceOptions,
): Placement {
  const ev = choice.evaluation;
  const request = ctx.request;
  const nodes = [...new Set([...ev.parts.map((p) => p.node), ...ev.memory.map((m) => m.node)])].sort((x, y) => x - y);
  const memoryByNode: Record<string, number> = {};
  for (const m of ev.memory) memoryByNode[String(m.node)] = m.bytes;
  const memoryPolicy = memoryPolicyOf(request, policy);
  // Interleaved memory has no locality to show the guest: it sees one node (see MemoryPolicy).
  const vnuma =
    memoryPolicy === 'interleave'
      ? null
      : buildVnuma(
          { parts: ev.parts.map((p, i) => ({ node: p.node, vcpuIndexes: a.vcpuIndexes[i] ?? [] })), memory: ev.memory, devices: a.devices, distance: ctx.distance },
          options.deviceNodes ? { deviceNodes: true } : {},
        );
  const cost = predictCost({
    distance: ctx.distance,
    vcpusByNode: new Map(ev.parts.map((p) => [p.node, p.vcpus])),
    memoryByNode: new Map(ev.memory.map((m) => [m.node, m.bytes])),
    pageSize: ctx.pageSize,
    deviceNodes: a.devices.map((d) => d.node),
    ...(vnuma ? { guestNodes: vnuma.nodes.map((g) => ({ hostNode: g.hostNode, vcpus: g.vcpus.length, memory: g.memory })) } : {}),
    interleave: memoryPolicy === 'interleave',
    measured: measuredOf(ctx.state.topology),
    ...(a.devices.length > 0 ? { devices: costDevices(ctx.state.topology, a.devices), cpuNodes: ctx.state.topology.nodes.filter((n) => n.cpus.length > 0).map((n) => n.id) } : {}),
  });
  const label = pageSizeLabel(ctx.pageSize);
  const pageText =
    request.pageSize !== 'auto'
      ? `${label} pages (requested)`
      : pages[0] === ctx.pageSize
        ? `${label} pages: the largest size whose pools hold the VM (pages=auto)`
        : `${label} pages: larger sizes (${pages.filter((p) => p > ctx.pageSize).map(pageSizeLabel).join(', ')}) do not fit (pages=auto)`;
  const split = ev.parts.map((p) => `${p.vcpus}`).join('+');
  const notes = [...(choice.notes ?? [])];
  if (ctx.mode === 'thread' && modes.length > 1) notes.push('sibling threads used because no whole-core placement exists (smt=auto)');
  if (request.numa === 'preferred') notes.push('numa=preferred: the memory policy lets the kernel spill to other nodes when these run short');
  if (memoryPolicy === 'interleave') notes.push('numa=interleave: memory interleaved page by page over the nodes, every access costs the average; the guest sees one NUMA node');
  if (memoryPolicy === 'interleave' && options.deviceNodes && a.devices.some((d) => !d.local && d.node !== null)) {
    notes.push('--device-nodes: not applied, an interleaved VM has one guest node, so a device cannot get a guest node of its own');
  }
  for (const d of a.devices) if (!d.local) notes.push(`device ${d.address} is on node ${d.node ?? 'unknown'}, not on the VM's nodes`);
  if (request.pairing) {
    const pairs = a.devices.filter((d) => d.kind === 'gpu' && d.pairedWith);
    const text = pairs.map((d) => `${d.address} with ${d.pairedWith?.address} (${d.pairedWith?.link}${d.pairedWith?.via ? ` via ${d.pairedWith.via}` : ''})`);
    const loosest = pairs.reduce((w, d) => Math.max(w, linkRank(d.pairedWith?.link ?? 'SELF')), 0);
    notes.push(`pairing=${request.pairing}: ${pairs.length} GPU(s) each with a NIC of its own, ${LINK_WORDS[LINK_CLASSES[loosest] ?? '?'] ?? ''} at worst: ${text.join('; ')}`);
  }
  for (const d of cost.deviceIo ?? []) notes.push(describeDeviceIo(d));
  const reserved = a.io ? a.io.emulatorCpus.filter((c) => a.emulatorCpus.includes(c) && !a.io?.taken.includes(c)) : a.emulatorCpus;
  if (reserved.length > 0) notes.push(`emulator${a.io ? '' : '/IO'} threads on their own pCPUs ${reserved.join(',')}`);
  // Queues spread over the guest's nodes: one node for a guest without vNUMA.
  const io = a.io ? (vnuma ? a.io : withOneGuestNode(a.io)) : null;
  if (io) notes.push(`I/O: ${describeIo(io, vnuma ? vnuma.nodes.filter((g) => g.vcpus.length > 0).length : 1)}`, ...io.notes);
  if (a.heldCpus.length > 0) notes.push(`held idle for this VM: CPUs ${a.heldCpus.join(',')}`);
  const summary =
    ev.parts.length === 1
      ? `${request.name}: ${request.vcpus} vCPUs and ${fmt(request.memory)} on node ${ev.parts[0]?.node}${ctx.separateMemory ? ` (memory on ${request.tier} node(s) ${ev.memory.map((m) => m.node).join(',')})` : ''}`
      : `${request.name}: ${request.vcpus} vCPUs split ${split} over nodes ${ev.parts.map((p) => p.node).join(',')} with a ${vnuma?.nodes.length ?? 0}-node vNUMA`;
  return {
    name: request.name,
    policy,
    nodes,
    cpus: a.cpus,
    heldCpus: a.heldCpus,
    emulatorCpus: a.emulatorCpus,
    memoryByNode,
    pageSize: ctx.pageSize,
    memoryPolicy: memoryPolicyOf(request, policy),
    cpuPolicy: request.cpuPolicy,
    memory: ev.memory.map((m) => ({ node: m.node, pageSize: ctx.pageSize, bytes: m.bytes })),
    devices: a.devices,
    vnuma,
    ...(io ? { io } : {}),
    explanation: {
      policy,
      summary,
      smt: smtText(ctx, modes),
      pageSize: pageText,
      chosen: { nodes: ev.parts.map((p) => p.node).sort((x, y) => x - y), cost: round(ev.cost), score: choice.score ?? [] },
      alternatives: choice.alternatives ?? [],
      notes,
      cost,
    },
  };
}

/** The devices of a placement as the cost model reads them: address, class (a VF's is its function's), node. */
function costDevices(topology: Topology, devices: readonly PlacedDevice[]): CostDevice[] {
  const byAddress = new Map(topology.pciDevices.map((d) => [d.address, d]));
  const KIND: Record<string, string> = { gpu: 'gpu', rdma: 'rdma', 'rdma-vf': 'rdma', nic: 'nic', vf: 'nic', pci: 'other' };
  return devices.map((d) => ({
    address: d.address,
    class: byAddress.get(d.address)?.class ?? (d.physfn ? byAddress.get(d.physfn)?.class : undefined) ?? KIND[d.kind] ?? 'other',
    node: d.node,
  }));
}

/** The memory policy of a request under a policy: the interleave baseline interleaves whatever the request says. */
export function memoryPolicyOf(request: VmRequest, policy: string): MemoryPolicy {
  if (request.numa === 'interleave' || (policy === 'interleave' && request.numa !== 'strict' && !request.layout)) return 'interleave';
  return request.numa === 'preferred' ? 'preferred' : 'bind';
}

const round = (x: number): number => Math.round(x * 1e4) / 1e4;

function fmt(bytes: number): string {
  const g = bytes / 1024 ** 3;
  return Number.isInteger(g) ? `${g} GiB` : `${Math.round((bytes / 1024 ** 2) * 10) / 10} MiB`;
}

/** Nodes listed individually in refusals; above it, the ones closest to fitting. */
export const MAX_REFUSAL_NODES = 16;

/** Why nothing fits in a context: per node (single-node shortfalls) and host-wide. */
export function refusalReasons(ctx: PlacementContext): RefusalReason[] {
  const request = ctx.request;
  if (ctx.cpuNodes.length === 0) {
    return [{ resource: 'nodes', node: null, need: 1, have: 0, detail: `no usable node for vCPUs${request.tier !== 'dram' ? ` with ${request.tier} memory` : ''}${request.nodes ? ` among nodes ${request.nodes.join(',')}` : ''}` }];
  }
  if (ctx.separateMemory && ctx.memNodes.length === 0) {
    return [{ resource: `${request.tier}-memory`, node: null, need: request.memory, have: 0, detail: `the host has no ${request.tier} memory node` }];
  }
  if (request.nodes) {
    const ev = ctx.evaluate(ctx.cpuNodes.map((n) => n.id));
    return ev.shortfalls.map((s) => ({ ...s, detail: `${s.detail} (nodes given explicitly)` }));
  }
  if (request.layout) return layoutRefusal(ctx, request.layout.length);
  const single = (id: number): RefusalReason[] => ctx.evaluate([id]).shortfalls.map((s) => Object.assign({}, s, { node: id }));
  let per: RefusalReason[][];
  if (ctx.cpuNodes.length > MAX_REFUSAL_NODES) {
    // The nodes closest to fitting; on the common request their gap comes without a full evaluation.
    const gap = (rs: RefusalReason[]): number => rs.reduce((s, r) => s + (r.need - r.have) / Math.max(1, r.need), 0);
    per = ctx.cpuNodes
      .map((n, i) => ({ id: n.id, i, g: singleGap(ctx, n.id) ?? gap(single(n.id)) }))
      .sort((x, y) => x.g - y.g || x.i - y.i)
      .slice(0, MAX_REFUSAL_NODES)
      .sort((x, y) => x.i - y.i)
      .map((x) => single(x.id));
  } else per = ctx.cpuNodes.map((n) => single(n.id));
  const out = per.flat();
  const hi = ctx.maxNodes();
  if (hi > 1 || request.layout) {
    const lo = ctx.minNodes();
    if (lo === Number.POSITIVE_INFINITY) {
      const all = ctx.evaluate(ctx.cpuNodes.map((n) => n.id));
      out.push(...all.shortfalls.map((s) => ({ ...s, node: null, detail: `whole host: ${s.detail}` })));
      if (all.ok || all.shortfalls.length === 0) {
        out.push({ resource: 'nodes', node: null, need: ctx.cpuNodes.length + 1, have: ctx.cpuNodes.length, detail: 'the host as a whole is too small' });
      }
    } else if (lo > hi) {
      out.push({ resource: 'nodes', node: null, need: lo, have: hi, detail: `needs at least ${lo} nodes; the request allows ${hi}` });
    } else {
      out.push({ resource: 'node-set', node: null, need: 1, have: 0, detail: `no set of ${lo}..${hi} nodes satisfies every constraint together` });
    }
  } else if (request.numa === 'strict') {
    out.push({ resource: 'nodes', node: null, need: 1, have: 0, detail: 'numa=strict: no single node holds the VM' });
  }
  return out;
}

/**
 * Why an explicit guest layout fits nowhere: more guest nodes than usable host nodes (each guest
 * node needs a host node of its own); else each guest node that fits on no host node, with what it
 * lacks on the closest one; else (each has a host node of its own) the set-wide constraint.
 */
function layoutRefusal(ctx: PlacementContext, guests: number): RefusalReason[] {
  const ids = ctx.cpuNodes.map((n) => n.id);
  if (guests > ids.length) {
    return [
      {
        resource: 'nodes',
        node: null,
        need: guests,
        have: ids.length,
        detail: `the layout has ${guests} guest nodes, each on a host node of its own; the host has ${ids.length} node(s) for vCPUs${ctx.request.tier !== 'dram' ? ` with ${ctx.request.tier} memory` : ''}`,
      },
    ];
  }
  const out = ctx.layoutShortfalls(ids);
  if (out.length > 0) return out;
  return [
    {
      resource: 'node-set',
      node: null,
      need: 1,
      have: 0,
      detail: `every guest node fits on a host node of its own, but no set of ${guests} nodes satisfies every other constraint too (devices, memory tier, policy)`,
    },
  ];
}

/**
 * The summed relative shortfall of one node, sum((need - have) / max(1, need)) over the reasons
 * `evaluate([id])` gives, computed without building them for the common request (no layout, no
 * memory tier, no devices: the CPU check, then memory, as evaluate does); null for other requests.
 */
function singleGap(ctx: PlacementContext, id: number): number | null {
  const request = ctx.request;
  if (request.layout || ctx.separateMemory || request.devices.length > 0) return null;
  const slots = ctx.slots;
  const cap = ctx.cpuCap(id);
  if (!(slots <= cap)) return 0 + (slots - cap) / Math.max(1, slots);
  const emulator = request.emulator === 'share' ? 0 : request.emulator;
  const vcpus = slots - emulator;
  if (vcpus <= 0) return 0 + (slots - slots) / Math.max(1, slots);
  const emu = ctx.emulatorCap(id);
  if (emulator > 0 && emu < emulator) return 0 + (emulator - emu) / Math.max(1, emulator);
  const page = ctx.pageSize;
  const mcap = ctx.memCap(id);
  const byPages = (): number[] | null => waterFill(request.memory / page, [Math.floor(mcap / page)])?.map((p) => p * page) ?? null;
  let share = request.numa === 'interleave' ? byPages() : proportional(request.memory, [vcpus], page);
  if (share && (share[0] as number) > mcap) share = byPages();
  if (!share) return 0 + (request.memory - mcap) / Math.max(1, request.memory);
  return 0;
}

/** Variations of a request tried for hints; each is bounded (binary searches are log2 of the size). */
function hintsFor(policy: string, choose: ChooseNodes, request: VmRequest, state: HostState, ctx: PlacementContext | null, capacity: HostCapacity): string[] {
  const hints: string[] = [];
  // A hint needs whether the changed request fits and on which nodes, not the whole placement.
  const fits = (r: VmRequest): { nodes: number[] } | null => {
    try {
      const a = attemptPlace(policy, choose, r, state, { hints: false }, capacity, true);
      return a.ok ? { nodes: a.nodes } : null;
    } catch {
      return null;
    }
  };
  const where = (p: { nodes: number[] }): string => `nodes ${p.nodes.join(',')}`;
  const tryHint = (change: string, r: VmRequest): void => {
    const p = fits(r);
    if (p) hints.push(`${change} would fit (${where(p)})`);
  };
  if (request.pageSize !== 'auto' && request.pageSize > 4096) {
    for (const size of [2 * 1024 ** 2, 4096]) {
      if (size < request.pageSize && request.memory % size === 0) tryHint(`pages=${pageSizeLabel(size)}`, { ...request, pageSize: size });
    }
    if (ctx && ctx.pageSize === request.pageSize) {
      let best: { node: number; pages: number } | null = null;
      for (const n of ctx.cpuNodes) {
        const ev = ctx.evaluate([n.id]);
        if (ev.ok || !ev.shortfalls.every((s) => s.resource === memResource(ctx.pageSize))) continue;
        const pages = Math.ceil((request.memory - ctx.memCap(n.id)) / ctx.pageSize);
        if (!best || pages < best.pages) best = { node: n.id, pages };
      }
      if (best) {
        const pool = state.topology.nodes.find((n) => n.id === best?.node)?.hugePages.find((p) => p.pageSize === ctx.pageSize);
        hints.push(
          `${best.pages} more ${pageSizeLabel(ctx.pageSize)} huge pages on node ${best.node} (its pool has ${pool?.total ?? 0}, ${Math.floor(ctx.memCap(best.node) / ctx.pageSize)} free) would fit it there`,
        );
      }
    }
  }
  if (request.numa === 'strict') tryHint('numa=auto (allowing a split over nodes)', { ...request, numa: 'auto' });
  if (request.maxNodes !== undefined) {
    const { maxNodes: _drop, ...rest } = request;
    tryHint('dropping maxnodes', rest);
  }
  if (request.layout) {
    const { layout: _drop, ...rest } = request;
    tryHint('dropping the explicit layout', rest);
  }
  if (request.nodes) {
    const { nodes: _drop, ...rest } = request;
    tryHint('dropping the explicit nodes', rest);
  }
  if (request.cpus) {
    const { cpus: _drop, ...rest } = request;
    tryHint('dropping the explicit cpus', rest);
  }
  if (request.devices.some((d) => d.locality === 'required')) {
    tryHint('device locality preferred instead of required (a device elsewhere)', {
      ...request,
      devices: request.devices.map((d) => (d.locality === 'required' ? { ...d, locality: 'preferred' as const } : d)),
    });
  }
  if (request.pairing) {
    // The closest looser pairing that fits.
    for (const level of PAIRING_LEVELS.slice(PAIRING_LEVELS.indexOf(request.pairing) + 1)) {
      const before = hints.length;
      tryHint(`pairing=${level} (each GPU's NIC ${LINK_WORDS[LOOSEST_LINK[level]]})`, { ...request, pairing: level });
      if (hints.length > before) break;
    }
  }
  if (request.smt === 'isolate' || request.smt === 'require') tryHint('smt=auto', { ...request, smt: 'auto' });
  if (request.emulator !== 'share') tryHint('emulator=share', { ...request, emulator: 'share' });
  if (request.iocpus !== undefined && request.iocpus !== 'share') tryHint("iocpus=share (I/O threads on the VM's own vCPU pCPUs)", { ...request, iocpus: 'share' });
  if (request.tier !== 'dram') tryHint('tier=dram', { ...request, tier: 'dram' });
  if (hints.length === 0 && request.vcpus > 1 && !request.cpus && !request.layout) {
    let lo = 0;
    let hi = request.vcpus - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits({ ...request, vcpus: mid })) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) hints.push(`vcpus=${lo} would fit with the same memory`);
  }
  if (hints.length === 0 && !request.layout && request.pageSize !== 'auto') {
    const page = request.pageSize;
    let lo = 0;
    let hi = request.memory / page - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits({ ...request, memory: mid * page })) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) hints.push(`memory=${pageSizeLabel(lo * page)} would fit with the same vCPUs`);
  }
  if (hints.length === 0) hints.push('no single change to the request fits this host: free resources (release a VM) or use another host');
  return hints;
}

/** Mode label re-export for renderers. */
export { modeLabel };
