/**
 * Fleet-mode policies. Two kinds:
 *
 * - Engine policies: every policy of the placement engine's registry (numaplan and the baselines)
 *   under its own name. Host selection is NUMA-aware and indexed: the hosts with a node that can take
 *   the whole VM are visited tightest first (best-fit order of the memory-aware bucket index,
 *   `FleetState.fitScan`: a node's key is min(free slots, free bytes / a bytes-per-slot ratio at or
 *   below the VM's), then the lowest such host, then hosts by page-aware totals), the engine places the VM on each of the first
 *   `FLEET_CANDIDATES` hosts where it succeeds, and the engine's own judgement decides among them:
 *   lowest predicted latency ratio, then fewer nodes, then fewer non-local devices, then the engine's
 *   score, then the tighter host. Refusals by the engine (page pools, whole cores, devices that the
 *   cheap bound does not see) do not count as candidates; the fast path tries at most
 *   `FLEET_SCAN_LIMIT` hosts. When none of them takes the VM, a complete search (every host whose
 *   page-aware free totals reach the VM, in host-id order through the ledgers' tree) runs before the
 *   VM is refused: a rejection means that no host of the fleet can take it. Hosts below those totals
 *   (free PUs; free bytes of one page size, for node-set choosers on nodes with a free PU) are never
 *   judged: the engine would refuse them.
 * - Host-level policies on the fleet model alone (no engine call): `host-first-fit` (lowest host id,
 *   lowest node that fits) and `host-best-fit` (the host whose emptiest node is tightest, the node
 *   with the least room left); a VM that fits no single node spreads over the fewest nodes of one host
 *   (most free first). These are the fast path of large sweeps.
 */
import { weightedDistance } from '../../cost/model.js';
import { getPolicy, policyNames } from '../../placement/policies/index.js';
import { assign } from '../../placement/assign.js';
import { type Allocation, allocationOf } from '../../placement/state.js';
import type { PlacementPolicy } from '../../placement/policy.js';
import type { VmRequest } from '../../placement/request.js';
import type { Placement } from '../../placement/types.js';
import { type EngineChooser, engineChooser } from './choosers.js';
import { GENERAL } from './direct-judge.js';
import { type CompactJudgement, type HostJudgement, compact, judgeHost, keyLess, revive } from './judge.js';
import type { TraceRequest } from '../trace.js';
import type { FleetShare, FleetState } from './fleet-state.js';
import { toVmRequest, vcpuSlots } from './request-map.js';

/**
 * Hosts the engine judges per decision. An engine call costs about a millisecond on a 2-socket host;
 * four candidates keep a decision within a few milliseconds while still letting the engine's score
 * choose between hosts whose nodes are filled differently. The index already orders candidates by
 * best fit, so hosts further down the order rarely win.
 */
export const FLEET_CANDIDATES = 4;
/** Hosts the fast path tries per decision at most (successes and refusals); the complete search follows when none succeeds. */
export const FLEET_SCAN_LIMIT = 16;
/**
 * Hosts a best-fit bucket scan may visit that turn out not to fit (the host-level policies' key counts
 * vCPU slots only, so a host can be in a high bucket with no memory left; the engine policies' key
 * sees memory at a ratio up to twice below the VM's). Past this the decision falls back to the
 * leftmost-fit tree, which prunes on both resources and always finds a fit if one exists.
 */
export const BEST_FIT_MISSES = 64;

/** What one decision did. */
export interface FleetDecision {
  share: FleetShare;
  /** Predicted memory latency relative to all-local. */
  latency: number;
  /** Requested devices that are not local to the VM's nodes. */
  deviceMisses: number;
}

/** A fleet policy. */
export interface FleetPolicy {
  readonly name: string;
  readonly description: string;
  /** Places request `index` or returns null; on success the fleet already holds it. */
  place(fleet: FleetState, request: TraceRequest, index: number): FleetDecision | null;
  /** Frees what `place` took. */
  release(fleet: FleetState, share: FleetShare): void;
}

/** Host-level policy names. */
export const HOST_POLICIES: readonly string[] = ['host-first-fit', 'host-best-fit'];

/** Every fleet policy name: the engine's registry, then the host-level ones. */
export function fleetPolicyNames(): string[] {
  return [...policyNames(), ...HOST_POLICIES];
}

/** How engine policies decide (tests compare the paths). */
export interface EngineOptions {
  /** Judge every candidate host with the full `place()` instead of the chooser (the reference path). */
  slow?: boolean;
}

/** A fleet policy by name, or undefined. */
export function fleetPolicy(name: string, options: EngineOptions = {}): FleetPolicy | undefined {
  if (name === 'host-first-fit') return hostPolicy(name, 'lowest host, lowest node where the VM fits (fleet model, no engine call)', true);
  if (name === 'host-best-fit') return hostPolicy(name, 'host whose emptiest node fits tightest, node with least room left (fleet model, no engine call)', false);
  if (!policyNames().includes(name)) return undefined;
  return enginePolicy(name, options);
}

function fitsOneNode(fleet: FleetState, host: number, cpu: number, mem: number): number {
  const base = fleet.nodeBase[host] as number;
  for (let i = 0; i < (fleet.nodeCount[host] as number); i++) {
    if ((fleet.freeCpu[base + i] as number) >= cpu && (fleet.freeMem[base + i] as number) >= mem) return base + i;
  }
  return -1;
}

function enginePolicy(name: string, options: EngineOptions = {}): FleetPolicy {
  const policy = getPolicy(name);
  const known = engineChooser(name);
  const chooser = options.slow ? null : known;
  // Hosts below the ledger's page-aware totals cannot take the VM: both paths prune on the same tree.
  const sets = known?.sets ?? false;
  return {
    name,
    description: `${policy.description} (engine; host: best of ${FLEET_CANDIDATES} indexed candidates by the engine's judgement)`,
    place(fleet, request, index) {
      const req = toVmRequest(request, index);
      const candidates: number[] = [];
      let misses = 0;
      // A root check only: a false positive costs the bounded scan, and the leftmost walk below settles it.
      if (fleet.nodeTree.mayReach(req.vcpus, req.memory)) {
        fleet.fitScan(req.vcpus, req.memory, (h) => {
          if (fitsOneNode(fleet, h, req.vcpus, req.memory) >= 0) candidates.push(h);
          else misses++;
          return candidates.length < FLEET_SCAN_LIMIT && misses < BEST_FIT_MISSES;
        });
        // The lowest host with one node that fits (the node-level tree has no false positives).
        if (candidates.length === 0) {
          const h = fleet.firstFitHost(0, req.vcpus, req.memory);
          if (h >= 0) candidates.push(h);
        }
      }
      if (candidates.length === 0) {
        const tree = sets ? fleet.liveTree : fleet.pageTree;
        for (let h = tree.leftmost(0, req.vcpus, req.memory); h >= 0 && candidates.length < FLEET_SCAN_LIMIT; h = tree.leftmost(h + 1, req.vcpus, req.memory)) {
          candidates.push(h);
        }
      }
      const judge = chooser ? fastJudge(fleet, chooser, req, name) : slowJudge(fleet, policy, req);
      let best = bestOf(candidates, judge);
      if (!best) best = completeSearch(fleet, req, candidates, judge, sets);
      return best ? best.commit() : null;
    },
    release(fleet, share) {
      if (share.engineName !== null) {
        fleet.ledger(share.host).release(share.engineName);
        fleet.repage(share.host);
      }
      fleet.apply(share, 1);
    },
  };
}

/** One host's verdict: the rank key and how to commit it. */
interface Verdict {
  host: number;
  key: readonly number[];
  commit: () => FleetDecision;
}

/** Judges one host for the current request; null when the policy places nothing there. */
type Judge = (host: number) => Verdict | null;

/**
 * The best verdict of `hosts` in their order: the lowest key (ties: the earlier host) among the
 * first `FLEET_CANDIDATES` hosts where the policy succeeds; null when it succeeds on none.
 */
function bestOf(hosts: Iterable<number>, judge: Judge): Verdict | null {
  let best: Verdict | null = null;
  let found = 0;
  for (const h of hosts) {
    const v = judge(h);
    if (!v) continue;
    if (!best || keyLess(v.key, best.key)) best = v;
    if (++found >= FLEET_CANDIDATES) break;
  }
  return best;
}

/**
 * The complete search after the bounded fast path found nothing: every host whose page-aware free
 * totals (free PUs; free bytes of the best single page size, over the nodes with a free PU when the
 * chooser judges node sets: `FleetState.liveTree`, else over all nodes: `pageTree`) reach the
 * request, in host-id order, judged by the policy until `FLEET_CANDIDATES` succeed (hosts the fast
 * path already judged are skipped). The totals are a necessary condition for any engine placement
 * (dedicated vCPUs take one PU each; a placement's memory is of one page size), so a null here means
 * that no host of the fleet can take the VM: a refusal is a fact about the fleet, not about a bound.
 * Deterministic: host-id order, the same key and tie rule as the fast path.
 */
function completeSearch(fleet: FleetState, req: VmRequest, tried: readonly number[], judge: Judge, sets: boolean): Verdict | null {
  const skip = new Set(tried);
  let best: Verdict | null = null;
  let found = 0;
  const tree = sets ? fleet.liveTree : fleet.pageTree;
  for (let h = tree.leftmost(0, req.vcpus, req.memory); h >= 0; h = tree.leftmost(h + 1, req.vcpus, req.memory)) {
    if (skip.has(h)) continue;
    const v = judge(h);
    if (!v) continue;
    if (!best || keyLess(v.key, best.key)) best = v;
    if (++found >= FLEET_CANDIDATES) break;
  }
  return best;
}

/** The cheap judgement (chooser on the host's ledger), memoised per host and request shape until the host changes. */
function fastJudge(fleet: FleetState, chooser: EngineChooser, req: VmRequest, name: string): Judge {
  // Judgements depend on the host's state and the request's shape only.
  const shape = req.devices.length === 0 ? `${name}|${req.vcpus}|${req.memory}|${req.pageSize}|${req.numa}` : null;
  // The ledger's page-aware totals bound every placement of a plain dedicated DRAM request (smt=prefer:
  // one free PU per vCPU; all memory at one page size): a host below them is refused without a context.
  const plain = req.cpuPolicy === 'dedicated' && req.smt === 'prefer' && req.emulator === 'share' && req.tier === 'dram' && !req.nodes && !req.layout;
  const direct = chooser.direct?.accepts(req) ? chooser.direct : null;
  return (h) => {
    const ledger = fleet.ledger(h);
    if (plain && !ledger.mayHold(req.vcpus, req.memory, req.pageSize, chooser.sets)) return null;
    const memo = shape === null ? undefined : (ledger.memo.get(shape) as CompactJudgement | null | undefined);
    if (memo === null) return null;
    if (memo !== undefined) {
      return { host: h, key: memo.key, commit: () => commitJudged(fleet, h, revive(memo, req, ledger.state, ledger.capacity()), req, name) };
    }
    const d = direct ? direct.judge(req, ledger.state, ledger.capacity()) : GENERAL;
    if (d !== GENERAL) {
      if (shape !== null) ledger.memo.set(shape, d);
      if (!d) return null;
      return { host: h, key: d.key, commit: () => commitJudged(fleet, h, revive(d, req, ledger.state, ledger.capacity()), req, name) };
    }
    const j = judgeHost(chooser, req, ledger.state, ledger.capacity());
    if (shape !== null) ledger.memo.set(shape, j && compact(j));
    if (!j) return null;
    return { host: h, key: j.key, commit: () => commitJudged(fleet, h, j, req, name) };
  };
}

/**
 * The slow path (a policy without a known chooser, or the reference in tests): the full engine
 * placement on each host, ranked by the same key as the cheap judgement.
 */
function slowJudge(fleet: FleetState, policy: PlacementPolicy, req: VmRequest): Judge {
  return (h) => {
    const result = policy.place(req, fleet.engineState(h), { hints: false });
    if (!result.ok) return null;
    const p = result.placement;
    const key = [
      p.explanation.cost.relativeLatency,
      p.nodes.length,
      p.devices.filter((d) => !d.local).length,
      p.explanation.chosen.score.reduce((s, t) => s + t.value * t.weight, 0),
    ];
    return { host: h, key, commit: () => commit(fleet, h, p, req) };
  };
}

/**
 * Turns the chosen host's judgement into resources with the engine's own assignment step (concrete
 * CPUs in topology order, devices) on the host's current capacity, and records it: the same
 * allocation the full `place()` would commit (tested against the slow path), without the placement's
 * explanation, vNUMA or cost report.
 */
function commitJudged(fleet: FleetState, host: number, j: HostJudgement, req: VmRequest, policy: string): FleetDecision {
  const ev = j.choice.evaluation;
  const a = assign(j.ctx, ev);
  if (!a.ok) throw new Error(`internal: ${policy} judged host ${host} fit for ${req.name} but its devices ran out`);
  const { cpus, heldCpus, emulatorCpus, devices } = a.assignment;
  const pageSize = j.ctx.pageSize;
  const memory = ev.memory.map((m) => ({ node: m.node, pageSize, bytes: m.bytes }));
  const nodes = nodesOf(ev.parts, ev.memory);
  const alloc: Allocation = {
    name: req.name, policy, request: req, cpus, exclusive: req.cpuPolicy === 'dedicated', heldCpus, emulatorCpus, memory,
    devices: devices.map((d) => d.address), nodes, status: 'committed', expiresAt: null,
  };
  fleet.ledger(host).add(alloc);
  fleet.repage(host);
  const share = fleet.shareOf(host, [...cpus, ...heldCpus, ...emulatorCpus], memory, req.name);
  fleet.apply(share, -1);
  return { share, latency: j.key[0], deviceMisses: j.key[2] };
}

/** The ascending distinct node ids of parts and memory grants. */
function nodesOf(parts: readonly { node: number }[], memory: readonly { node: number }[]): number[] {
  const out: number[] = [];
  const add = (id: number): void => {
    let j = out.length;
    while (j > 0 && (out[j - 1] as number) > id) j--;
    if (j > 0 && out[j - 1] === id) return;
    out.splice(j, 0, id);
  };
  for (const p of parts) add(p.node);
  for (const m of memory) add(m.node);
  return out;
}

/** Records a placement on a host's engine state and in the fleet model. */
function commit(fleet: FleetState, host: number, placement: Placement, req: VmRequest): FleetDecision {
  fleet.ledger(host).add(allocationOf(placement, req, 'committed', null));
  fleet.repage(host);
  const share = fleet.shareOf(host, [...placement.cpus, ...placement.heldCpus, ...placement.emulatorCpus], placement.memory, req.name);
  fleet.apply(share, -1);
  return { share, latency: placement.explanation.cost.relativeLatency, deviceMisses: placement.devices.filter((d) => !d.local).length };
}

function hostPolicy(name: string, description: string, firstFit: boolean): FleetPolicy {
  return {
    name,
    description,
    place(fleet, request) {
      const cpu = vcpuSlots(request);
      const mem = request.memory;
      let host = -1;
      let node = -1;
      if (firstFit) {
        for (let h = fleet.nodeTree.leftmost(0, cpu, mem); h >= 0; h = fleet.nodeTree.leftmost(h + 1, cpu, mem)) {
          node = fitsOneNode(fleet, h, cpu, mem);
          if (node >= 0) {
            host = h;
            break;
          }
        }
      } else if (fleet.nodeTree.mayReach(cpu, mem)) {
        let misses = 0;
        fleet.byNode.scan(cpu, (h) => {
          node = tightestNode(fleet, h, cpu, mem);
          if (node < 0) return ++misses < BEST_FIT_MISSES;
          host = h;
          return false;
        });
        for (let h = fleet.nodeTree.leftmost(0, cpu, mem); host < 0 && h >= 0; h = fleet.nodeTree.leftmost(h + 1, cpu, mem)) {
          node = tightestNode(fleet, h, cpu, mem);
          if (node >= 0) host = h;
        }
      }
      let share: FleetShare | null = null;
      if (host >= 0) share = { host, nodes: [node], cpu: [cpu], mem: [mem], engineName: null };
      else {
        const spreadOn = (h: number): boolean => {
          share = spread(fleet, h, cpu, mem);
          return share === null;
        };
        for (let h = fleet.totalTree.leftmost(0, cpu, mem); h >= 0 && spreadOn(h); h = fleet.totalTree.leftmost(h + 1, cpu, mem));
      }
      if (share === null) return null;
      const s: FleetShare = share;
      fleet.apply(s, -1);
      return { share: s, latency: shareLatency(fleet, s), deviceMisses: 0 };
    },
    release(fleet, share) {
      fleet.apply(share, 1);
    },
  };
}

function tightestNode(fleet: FleetState, host: number, cpu: number, mem: number): number {
  const base = fleet.nodeBase[host] as number;
  let best = -1;
  let bestLeft = Number.POSITIVE_INFINITY;
  for (let i = 0; i < (fleet.nodeCount[host] as number); i++) {
    const n = base + i;
    const c = fleet.freeCpu[n] as number;
    const m = fleet.freeMem[n] as number;
    if (c < cpu || m < mem) continue;
    const left = (c - cpu) / (fleet.capCpu[n] as number) + (m - mem) / (fleet.capMem[n] as number);
    if (left < bestLeft - 1e-12) {
      bestLeft = left;
      best = n;
    }
  }
  return best;
}

/** The fewest nodes of one host (most free slots first, then lowest id) holding the VM; vCPUs and memory in proportion to what each node has free. */
function spread(fleet: FleetState, host: number, cpu: number, mem: number): FleetShare | null {
  const base = fleet.nodeBase[host] as number;
  const order = Array.from({ length: fleet.nodeCount[host] as number }, (_, i) => base + i).sort(
    (a, b) => (fleet.freeCpu[b] as number) - (fleet.freeCpu[a] as number) || a - b,
  );
  let c = 0;
  let m = 0;
  const nodes: number[] = [];
  for (const n of order) {
    if (c >= cpu && m >= mem) break;
    nodes.push(n);
    c += fleet.freeCpu[n] as number;
    m += fleet.freeMem[n] as number;
  }
  if (c < cpu || m < mem) return null;
  nodes.sort((a, b) => a - b);
  const cpus = proportional(cpu, nodes.map((n) => Math.floor(fleet.freeCpu[n] as number)), 1);
  const mems = proportional(mem, nodes.map((n) => fleet.freeMem[n] as number), 4096);
  if (!cpus || !mems) return null;
  return { host, nodes, cpu: cpus, mem: mems, engineName: null };
}

/** Splits `total` in units of `unit` over capacities in proportion, never above a capacity; null if impossible. */
function proportional(total: number, caps: readonly number[], unit: number): number[] | null {
  const sum = caps.reduce((s, x) => s + x, 0);
  if (sum < total) return null;
  const units = Math.ceil(total / unit);
  const out = caps.map((cap) => Math.min(Math.floor(cap / unit), Math.floor((units * cap) / sum)));
  let rest = units - out.reduce((s, x) => s + x, 0);
  for (let pass = 0; rest > 0 && pass < 2; pass++) {
    for (let i = 0; rest > 0 && i < caps.length; i++) {
      const room = Math.floor((caps[i] as number) / unit) - (out[i] as number);
      const take = Math.min(room, pass === 0 ? 1 : rest);
      out[i] = (out[i] as number) + take;
      rest -= take;
    }
  }
  if (rest > 0) return null;
  const scaled = out.map((u) => u * unit);
  const largest = scaled.indexOf(Math.max(...scaled));
  scaled[largest] = (scaled[largest] as number) - (units * unit - total);
  return scaled;
}

/** Predicted latency ratio of a share (the cost model's weighted SLIT ratio, or measured ratio on a calibrated host). */
export function shareLatency(fleet: FleetState, share: FleetShare): number {
  if (share.nodes.length === 1) return 1;
  const v = new Map<number, number>();
  const m = new Map<number, number>();
  share.nodes.forEach((n, i) => {
    const id = fleet.nodeId(share.host, n);
    v.set(id, share.cpu[i] as number);
    m.set(id, share.mem[i] as number);
  });
  return weightedDistance((a, b) => fleet.latencyDistance(share.host, a, b), v, m).relative;
}
