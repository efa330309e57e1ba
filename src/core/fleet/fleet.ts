/**
 * The fleet: many hosts, each a ledger, and the indexes that find candidate hosts for a request
 * without scanning every host. The service holds one in memory (its decisions are made here, the
 * database is the durable record) and the simulator replays traces on one: both choose hosts with
 * the same code, so the simulator predicts the service.
 *
 * Host choice for a request and a policy (`decide`):
 * 1. Candidates. Hosts with one node whose free PUs and free bytes reach the request are visited in
 *    memory-aware best-fit order (`fitScan`: a host's key is the largest, over its nodes, of
 *    min(free PUs, free bytes / ratio), with the ratio of `FIT_RATIOS` at or below the request's bytes
 *    per vCPU), at most `FLEET_SCAN_LIMIT` of them and `BEST_FIT_MISSES` hosts that turn out to have
 *    no such node; else the lowest host id with such a node; else, for a request that may span
 *    nodes, hosts whose free totals reach it, in host-id order. Hosts the caller asks to `avoid` are
 *    judged after the others of this step, and only when none of those takes the VM.
 * 2. The policy decides on each candidate until `FLEET_CANDIDATES` succeed; the lowest rank key wins
 *    (`rank.ts`: predicted latency ratio, nodes, non-local devices, the policy's score; ties: the
 *    earlier candidate).
 * 3. None succeeded: a complete search, every host whose free totals reach the request (a necessary
 *    condition for any placement: dedicated vCPUs take a free PU each, a placement's memory is of one
 *    page size), in host-id order, until `FLEET_CANDIDATES` succeed. A refusal is then a fact about
 *    the fleet, not about a bound.
 * Selections `first` and `best-fit` (the host-level baselines) take the first host that succeeds in
 * host-id order, or in best-fit order.
 *
 * Index keys are read from each host's ledger after every change (`touched`), in O(nodes).
 */
import type { Decision, Refusal } from '../placement/decide.js';
import { cpuModes, decide, nodesOf, pageSizesFor } from '../placement/decide.js';
import type { CpuMode } from '../placement/context.js';
import { Evaluator } from '../placement/evaluator.js';
import type { HostLedger } from '../placement/ledger.js';
import type { PlacementPolicy } from '../placement/policy.js';
import { type HostKey, hostKey, keyLess } from '../placement/rank.js';
import type { VmRequest } from '../placement/request.js';
import { BucketIndex, MaxTree } from './bucket-index.js';

const GIB = 1024 ** 3;

/**
 * Hosts the policy decides on per request before the best is taken. A decision costs tens of
 * microseconds on a two-socket host; four candidates let the ranking choose between hosts whose
 * nodes are filled differently, and the index already orders them best fit first, so hosts further
 * down rarely win.
 */
export const FLEET_CANDIDATES = 4;
/** Candidate hosts the first step collects at most (successes and refusals). */
export const FLEET_SCAN_LIMIT = 16;
/**
 * Hosts a best-fit bucket scan may visit that turn out to have no node that fits (a key sees memory
 * only at a ratio up to twice below the request's). Past this the scan falls back to the lowest
 * host with such a node (the node tree prunes on both resources).
 */
export const BEST_FIT_MISSES = 64;
/** Refusals a fleet refusal reports (each with its reasons and hints, built on first read). */
export const REPORTED_REFUSALS = 3;

/**
 * Bytes per vCPU slot of the memory-aware indexes, ascending: a request uses the largest at or below
 * its own ratio, so a host's key overstates what it can take by at most a factor of two in memory.
 */
export const FIT_RATIOS: readonly number[] = [0.5 * GIB, 1 * GIB, 2 * GIB, 4 * GIB, 8 * GIB, 16 * GIB];
const FIT_INVERSE = new Float64Array(FIT_RATIOS.map((r) => 1 / r));

/** How the fleet picks among hosts where the policy places the VM. */
export type HostSelection = 'rank' | 'first' | 'best-fit';

/** One host of the fleet. */
export interface FleetHost {
  /** Dense id (index order: the tie-break of the ranking and the order of the complete search). */
  readonly id: number;
  readonly name: string;
  ledger: HostLedger;
}

/** The fleet's choice: the host and the policy's decision there. */
export interface FleetChoice {
  ok: true;
  host: FleetHost;
  decision: Decision;
  key: HostKey;
  /** Hosts the policy decided on. */
  considered: number;
}

/** No host takes the VM: the first refusals (their reasons and hints built on first read). */
export interface FleetRefusal {
  ok: false;
  considered: number;
  /** The first REPORTED_REFUSALS refusals, in the order the hosts were tried. */
  reported: { host: FleetHost; refusal: Refusal }[];
}

/** What the index may assume of a request: free PUs it needs at least, bytes of DRAM, one node or not. */
interface Need {
  cpu: number;
  mem: number;
  single: boolean;
  /** A dedicated DRAM request the ledger's page totals bound (`HostLedger.mayHold`). */
  plain: boolean;
}

/**
 * The memo key of a request's shape under a policy: every field a decision depends on except the
 * name; null for requests whose decision depends on more (devices, explicit nodes, CPUs or layout),
 * which are decided afresh.
 */
function shapeKey(policy: PlacementPolicy, r: VmRequest): string | null {
  if (r.devices.length > 0 || r.nodes || r.cpus || r.layout) return null;
  return `${policy.name}|${r.vcpus}|${r.memory}|${r.pageSize}|${r.cpuPolicy}|${r.smt}|${r.emulator}|${r.numa}|${r.tier}|${r.maxNodes ?? ''}`;
}

/** A host's verdict for a request: its rank key, or refused; with the decision when it was made or rebuilt. */
interface Verdict {
  key: HostKey | null;
  made: Decision | Refusal | null;
}

/**
 * What a host's memo keeps of a verdict: null for a refusal; else the rank key and, for policies
 * whose choice is the evaluation of its node set (`sets`), the context's mode and page size and the
 * set, enough to rebuild the decision without running the chooser. Small: memos outlive many
 * decisions, and whole decisions kept that long cost more in garbage collection than they save.
 */
type Remembered = { key: HostKey; mode: CpuMode; pageSize: number; set: number[] | null } | null;

/**
 * The policy's verdict on a host, memoised per host and request shape until the host changes (the
 * ledger drops its memo on every change): a decision does not depend on the VM's name, so the
 * remembered verdict holds for another VM of the same shape.
 */
function verdictOn(policy: PlacementPolicy, request: VmRequest, ledger: HostLedger, detail: boolean, shape: string | null): Verdict {
  if (shape !== null && !ledger.has(request.name)) {
    const hit = ledger.memo.get(shape) as Remembered | undefined;
    if (hit !== undefined) return { key: hit === null ? null : hit.key, made: null };
  }
  const d = decide(policy, request, ledger, { detail });
  const key = d.ok ? hostKey(d) : null;
  if (shape !== null) ledger.memo.set(shape, d.ok ? { key: key as HostKey, mode: d.ctx.mode, pageSize: d.ctx.pageSize, set: policy.sets ? d.choice.evaluation.nodes : null } : null);
  return { key, made: d };
}

/** The decision a remembered verdict stands for, rebuilt from its node set when it has one, else decided again. */
function revive(policy: PlacementPolicy, request: VmRequest, ledger: HostLedger, detail: boolean, shape: string | null): Decision | Refusal {
  const hit = shape === null ? undefined : (ledger.memo.get(shape) as Remembered | undefined);
  if (!hit || hit.set === null || request.devices.length > 0) return decide(policy, request, ledger, { detail });
  const capacity = ledger.capacity();
  const ctx = new Evaluator(request, capacity, hit.pageSize, hit.mode);
  const evaluation = ctx.evaluate(hit.set);
  if (!evaluation.ok) throw new Error(`internal: ${policy.name} remembered a set that does not hold ${request.name}`);
  const nodes = nodesOf(evaluation);
  return { ok: true, policy, request, ledger, version: ledger.version, ctx, choice: { evaluation }, detailed: false, modes: cpuModes(request), pages: pageSizesFor(request, capacity), nodes, assignment: null };
}

function needOf(request: VmRequest): Need {
  const emulator = request.emulator === 'share' ? 0 : request.emulator;
  const dedicated = request.cpuPolicy === 'dedicated';
  const dram = request.tier === 'dram';
  return {
    cpu: dedicated ? request.vcpus + emulator : 0,
    mem: dram ? request.memory : 0,
    single: request.numa === 'strict' || request.maxNodes === 1,
    plain: dedicated && dram && !request.nodes && !request.cpus && !request.layout,
  };
}

/** Options of a fleet decision. */
export interface FleetDecideOptions {
  /** Only this host (by name). */
  host?: string;
  select?: HostSelection;
  /** Ask the policy for the explanation's detail on every host (default: only the caller explains the winner). */
  detail?: boolean;
  /** Record every host the policy decided on, with its decision or refusal (a dry run that reports them all). */
  trace?: { host: FleetHost; made: Decision | Refusal }[];
  /**
   * Hosts to try last among the first candidates (step 1): judged only when no other candidate
   * takes the VM. A service instance sharing its database with others passes the hosts another
   * instance is filling, so that the instances fill different hosts instead of conflicting on the
   * same best one.
   */
  avoid?: (host: FleetHost) => boolean;
}

/** The fleet: hosts, their ledgers, and the indexes. */
export class Fleet {
  private readonly list: (FleetHost | null)[] = [];
  private readonly byName = new Map<string, FleetHost>();
  private readonly free: number[] = [];
  /** Memory-aware best-fit indexes, one per ratio of FIT_RATIOS (see the module comment). */
  private readonly byFit: BucketIndex[] = FIT_RATIOS.map(() => new BucketIndex());
  /** Per host: the best node's free PUs and free bytes (maxima over nodes, each on its own). */
  private readonly nodeTree = new MaxTree();
  /** Per host: free PUs, and free bytes of the best single page size (all counted nodes / those with a free PU). */
  private readonly pageTree = new MaxTree();
  private readonly liveTree = new MaxTree();
  private readonly fitScratch = new Float64Array(FIT_RATIOS.length);

  /** Hosts, in id order. */
  hosts(): FleetHost[] {
    return this.list.filter((h): h is FleetHost => h !== null);
  }

  /** Number of hosts. */
  get size(): number {
    return this.byName.size;
  }

  /** A host by name. */
  get(name: string): FleetHost | undefined {
    return this.byName.get(name);
  }

  /** A host by id. */
  at(id: number): FleetHost | undefined {
    return this.list[id] ?? undefined;
  }

  /** Adds a host (its ledger as it is); the name must be new. */
  add(name: string, ledger: HostLedger): FleetHost {
    if (this.byName.has(name)) throw new Error(`internal: host ${name} is already in the fleet`);
    const id = this.free.length > 0 ? (this.free.pop() as number) : this.list.length;
    const host: FleetHost = { id, name, ledger };
    this.list[id] = host;
    this.byName.set(name, host);
    this.touched(host);
    return host;
  }

  /** Replaces a host's ledger (a host update, or its state read again from the store). */
  replace(name: string, ledger: HostLedger): FleetHost {
    const host = this.byName.get(name);
    if (!host) return this.add(name, ledger);
    host.ledger = ledger;
    this.touched(host);
    return host;
  }

  /** Removes a host. */
  remove(name: string): void {
    const host = this.byName.get(name);
    if (!host) return;
    this.byName.delete(name);
    this.list[host.id] = null;
    for (const b of this.byFit) b.remove(host.id);
    this.nodeTree.set(host.id, -1, -1);
    this.pageTree.set(host.id, -1, -1);
    this.liveTree.set(host.id, -1, -1);
    this.free.push(host.id);
  }

  /** Refreshes a host's index entries from its ledger (after any change of the ledger). */
  touched(host: FleetHost): void {
    const l = host.ledger;
    const id = host.id;
    const fit = this.fitScratch;
    fit.fill(0);
    let bestPus = 0;
    let bestBytes = 0;
    const count = l.nodes.length;
    for (let i = 0; i < count; i++) {
      if (!l.isCounted(i)) continue;
      const pus = l.freePusAt(i);
      const bytes = l.freeBytesAt(i);
      // Ratios are powers of two: the product is exact, as the division in `fitScan`.
      for (let r = 0; r < FIT_INVERSE.length; r++) {
        const k = Math.min(pus, bytes * (FIT_INVERSE[r] as number));
        if (k > (fit[r] as number)) fit[r] = k;
      }
      if (pus > bestPus) bestPus = pus;
      if (bytes > bestBytes) bestBytes = bytes;
    }
    for (let r = 0; r < FIT_RATIOS.length; r++) (this.byFit[r] as BucketIndex).set(id, Math.floor(fit[r] as number));
    this.nodeTree.set(id, bestPus, bestBytes);
    this.pageTree.set(id, l.freeSlots, l.maxPageFree());
    this.liveTree.set(id, l.freeSlots, l.maxPageFree(true));
  }

  /** The host of the lowest id >= from with one node whose free PUs and bytes reach (cpu, mem), or null. */
  private firstOneNode(from: number, cpu: number, mem: number): FleetHost | null {
    for (let h = this.nodeTree.leftmost(from, cpu, mem); h >= 0; h = this.nodeTree.leftmost(h + 1, cpu, mem)) {
      const host = this.list[h];
      if (host && host.ledger.oneNodeFits(cpu, mem)) return host;
    }
    return null;
  }

  /**
   * Visits hosts in memory-aware best-fit order for (cpu, mem) until `visit` returns false (see the
   * module comment); hosts without a node that fits may be visited too (the caller checks).
   */
  fitScan(cpu: number, mem: number, visit: (host: number) => boolean): void {
    const per = cpu > 0 ? mem / cpu : Number.POSITIVE_INFINITY;
    let r = 0;
    while (r + 1 < FIT_RATIOS.length && (FIT_RATIOS[r + 1] as number) <= per) r++;
    (this.byFit[r] as BucketIndex).scan(Math.floor(Math.min(cpu, mem / (FIT_RATIOS[r] as number))), visit);
  }

  /** Hosts in host-id order whose free totals reach the need (the complete search's order). */
  private *byTotals(need: Need, sets: boolean): Generator<FleetHost> {
    if (need.single) {
      for (let h = this.nodeTree.leftmost(0, need.cpu, need.mem); h >= 0; h = this.nodeTree.leftmost(h + 1, need.cpu, need.mem)) {
        const host = this.list[h];
        if (host && host.ledger.oneNodeFits(need.cpu, need.mem)) yield host;
      }
      return;
    }
    const tree = sets ? this.liveTree : this.pageTree;
    for (let h = tree.leftmost(0, need.cpu, need.mem); h >= 0; h = tree.leftmost(h + 1, need.cpu, need.mem)) {
      const host = this.list[h];
      if (host) yield host;
    }
  }

  /** The first candidates of the best-fit order (step 1 of the module comment). */
  private candidates(need: Need, sets: boolean): FleetHost[] {
    const out: FleetHost[] = [];
    if (this.nodeTree.mayReach(need.cpu, need.mem)) {
      let misses = 0;
      this.fitScan(need.cpu, need.mem, (h) => {
        const host = this.list[h];
        if (host && host.ledger.oneNodeFits(need.cpu, need.mem)) out.push(host);
        else misses++;
        return out.length < FLEET_SCAN_LIMIT && misses < BEST_FIT_MISSES;
      });
      if (out.length === 0) {
        const first = this.firstOneNode(0, need.cpu, need.mem);
        if (first) out.push(first);
      }
    }
    if (out.length === 0 && !need.single) {
      for (const host of this.byTotals(need, sets)) {
        out.push(host);
        if (out.length >= FLEET_SCAN_LIMIT) break;
      }
    }
    return out;
  }

  /** Where a request goes: the host and the policy's decision there, or the fleet's refusal. */
  decide(request: VmRequest, policy: PlacementPolicy, options: FleetDecideOptions = {}): FleetChoice | FleetRefusal {
    const need = needOf(request);
    const select = options.select ?? 'rank';
    const detail = options.detail === true;
    // The request's shape, the key of every host's memo (computed once per request).
    const trace = options.trace;
    const shape = detail || trace ? null : shapeKey(policy, request);
    const refusedBy: { host: FleetHost; made: Decision | Refusal | null }[] = [];
    let considered = 0;
    let best: { host: FleetHost; key: HostKey; made: Decision | Refusal | null } | null = null;
    let found = 0;
    const judge = (host: FleetHost): boolean => {
      // The page totals bound every placement of a plain dedicated DRAM request: below them, the policy refuses.
      if (need.plain && !host.ledger.mayHold(need.cpu, request.memory, request.pageSize, policy.sets)) return true;
      considered++;
      const v = verdictOn(policy, request, host.ledger, detail, shape);
      if (trace && v.made) trace.push({ host, made: v.made });
      if (v.key === null) {
        if (refusedBy.length < REPORTED_REFUSALS) refusedBy.push({ host, made: v.made });
        return true;
      }
      if (!best || keyLess(v.key, best.key)) best = { host, key: v.key, made: v.made };
      found++;
      return select === 'rank' && found < FLEET_CANDIDATES;
    };
    if (options.host !== undefined) {
      const host = this.byName.get(options.host);
      if (host) {
        considered++;
        const d = decide(policy, request, host.ledger, { detail });
        trace?.push({ host, made: d });
        if (d.ok) best = { host, key: hostKey(d), made: d };
        else refusedBy.push({ host, made: d });
      }
    } else {
      const tried = new Set<number>();
      const first = select === 'first' ? [] : this.candidates(need, policy.sets);
      const avoid = options.avoid;
      const later: FleetHost[] = [];
      for (const host of first) {
        if (avoid?.(host)) {
          later.push(host);
          continue;
        }
        tried.add(host.id);
        if (!judge(host)) break;
      }
      if (!best) {
        for (const host of later) {
          tried.add(host.id);
          if (!judge(host)) break;
        }
      }
      if (!best) {
        for (const host of this.byTotals(need, policy.sets)) {
          if (tried.has(host.id)) continue;
          if (!judge(host)) break;
        }
      }
    }
    // The winner's decision (decided again when its verdict came from the memo: same host, same result).
    const chosen = best as { host: FleetHost; key: HostKey; made: Decision | Refusal | null } | null;
    if (chosen) {
      const d = chosen.made ?? revive(policy, request, chosen.host.ledger, detail, shape);
      if (!d.ok) throw new Error(`internal: ${policy.name} remembered ${chosen.host.name} as fit for ${request.name}, but refuses it now`);
      return { ok: true, host: chosen.host, decision: d, key: chosen.key, considered };
    }
    const reported = refusedBy.map(({ host, made }) => {
      const r = made ?? decide(policy, request, host.ledger, { detail });
      if (r.ok) throw new Error(`internal: ${policy.name} remembered ${host.name} as refusing ${request.name}, but places it now`);
      return { host, refusal: r };
    });
    return { ok: false, considered, reported };
  }

  /** Records a decision's allocation on its host (its ledger, then the indexes). */
  commit(host: FleetHost, allocation: Parameters<HostLedger['add']>[0]): void {
    host.ledger.add(allocation);
    this.touched(host);
  }

  /** Releases a VM from a host. */
  release(host: FleetHost, name: string): void {
    host.ledger.release(name);
    this.touched(host);
  }
}
