/**
 * The kernel's decision: one request, one policy, one host ledger.
 *
 * 1. A host above the policy's node limit is refused up front (`numa-nodes`).
 * 2. CPU modes to try, in order: smt=auto with dedicated vCPUs tries whole cores first and falls
 *    back to sibling threads only when no whole-core placement exists (and says so); other SMT
 *    policies have one mode. Page sizes: the requested one, or for `auto` the host's sizes from the
 *    largest down (1G, 2M, 4K) among those dividing the memory. Modes are the outer loop: one vCPU per
 *    core matters more than the page size.
 * 3. For each (mode, page size): an evaluator over the ledger's capacity, the policy's chooser picks
 *    the node set; devices are assigned (a shortage moves on to the next page size).
 * 4. Explicit host CPUs (`cpus=`) bypass the chooser: honoured exactly, every CPU checked.
 *
 * The result is a `Decision` (the context, the choice, the nodes) or a `Refusal`. Nothing else is
 * built: concrete CPUs (`assignmentOf`), the placement with its explanation (`explain.ts`) and the
 * refusal's reasons and hints (`refusal.ts`) are made afterwards, and only for what is reported, so
 * that judging many hosts (the fleet) costs one chooser run per host.
 */
import { predictCost } from '../cost/model.js';
import { type Assignment, assign, assignDevices, withIo } from './assign.js';
import { hasIo } from './io-threads.js';
import type { HostCapacity } from './capacity.js';
import type { CpuMode, Part, PlacementContext, SetEvaluation } from './context.js';
import { Evaluator } from './evaluator.js';
import { memResource } from './layout.js';
import { HostLedger } from './ledger.js';
import type { ChooseNodes, NodeChoice, PlaceOptions, PlacementPolicy } from './policy.js';
import { RequestError, type VmRequest, ioOf } from './request.js';
import { memorySplitUnit } from './split.js';
import type { Allocation, HostState } from './state.js';
import { topologyIndex } from './topology-index.js';
import type { PlacementResult, RefusalReason } from './types.js';
import { buildPlacement } from './explain.js';
import { DecisionRefusal } from './refusal.js';

const MODES: Record<VmRequest['smt'] | 'shared', readonly CpuMode[]> = {
  shared: ['shared'],
  auto: ['core', 'thread'],
  prefer: ['thread'],
  isolate: ['isolate'],
  require: ['fill'],
};

/** CPU modes to try for a request, in order (a shared, read-only list). */
export function cpuModes(request: VmRequest): readonly CpuMode[] {
  return MODES[request.cpuPolicy === 'shared' ? 'shared' : request.smt];
}

const ONE_SIZE = new Map<number, readonly number[]>();

/** Page sizes to try for a request, in order. */
export function pageSizesFor(request: VmRequest, capacity: HostCapacity): readonly number[] {
  if (request.pageSize !== 'auto') {
    let one = ONE_SIZE.get(request.pageSize);
    if (!one) ONE_SIZE.set(request.pageSize, (one = [request.pageSize]));
    return one;
  }
  // A size every guest node's memory is a whole number of (the VM's memory without a layout).
  const whole = (p: number): boolean => request.memory % p === 0 && (!request.layout || request.layout.every((g) => g.memory % p === 0));
  const sizes = capacity.pageSizes;
  let all = true;
  for (const p of sizes) if (!whole(p)) all = false;
  return all ? sizes : sizes.filter(whole);
}

/** A decision: where the VM goes on one host, before concrete CPUs and the explanation. */
export interface Decision {
  ok: true;
  policy: PlacementPolicy;
  request: VmRequest;
  /** The host decided on, and its version then (the decision holds while the ledger is unchanged). */
  ledger: HostLedger;
  version: number;
  /** The context the choice was made in. */
  ctx: PlacementContext;
  choice: NodeChoice;
  /** True when the choice carries its alternatives and notes (asked with `detail`). */
  detailed: boolean;
  /** The modes and page sizes that were tried (the explanation names the fallbacks). */
  modes: readonly CpuMode[];
  pages: readonly number[];
  /** Every node the VM uses (vCPUs or memory), ascending. */
  nodes: number[];
  /** Concrete CPUs and devices, when already known (explicit CPUs, device requests). */
  assignment: Assignment | null;
}

/** A refusal: reasons and hints are built on first read (see refusal.ts). */
export type Refusal = DecisionRefusal;

/** Options of a decision. */
export interface DecideOptions {
  /** Ask the chooser for the explanation's alternatives and notes (the caller reports this host). */
  detail?: boolean;
}

/** The nodes of an evaluation (vCPUs or memory), ascending. */
export function nodesOf(ev: SetEvaluation): number[] {
  const out: number[] = [];
  const add = (id: number): void => {
    let j = out.length;
    while (j > 0 && (out[j - 1] as number) > id) j--;
    if (j > 0 && out[j - 1] === id) return;
    out.splice(j, 0, id);
  };
  for (const p of ev.parts) add(p.node);
  for (const m of ev.memory) add(m.node);
  return out;
}

/** Decides where a request goes on a host with a policy (see the module comment). */
export function decide(policy: PlacementPolicy, request: VmRequest, ledger: HostLedger, options: DecideOptions = {}): Decision | Refusal {
  const capacity = ledger.capacity();
  const nodeCount = ledger.topology.nodes.length;
  if (nodeCount > policy.nodeLimit) return DecisionRefusal.overLimit(policy, request, ledger);
  if (ledger.has(request.name)) throw new RequestError('name', `a VM named "${request.name}" is already placed on this host`);
  checkNodes(request, ledger);
  const modes = cpuModes(request);
  const pages = pageSizesFor(request, capacity);
  if (pages.length === 0) {
    if (request.layout && request.memory % 4096 === 0) throw new RequestError('layout', "a guest node's memory is not a whole number of any page size");
    throw new RequestError('memory', `${request.memory} bytes is not a whole number of any page size`);
  }
  if (request.cpus) return decideExplicit(policy, request, ledger, pages);
  const detail = options.detail === true;
  // Devices, shared emulator pCPUs and the I/O plan's CPUs are the only things assignment can run
  // short of: check them now.
  const eager = request.devices.length > 0 || (request.cpuPolicy === 'shared' && request.emulator !== 'share') || hasIo(ioOf(request));
  let last: PlacementContext | null = null;
  let assignReasons: RefusalReason[] = [];
  let policyReasons: RefusalReason[] = [];
  for (const mode of modes) {
    for (const pageSize of pages) {
      const ctx = new Evaluator(request, capacity, pageSize, mode);
      last = ctx;
      const choice = policy.choose(ctx, detail);
      if (!choice) continue;
      if ('refused' in choice) {
        policyReasons = choice.refused;
        continue;
      }
      if (!choice.evaluation.ok) throw new Error(`policy ${policy.name} chose a set that does not fit`);
      let assignment: Assignment | null = null;
      if (eager) {
        const a = assign(ctx, choice.evaluation);
        if (!a.ok) {
          assignReasons = [{ resource: a.resource, node: a.node, need: a.need, have: a.have, detail: a.detail }];
          continue;
        }
        assignment = a.assignment;
      }
      return { ok: true, policy, request, ledger, version: ledger.version, ctx, choice, detailed: detail, modes, pages, nodes: nodesOf(choice.evaluation), assignment };
    }
  }
  return new DecisionRefusal(policy, request, ledger, last, policyReasons, assignReasons);
}

/** Concrete CPUs and devices of a decision (computed on first use, on the ledger as it was decided on). */
export function assignmentOf(d: Decision): Assignment {
  if (d.assignment) return d.assignment;
  if (d.ledger.version !== d.version) throw new Error(`internal: the host changed since ${d.request.name} was decided`);
  const a = assign(d.ctx, d.choice.evaluation);
  if (!a.ok) throw new Error(`internal: ${d.policy.name} decided ${d.request.name} but assignment ran short of ${a.resource}`);
  d.assignment = a.assignment;
  return a.assignment;
}

/** The allocation a decision becomes on its host (the same as `allocationOf` its placement). */
export function allocationOfDecision(d: Decision, status: Allocation['status'], expiresAt: number | null): Allocation {
  const a = assignmentOf(d);
  const request = d.request;
  const pageSize = d.ctx.pageSize;
  return {
    name: request.name,
    policy: d.policy.name,
    request,
    cpus: [...a.cpus],
    exclusive: request.cpuPolicy === 'dedicated',
    heldCpus: [...a.heldCpus],
    emulatorCpus: [...a.emulatorCpus],
    memory: d.choice.evaluation.memory.map((m) => ({ node: m.node, pageSize, bytes: m.bytes })),
    devices: a.devices.map((x) => x.address),
    nodes: [...d.nodes],
    status,
    expiresAt,
  };
}

/** The decision with its explanation's detail: the chooser run again in the same context when it was decided lean. */
export function detailed(d: Decision): Decision {
  if (d.detailed) return d;
  if (d.ledger.version !== d.version) throw new Error(`internal: the host changed since ${d.request.name} was decided`);
  const choice = d.policy.choose(d.ctx, true);
  if (!choice || 'refused' in choice || choice.evaluation.nodes.join(',') !== d.choice.evaluation.nodes.join(',')) {
    throw new Error(`internal: ${d.policy.name} chose differently when asked for detail`);
  }
  d.choice = choice;
  d.detailed = true;
  return d;
}

/** The placement result of a decision or refusal, as `place` reports it. */
export function resultOf(r: Decision | Refusal, options: PlaceOptions = {}): PlacementResult {
  if (!r.ok) return { ok: false, reasons: r.reasons(), hints: options.hints === false ? [] : r.hints() };
  const d = detailed(r);
  return { ok: true, placement: buildPlacement(d, assignmentOf(d), options) };
}

/** Places one VM on a ledger with a policy: the decision, explained. */
export function placeOn(policy: PlacementPolicy, request: VmRequest, ledger: HostLedger, options: PlaceOptions = {}): PlacementResult {
  return resultOf(decide(policy, request, ledger, { detail: true }), options);
}

const LEDGERS = new WeakMap<HostState, HostLedger>();

/** The ledger of a state value, built once per state object (only read, never changed). */
export function ledgerOf(state: HostState): HostLedger {
  let l = LEDGERS.get(state);
  if (!l) LEDGERS.set(state, (l = HostLedger.of(state)));
  return l;
}

/** Places one VM on a host state with a policy (the state is not changed). */
export function placeWith(policy: PlacementPolicy, request: VmRequest, state: HostState, options: PlaceOptions = {}): PlacementResult {
  return placeOn(policy, request, ledgerOf(state), options);
}

function checkNodes(request: VmRequest, ledger: HostLedger): void {
  const topology = ledger.topology;
  if (!request.nodes && !request.cpus) return;
  const ids = request.nodes ? new Set(topology.nodes.map((n) => n.id)) : new Set<number>();
  for (const n of request.nodes ?? []) {
    if (!ids.has(n)) throw new RequestError('nodes', `node ${n} does not exist on this host (nodes: ${[...ids].join(',')})`);
  }
  if (!request.cpus) return;
  const cpus = topologyIndex(topology).puCore;
  for (const c of request.cpus) if (!cpus.has(c)) throw new RequestError('cpus', `CPU ${c} does not exist on this host`);
}

/** Explicit host CPUs (`cpus=`): honoured exactly, every CPU checked (see the module comment). */
function decideExplicit(policy: PlacementPolicy, request: VmRequest, ledger: HostLedger, pages: readonly number[]): Decision | Refusal {
  const capacity = ledger.capacity();
  const topology = ledger.topology;
  const cpus = request.cpus as number[];
  const puOf = new Map(topology.pus.map((p) => [p.os, p]));
  const reasons: RefusalReason[] = [];
  const held: number[] = [];
  const shared = request.cpuPolicy === 'shared';
  const busy = (c: number): string | null => {
    const owner = capacity.cpuOwner.get(c);
    if (owner) return owner;
    if (!shared && ledger.sharedUse(c)) return 'shared VMs';
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
      const core = topology.cores[puOf.get(c)?.core ?? -1];
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
  if (reasons.length > 0) return DecisionRefusal.explicit(policy, request, ledger, reasons);
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
      return DecisionRefusal.explicit(policy, request, ledger, [
        { resource: 'emulator-cpus', node: primary, need: emulator, have: free.length, detail: `reserved emulator pCPUs must be completely free CPUs of node ${primary}, the node of the most pinned vCPUs; it has ${free.length}` },
      ]);
    }
    emulatorCpus = free.slice(free.length - emulator);
  }
  let lastReasons: RefusalReason[] = [];
  for (const pageSize of pages) {
    const ctx = new Evaluator(request, capacity, pageSize, shared ? 'shared' : 'thread');
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
      // A separate tier: from its nodes closest to the pinned vCPUs, as for chosen node sets.
      const grant = ctx.tierMemory(parts);
      if (Array.isArray(grant)) memory = grant;
      else shortfalls.push(grant);
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
    const assignment: Assignment = io.assignment;
    const choice: NodeChoice = { evaluation, score: [], alternatives: [], notes: ['host CPUs given explicitly (cpus=): honoured exactly, each one checked free'] };
    return { ok: true, policy, request, ledger, version: ledger.version, ctx, choice, detailed: true, modes: [ctx.mode], pages, nodes: nodesOf(evaluation), assignment };
  }
  return DecisionRefusal.explicit(policy, request, ledger, lastReasons);
}

/** The chooser type, re-exported for policies that build on others. */
export type { ChooseNodes };
