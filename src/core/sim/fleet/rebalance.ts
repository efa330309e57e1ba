/**
 * Rebalancing during a fleet replay: every `everySec` seconds of simulated time, a rule runs on
 * every host that changed since it was last judged: numaplan's planner (`core/rebalance`), or the
 * ESXi-like rule (`core/rebalance/esxi-rule.ts`, every 2 s) or the numad-like rule (`numad-rule.ts`, every 15 s), and its moves are applied to the fleet
 * (each through `applyMove`, then the fleet's indexes). What it measures:
 * moves and bytes, VMs moved more than once, moves of a VM within its cool-down (the planner's
 * promise: always 0), and at every tick the predicted latency ratio of every placed VM (mean and
 * p95 over the fleet, then averaged over the samples) and the fraction of VMs on one node, sampled
 * every `sampleEverySec`. A replay without rebalancing (`rule: 'none'`) samples the same figures at
 * the same times, so that the runs are compared on equal terms.
 *
 * A host that did not change since its last plan is not planned again (its plan would be the same,
 * except for VMs whose cool-down ran out meanwhile: those wait for the host's next change).
 *
 * With the planner, an arrival the fleet refuses is not refused yet (`admit`): on up to `ROOM_HOSTS`
 * hosts whose free totals hold it, the planner looks for make-room moves (`planRoom`, the same
 * kernel, cool-down and cost rules); the first host where a plan admits it gets the moves, then the
 * VM, as the replay would place it there. Those moves count with the others; `admitted` counts the
 * arrivals let in. Likewise an arrival the fleet would split over nodes on its host, when that host
 * refuses it on one node as it is (`unsplit`): make-room moves there for the VM on one node, worth
 * the predicted latency it then avoids over the planner's horizon (not a whole admission), so only
 * cheap moves pay; when the host would hold it on one node already, the split was the kernel's
 * choice and stands.
 */
import type { Fleet, FleetChoice, FleetHost } from '../../fleet/fleet.js';
import type { PlacementPolicy } from '../../placement/policy.js';
import type { VmRequest } from '../../placement/request.js';
import type { Allocation } from '../../placement/state.js';
import { DEFAULT_PLAN_OPTIONS, type Move, type PlanOptions, applyMove, esxiMove, localityOf, numadMove, planRebalance, planRoom, roomPossible } from '../../rebalance/index.js';
import { mean, quantile } from '../stats.js';

/** Who moves VMs during a replay: nobody (the baseline, sampled only), numaplan's planner, or the peers' rules (ESXi-like, numad-like). */
export type RebalanceRule = 'none' | 'numaplan' | 'esxi' | 'numad';

/** Rebalancing settings of a replay. */
export interface ReplayRebalance {
  /** Seconds of simulated time between two runs of the rule. */
  everySec: number;
  rule: RebalanceRule;
  /** Seconds between two samples of the locality figures (the same for every run compared). */
  sampleEverySec: number;
  plan?: Partial<Omit<PlanOptions, 'now'>>;
}

/**
 * Hosts a refused arrival may search room on (in host-id order, among those whose free totals hold
 * it). Each search builds a plan on a host with hundreds of VMs; four keeps a refusal's cost within
 * a few decisions' worth of plans while reaching past the first host that cannot be defragmented.
 */
export const ROOM_HOSTS = 4;

/** The ESXi-like rule as VMware documents it: every 2 s, a gap of 10% between nodes. */
export const ESXI_EVERY_SEC = 2;
const ESXI_IMBALANCE = 0.1;

/** What rebalancing did and the locality over time. */
export interface RebalanceStats {
  everySec: number;
  rule: RebalanceRule;
  ticks: number;
  moves: number;
  bytes: number;
  /** Hosts x simulated hours from the first to the last tick. */
  hostHours: number;
  vmsMoved: number;
  vmsMovedMoreThanOnce: number;
  movesWithinCooldown: number;
  /** Moves that put a VM back on the nodes its previous move took it from (ping-pong). */
  returns: number;
  /** Arrivals the fleet refused that make-room moves let in (the planner only). */
  admitted: number;
  /** Arrivals placed on one node instead of split, thanks to make-room moves (the planner only). */
  unsplit: number;
  /** Moves made for those arrivals, refused or split (counted in `moves` too). */
  roomMoves: number;
  /** Averages over the ticks of: the mean and p95 predicted latency ratio over placed VMs, and the fraction on one node. */
  latencyMeanOverTime: number;
  latencyP95OverTime: number;
  oneNodeOverTime: number;
  /** The samples: simulated time (s), latency ratio mean and p95 over placed VMs, fraction on one node, bytes moved so far. */
  series: { time: number; mean: number; p95: number; oneNode: number; bytes: number }[];
}

const LATENCY = new WeakMap<Allocation, number>();

/** The rebalancing state of one replay. */
export class FleetRebalancer {
  private next: number | null = null;
  private nextSample = 0;
  private first: number | null = null;
  private last = 0;
  private readonly planned = new Map<FleetHost, number>();
  private readonly moved = new Map<string, { count: number; at: number; from: string }>();
  private returns = 0;
  private admitted = 0;
  private unsplitCount = 0;
  private roomMoves = 0;
  private readonly means: number[] = [];
  private readonly p95s: number[] = [];
  private readonly oneNode: number[] = [];
  private readonly series: RebalanceStats['series'] = [];
  private moves = 0;
  private bytes = 0;
  private withinCooldown = 0;
  private readonly cooldownMs: number;

  constructor(
    private readonly fleet: Fleet,
    private readonly options: ReplayRebalance,
  ) {
    if (!(options.everySec > 0)) throw new RangeError(`rebalance interval must be > 0 s, got ${options.everySec}`);
    if (!(options.sampleEverySec > 0)) throw new RangeError(`sample interval must be > 0 s, got ${options.sampleEverySec}`);
    this.cooldownMs = options.plan?.cooldownMs ?? 10 * 60_000;
  }

  /**
   * Runs what is due up to simulated time `t` (seconds), before the event at `t` is replayed: the
   * rule's ticks and the samples, in time order. Ticks at which no host changed since it was last
   * judged are skipped (the rule is deterministic: it would do nothing).
   */
  advance(t: number): void {
    const every = this.options.everySec;
    if (this.next === null) {
      this.first = t;
      this.next = t + every;
      this.nextSample = t + this.options.sampleEverySec;
      return;
    }
    for (;;) {
      const action: number = this.next;
      if (action > t && this.nextSample > t) break;
      if (action <= this.nextSample && action <= t) {
        if (this.options.rule !== 'none' && this.anyChanged()) {
          this.act(action);
          this.next = action + every;
        } else {
          // Nothing changed: the next tick that matters is the first after the next sample or after t.
          const until = Math.min(t, this.nextSample);
          this.next = action + every * (Math.floor((until - action) / every) + 1);
        }
      } else {
        this.sample(this.nextSample);
        this.nextSample += this.options.sampleEverySec;
      }
    }
  }

  private anyChanged(): boolean {
    for (const h of this.fleet.hosts()) if (this.planned.get(h) !== h.ledger.version) return true;
    return false;
  }

  private act(t: number): void {
    const now = t * 1000;
    for (const h of this.fleet.hosts()) this.rebalanceHost(h, now);
  }

  private sample(t: number): void {
    this.last = t;
    const lat: number[] = [];
    let one = 0;
    for (const h of this.fleet.hosts()) {
      const state = h.ledger.state;
      for (const a of state.allocations) {
        let l = LATENCY.get(a);
        if (l === undefined) LATENCY.set(a, (l = localityOf(state, a).relativeLatency));
        lat.push(l);
        if (a.nodes.length === 1) one++;
      }
    }
    if (lat.length === 0) return;
    const sorted = Float64Array.from(lat).sort();
    this.means.push(mean(sorted));
    this.p95s.push(quantile(sorted, 0.95));
    this.oneNode.push(one / lat.length);
    this.series.push({ time: t, mean: this.means[this.means.length - 1] as number, p95: this.p95s[this.p95s.length - 1] as number, oneNode: one / lat.length, bytes: this.bytes });
  }

  private rebalanceHost(h: FleetHost, now: number): void {
    const version = h.ledger.version;
    if (this.planned.get(h) === version) return;
    const state = h.ledger.state;
    const rate = this.options.plan?.rateBytesPerSec ?? 1024 ** 3;
    const rule = this.options.rule;
    const moves =
      rule === 'esxi'
        ? [esxiMove(state, now, { imbalance: ESXI_IMBALANCE, rateBytesPerSec: rate })].filter((m) => m !== null)
        : rule === 'numad'
          ? [numadMove(state, now, { rateBytesPerSec: rate })].filter((m) => m !== null)
          : planRebalance(state, { ...this.options.plan, now }).moves;
    this.apply(h, moves, now);
    this.planned.set(h, h.ledger.version);
  }

  /** Applies moves to a host in order (each checked by `applyMove`; the first refused stops the rest); returns how many applied. */
  private apply(h: FleetHost, moves: readonly Move[], now: number): number {
    let state = h.ledger.state;
    let done = 0;
    for (const m of moves) {
      const r = applyMove(state, m, now);
      if (!r.ok) break;
      done++;
      state = r.state;
      for (const v of m.vms) {
        const after = state.allocations.find((a) => a.name === v.vm) as Allocation;
        this.fleet.release(h, v.vm);
        this.fleet.commit(h, after);
        const seen = this.moved.get(v.vm);
        if (seen && now - seen.at < this.cooldownMs) this.withinCooldown++;
        const to = v.after.nodes.join(',');
        if (seen && seen.from === to) this.returns++;
        this.moved.set(v.vm, { count: (seen?.count ?? 0) + 1, at: now, from: v.before.nodes.join(',') });
      }
      this.moves++;
      this.bytes += m.cost.bytes;
    }
    return done;
  }

  /**
   * An arrival the fleet refused at simulated time `t` (s): make-room moves on a host where the
   * planner finds them, then the fleet's decision on that host. Null when nothing lets it in (only
   * the planner's rule searches; the baseline and the peers' rules refuse as before).
   */
  admit(request: VmRequest, t: number, policy: PlacementPolicy): FleetChoice | null {
    if (this.options.rule !== 'numaplan') return null;
    const now = t * 1000;
    let tried = 0;
    for (const h of this.fleet.hosts()) {
      if (tried >= ROOM_HOSTS) break;
      if (!roomPossible(h.ledger, request)) continue;
      tried++;
      const plan = planRoom(h.ledger.state, request, { ...this.options.plan, now });
      if (plan.waiting[0]?.admittedAt == null) continue;
      const done = this.apply(h, plan.moves, now);
      this.roomMoves += done;
      if (done < plan.moves.length) continue;
      const choice = this.fleet.decide(request, policy, { host: h.name });
      if (choice.ok) {
        this.admitted++;
        return choice;
      }
    }
    return null;
  }

  /**
   * An arrival the fleet places on `choice.host` over several nodes: when that host refuses it on
   * one node as it is, make-room moves worth the latency it would avoid, then the fleet's decision
   * on one node there. Null to keep the split decision.
   */
  unsplit(request: VmRequest, choice: FleetChoice, t: number, policy: PlacementPolicy): FleetChoice | null {
    if (this.options.rule !== 'numaplan' || choice.decision.nodes.length < 2) return null;
    if (request.numa !== 'auto' || request.layout || request.nodes || request.cpus || request.maxNodes !== undefined) return null;
    const avoided = (choice.key[0] as number) - 1;
    if (!(avoided > 0)) return null;
    const one: VmRequest = { ...request, maxNodes: 1 };
    const h = choice.host;
    if (!roomPossible(h.ledger, one)) return null;
    const now = t * 1000;
    const horizon = this.options.plan?.horizonSec ?? DEFAULT_PLAN_OPTIONS.horizonSec;
    const plan = planRoom(h.ledger.state, one, { ...this.options.plan, now }, avoided * horizon);
    if (plan.waiting[0]?.admittedAt == null) return null;
    const done = this.apply(h, plan.moves, now);
    this.roomMoves += done;
    const again = this.fleet.decide(one, policy, { host: h.name });
    if (!again.ok) {
      // The moves were made (and count); the arrival is placed as the fleet now decides it.
      const fallback = this.fleet.decide(request, policy, { host: h.name });
      return fallback.ok ? fallback : null;
    }
    this.unsplitCount++;
    return again;
  }

  /** The figures so far. */
  stats(): RebalanceStats {
    const hours = this.first === null ? 0 : Math.max(0, this.last - this.first) / 3600;
    let twice = 0;
    for (const v of this.moved.values()) if (v.count > 1) twice++;
    return {
      everySec: this.options.everySec,
      rule: this.options.rule,
      ticks: this.means.length,
      moves: this.moves,
      bytes: this.bytes,
      hostHours: hours * this.fleet.size,
      vmsMoved: this.moved.size,
      vmsMovedMoreThanOnce: twice,
      movesWithinCooldown: this.withinCooldown,
      returns: this.returns,
      admitted: this.admitted,
      unsplit: this.unsplitCount,
      roomMoves: this.roomMoves,
      latencyMeanOverTime: this.means.length ? mean(Float64Array.from(this.means)) : 1,
      latencyP95OverTime: this.p95s.length ? mean(Float64Array.from(this.p95s)) : 1,
      oneNodeOverTime: this.oneNode.length ? mean(Float64Array.from(this.oneNode)) : 1,
      series: this.series,
    };
  }
}
