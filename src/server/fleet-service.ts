/**
 * The fleet service's logic, between HTTP and the store: register hosts, place VMs (choosing the
 * host), claim, commit, release, explain, emit, summarise.
 *
 * Decisions are made on this instance's fleet in memory (`fleet-mirror.ts`: the placement kernel's
 * fleet, one ledger per host, loaded from the store on first use), with the kernel's host choice
 * (`core/fleet`: best-fit candidates from the fleet index, the policy decides on each, one ranking
 * rule; the simulator's fleet mode chooses with the same code). The store is the durable record:
 * the writes of one turn of the event loop go in one transaction (group commit), every host's
 * generation checked, and a request is answered only after its transaction committed. A host that
 * another instance changed meanwhile is read again (that host only) and the request decided again,
 * at most MAX_ATTEMPTS times; so several instances on one database never hand out the same CPU,
 * huge page or VF.
 */
import { emitPlacement, EMIT_FORMATS, type EmitFormat } from '../core/emit/index.js';
import type { PlacementLike } from '../core/emit/guest.js';
import type { FleetChoice, FleetHost, FleetRefusal } from '../core/fleet/fleet.js';
import { assignmentOf, detailed } from '../core/placement/decide.js';
import { buildPlacement } from '../core/placement/explain.js';
import { HostLedger } from '../core/placement/ledger.js';
import { DEFAULT_POLICY, getPolicy, listPolicies } from '../core/placement/policies/index.js';
import { hostKey } from '../core/placement/rank.js';
import { type VmRequest, parseVmRequest, parseVmSpec } from '../core/placement/request.js';
import { updateHost } from '../core/placement/host-update.js';
import { type Allocation, type HostReserve, type HostState, StateError, allocationOf, defaultReserve } from '../core/placement/state.js';
import type { Placement, RefusalReason } from '../core/placement/types.js';
import type { Topology } from '../core/topology/model.js';
import type { FleetStore, HostRow, NewEvent, VmRecord } from '../store/types.js';
import { ApiError, toApiError } from './errors.js';
import { FleetMirror, type HostEntry, type Op, statsOf } from './fleet-mirror.js';
import { moveCommands } from '../core/rebalance/commands.js';
import { Metrics } from './metrics.js';
import { DEFAULT_LIMITS } from './body.js';
import { TopologyParser } from './topology-parser.js';
import { planRebalance, type Plan } from '../core/rebalance/plan.js';
import { applyMove } from '../core/rebalance/apply.js';
import { holdOf } from '../core/rebalance/hold.js';
import type { PlanProgress, PlanRecord, PlanWrite } from '../store/types.js';
import { readRebalanceBody } from './rebalance-body.js';
import { checkPlanId, defaultHoldSeconds, holdName, movedPlacement, newPlanId, planView, readApplyBody } from './plans.js';

/** What a request's attempt rejects with to be decided again (its host was read again after a conflict). */
const RETRY = Symbol('retry');

/** Decisions run again after a generation conflict before answering 409 ERR_BUSY. */
export const MAX_ATTEMPTS = 40;
/** Claim lifetime bounds (seconds). */
export const CLAIM_TTL = { default: 60, min: 1, max: 86_400 };
/** Refusals a fleet refusal reports with their reasons and hints (the kernel's REPORTED_REFUSALS). */
export const REPORTED_HOSTS = 3;

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Checks a host or VM name from a URL. */
export function checkName(kind: 'host' | 'vm', name: string): void {
  if (!HOST_NAME.test(name)) throw new ApiError(400, 'ERR_FIELD', kind, 'letters, digits, "_", "." and "-", at most 128');
}

/** Options of the service. */
export interface FleetServiceOptions {
  store: FleetStore;
  /** Names this instance in the event log. */
  instance: string;
  /** Milliseconds; default Date.now. */
  clock?: () => number;
  metrics?: Metrics;
  /** Bounds on host registration bodies: JSON depth, and bytes of the host's model as JSON. */
  hostLimits?: { depth: number; modelBytes: number };
}

/** A placement request as the API takes it. */
export interface PlaceInput {
  vm?: unknown;
  host?: unknown;
  policy?: unknown;
  claim?: unknown;
  ttlSeconds?: unknown;
}

interface Parsed {
  request: VmRequest;
  host: string | null;
  policy: string;
  claim: boolean;
  ttlMs: number;
}

/** An answer of the API and its JSON text. */
export interface Answer {
  value: Record<string, unknown>;
  json: string;
}

/** The service. */
export class FleetService {
  readonly store: FleetStore;
  readonly metrics: Metrics;
  readonly instance: string;
  private readonly clock: () => number;
  private readonly mirror: FleetMirror;
  /** Reads registration bodies in a worker thread. */
  private readonly parser: TopologyParser;
  /** Registration bodies read lately, by text (hosts of one model send the same text). */
  private readonly bodies = new Map<string, Awaited<ReturnType<TopologyParser['parse']>>>();
  /** Claims that lapsed lately, with their expiry (a late commit is told so, not "no such VM"). */
  private readonly lapsed = new Map<string, number>();
  /** Plans this instance is changing: one change of a plan at a time (other instances: the plan's version). */
  private readonly planLocks = new Map<string, Promise<unknown>>();

  constructor(options: FleetServiceOptions) {
    this.store = options.store;
    this.instance = options.instance;
    this.clock = options.clock ?? Date.now;
    this.metrics = options.metrics ?? new Metrics();
    const hl = options.hostLimits ?? { depth: DEFAULT_LIMITS.depth, modelBytes: DEFAULT_LIMITS.hostBytes };
    this.parser = new TopologyParser(hl.depth, hl.modelBytes);
    this.mirror = new FleetMirror(this.store, this.instance, { conflict: () => this.metrics.conflict(), groupCommit: (ops) => this.metrics.groupCommit(ops) }, this.clock);
  }

  /** Stops the worker thread and the polling of the event log. */
  async close(): Promise<void> {
    this.mirror.close();
    await this.parser.close();
  }

  /** Current time of the service's clock (ms). */
  now(): number {
    return this.clock();
  }

  private event(kind: NewEvent['kind'], host: string | null, vm: string | null, data: unknown): NewEvent {
    return { at: this.clock(), kind, host, vm, instance: this.instance, data };
  }

  /**
   * Drops the claims due at `now` from the mirror and queues their removal (with an `expire` event
   * each); lapsed claims hold nothing, so every decision starts with this.
   */
  private expire(now: number): number {
    const due = this.mirror.expireDue(now);
    for (const { host, allocation } of due) {
      if (this.lapsed.size >= 10_000) this.lapsed.delete(this.lapsed.keys().next().value as string);
      this.lapsed.set(allocation.name, allocation.expiresAt ?? now);
      this.mirror.queue({
        host,
        removed: [allocation.name],
        events: [this.event('expire', host, allocation.name, { expiresAt: allocation.expiresAt })],
        done: () => undefined,
        // The host was read again: the claim is back in its ledger (and due), the next expiry writes it.
        conflict: () => undefined,
        fail: () => undefined,
      });
    }
    return due.length;
  }

  /** Runs one attempt of a change on the mirror, again after a conflict, at most MAX_ATTEMPTS times. */
  private attempt<T>(run: (attempt: number, resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const go = (attempt: number): void => {
        if (attempt >= MAX_ATTEMPTS) {
          reject(new ApiError(409, 'ERR_BUSY', null, 'the hosts changed too often while deciding; try again'));
          return;
        }
        this.mirror.ready().then(
          () => {
            try {
              run(attempt, resolve, (e) => (e === RETRY ? go(attempt + 1) : reject(e)));
            } catch (err) {
              reject(err);
            }
          },
          (err: unknown) => reject(err),
        );
      };
      go(0);
    });
  }

  /**
   * Registers or updates a host from a registration body (its JSON text, or the object). `created`
   * is true for a new host, `changed` false when nothing differed. The body is read in a worker
   * thread (see topology-parser.ts); a body seen before (hosts of one model send the same text) is
   * not read again.
   *
   * An update is judged against every VM on the host (`updateHost`: memory per node and page size,
   * each huge-page pool, the reserve, online and allowed CPUs, devices). One that would break a VM
   * not displaced already is refused (409 ERR_HOST_IN_USE, with the VMs and the reasons in a
   * refusal's shape) unless the caller accepts it (`accept: "displace"`, in the body or the query):
   * then those VMs are marked displaced, keep everything they hold (nothing new is placed on it) and
   * are listed in `displaced`. Displaced VMs that fit again are restored (`restored`).
   */
  async registerHost(
    name: string,
    body: Record<string, unknown> | string,
    options: { accept?: string | undefined } = {},
  ): Promise<{ created: boolean; changed: boolean; row: HostRow; displaced: string[]; restored: string[] }> {
    checkName('host', name);
    const parsed = await this.parseBody(typeof body === 'string' ? body : JSON.stringify(body));
    const { topology, topologyText } = parsed;
    const reserveOpt = parseReserveOption(parsed.reserve);
    const accept = parseAccept(options.accept ?? parsed.accept);
    return this.attempt((_attempt, resolve, reject) => {
      const now = this.clock();
      this.expire(now);
      const entry = this.mirror.hosts.get(name);
      let reserve: HostReserve;
      try {
        reserve = reserveOpt !== null || !entry ? defaultReserve(topology, reserveOpt ?? {}) : keepReserve(entry.reserve, topology);
      } catch (err) {
        throw toApiError(err, 'reserve');
      }
      const reserveText = JSON.stringify(reserve);
      // Lapsed claims hold nothing (expire() dropped them): only live VMs are judged and stored back.
      const live: HostState = entry ? entry.host.ledger.state : { schema: 'numaplan.state/v1', topology, reserve, allocations: [] };
      const update = updateHost(live, topology, reserve, now);
      if (update.displaces.length > 0 && !accept) {
        const why = reserveOpt !== null && entry && topologyText === entry.topologyText ? 'reserve' : 'topology';
        throw new ApiError(
          409,
          'ERR_HOST_IN_USE',
          why,
          `the update would break ${update.displaces.length} VM(s) on host "${name}" (${update.displaces.join(', ')}); release or move them, or send accept=displace to mark them displaced`,
          { reasons: update.broken.filter((b) => update.displaces.includes(b.vm)), vms: update.displaces },
        );
      }
      const topologyChanged = !entry || entry.topologyText !== topologyText || JSON.stringify(entry.reserve) !== reserveText;
      const before = new Map(live.allocations.map((a) => [a.name, a]));
      const marks = update.state.allocations
        .filter((a) => !sameMarks(before.get(a.name), a))
        .map((a) => ({ name: a.name, status: a.status, expiresAt: a.expiresAt, allocation: a }));
      if (entry && !topologyChanged && marks.length === 0) {
        resolve({ created: false, changed: false, row: this.mirror.rowOf(entry), displaced: [], restored: [] });
        return;
      }
      const kind = entry ? 'host-update' : 'host-register';
      const events = [
        this.event(kind, name, null, { source: topology.source, nodes: topology.nodes.length, pus: topology.pus.length }),
        ...update.displaces.map((vm) => this.event('displace', name, vm, { reasons: update.broken.filter((b) => b.vm === vm) })),
        ...update.restores.map((vm) => this.event('restore', name, vm, {})),
      ];
      this.mirror.knowTopology(topologyText, topology);
      this.mirror.queue({
        host: name,
        put: { name, source: topology.source, topology: topologyText, reserve: reserveText, stats: statsOf(HostLedger.of(update.state)), topologyChanged, now, vms: marks },
        events,
        done: () => {
          this.metrics.displaced(update.displaces.length);
          const e = this.mirror.hosts.get(name);
          if (!e) {
            reject(new ApiError(409, 'ERR_BUSY', null, 'the host changed while registering; try again'));
            return;
          }
          resolve({ created: !entry, changed: true, row: this.mirror.rowOf(e), displaced: update.displaces, restored: update.restores });
        },
        conflict: () => reject(RETRY),
        fail: (err) => reject(toApiError(err)),
      });
    });
  }

  /** A registration body read in the worker thread, or the result of an identical body read before. */
  private async parseBody(text: string): Promise<Awaited<ReturnType<TopologyParser['parse']>>> {
    const hit = this.bodies.get(text);
    if (hit) return hit;
    const parsed = await this.parser.parse(text);
    if (this.bodies.size >= 16) this.bodies.delete(this.bodies.keys().next().value as string);
    this.bodies.set(text, parsed);
    return parsed;
  }

  /** Removes a host holding no VM. */
  async removeHost(name: string): Promise<void> {
    checkName('host', name);
    await this.attempt<void>((_attempt, resolve, reject) => {
      this.expire(this.clock());
      const entry = this.mirror.hosts.get(name);
      if (!entry) throw new ApiError(404, 'ERR_UNKNOWN_HOST', 'host', `no host "${name}"`);
      if (entry.host.ledger.allocations.length > 0) throw new ApiError(409, 'ERR_HOST_IN_USE', 'host', `host "${name}" still holds VMs; release them first`);
      this.mirror.queue({
        host: name,
        remove: true,
        events: [this.event('host-remove', name, null, {})],
        done: () => resolve(),
        conflict: () => reject(RETRY),
        fail: (err) => reject(toApiError(err)),
      });
    });
  }

  /** The mirror's entry of a host, read from the store first when another instance registered it. */
  private async entryOf(name: string): Promise<HostEntry | null> {
    await this.mirror.ready();
    let entry = this.mirror.hosts.get(name);
    if (!entry && (await this.store.hostRow(name))) {
      await this.mirror.refresh([name]);
      entry = this.mirror.hosts.get(name);
    }
    return entry ?? null;
  }

  /** One host: topology, reserve, capacity per node, CPU owners, VMs. */
  async hostDetail(name: string): Promise<Record<string, unknown>> {
    checkName('host', name);
    const entry = await this.entryOf(name);
    if (!entry) throw new ApiError(404, 'ERR_UNKNOWN_HOST', 'host', `no host "${name}"`);
    const now = this.clock();
    this.expire(now);
    const ledger = entry.host.ledger;
    const state = ledger.state;
    const cap = ledger.capacity();
    const row = this.mirror.rowOf(entry);
    const vms = (await this.store.vmsOf(name)).filter((v) => v.status === 'committed' || (v.expiresAt ?? Infinity) > now);
    return {
      name,
      source: row.source,
      generation: row.generation,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      stats: statsOf(ledger),
      topology: state.topology,
      reserve: state.reserve,
      capacity: cap.nodes.map((n) => ({
        node: n.id,
        totalPus: n.totalPus,
        freePus: n.freePus,
        wholeCores: n.wholeCores.length,
        totalMemory: n.totalMemory,
        freeMemory: Object.fromEntries([...n.memory].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), v])),
        devices: n.devices.map((d) => d.address),
      })),
      freeDevices: [...cap.freeDevices.keys()],
      cpuOwner: Object.fromEntries([...cap.cpuOwner].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), v])),
      displaced: vms.filter((v) => v.allocation.displaced).map((v) => v.name),
      vms: vms.map(vmJson),
    };
  }

  /**
   * Dry run: a rebalancing plan for a host's VMs as the service holds them now (the planner of
   * `numaplan rebalance`, settings from the body: see rebalance-body.ts); nothing is changed or recorded.
   */
  async rebalance(name: string, body: unknown): Promise<{ host: string; generation: number; dryRun: true; plan: Plan }> {
    checkName('host', name);
    const entry = await this.entryOf(name);
    if (!entry) throw new ApiError(404, 'ERR_UNKNOWN_HOST', 'host', `no host "${name}"`);
    const now = this.clock();
    this.expire(now);
    const { options, waiting } = readRebalanceBody(body, now);
    const state = entry.host.ledger.state;
    const requests = waiting.map((w, i) => {
      try {
        return typeof w === 'string' ? parseVmSpec(w) : parseVmRequest(w);
      } catch (err) {
        throw toApiError(err, `waiting.${i}`);
      }
    });
    requests.forEach((r, i) => {
      if (state.allocations.some((a) => a.name === r.name)) throw new ApiError(400, 'ERR_FIELD', `waiting.${i}.name`, `a VM named "${r.name}" is already on the host`);
      if (requests.findIndex((q) => q.name === r.name) !== i) throw new ApiError(400, 'ERR_FIELD', `waiting.${i}.name`, `two waiting VMs are named "${r.name}"`);
    });
    return { host: name, generation: this.mirror.rowOf(entry).generation, dryRun: true, plan: planRebalance(state, options, requests) };
  }

  /** Makes a plan as `rebalance` does and stores it (`proposed`): it can then be reviewed, applied step by step, or cancelled. */
  async createPlan(host: string, body: unknown): Promise<Record<string, unknown>> {
    const made = await this.rebalance(host, body);
    const now = this.clock();
    const rec: PlanRecord = {
      id: newPlanId(),
      host,
      status: 'proposed',
      version: 1,
      nextStep: 1,
      document: made.plan,
      progress: { steps: [], refused: null, cancelledAt: null },
      createdAt: now,
      updatedAt: now,
    };
    await this.store.insertPlan(rec);
    await this.store.appendEvents([this.event('plan-create', host, null, { plan: rec.id, generation: made.generation, moves: made.plan.moves.length, bytes: made.plan.totals.bytes })]);
    return planView(rec);
  }

  /** One stored plan. */
  async plan(id: string): Promise<Record<string, unknown>> {
    return planView(await this.planRecord(id));
  }

  private async planRecord(id: string): Promise<PlanRecord> {
    checkPlanId(id);
    const rec = await this.store.plan(id);
    if (!rec) throw new ApiError(404, 'ERR_UNKNOWN_PLAN', 'plan', `no plan "${id}"`);
    return rec;
  }

  /** Stored plans, newest first (of one host when given). */
  async listPlans(host: string | undefined, limit: number): Promise<Record<string, unknown>[]> {
    if (host !== undefined) checkName('host', host);
    return (await this.store.listPlans({ ...(host !== undefined ? { host } : {}), limit })).map(planView);
  }

  /** Runs changes of one plan one at a time on this instance. */
  private async withPlan<T>(id: string, body: () => Promise<T>): Promise<T> {
    const before = this.planLocks.get(id) ?? Promise.resolve();
    const run = before.then(body, body);
    const tail = run.catch(() => undefined);
    this.planLocks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.planLocks.get(id) === tail) this.planLocks.delete(id);
    }
  }

  /**
   * Changes a stored plan together with its host, decided on the mirror: `decide` returns the op
   * (its VM changes, the plan's new state, events) and the answer; a conflict (the host or the plan
   * changed elsewhere) reads both again and decides again, at most MAX_ATTEMPTS times.
   */
  private async changePlan(
    id: string,
    decideChange: (rec: PlanRecord, entry: HostEntry, now: number) => { op: Omit<Op, 'host' | 'done' | 'conflict' | 'fail'>; answer: (rec: PlanRecord) => Record<string, unknown> },
  ): Promise<Record<string, unknown>> {
    return this.withPlan(id, async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const rec = await this.planRecord(id);
        const entry0 = await this.entryOf(rec.host);
        if (!entry0) throw new ApiError(409, 'ERR_PLAN_STATE', 'plan', `the plan's host "${rec.host}" is gone`);
        await this.mirror.ready();
        const outcome = await new Promise<Record<string, unknown> | typeof RETRY>((resolve, reject) => {
          try {
            const now = this.clock();
            this.expire(now);
            const entry = this.mirror.hosts.get(rec.host);
            if (!entry) throw new ApiError(409, 'ERR_PLAN_STATE', 'plan', `the plan's host "${rec.host}" is gone`);
            const { op, answer } = decideChange(rec, entry, now);
            const plan = op.plan as PlanWrite;
            this.mirror.queue({
              ...op,
              host: rec.host,
              done: () => resolve(answer({ ...rec, status: plan.status, nextStep: plan.nextStep, progress: plan.progress, version: rec.version + 1, updatedAt: now })),
              // A hold's name taken means another instance applied this step: decided again, the plan tells.
              conflict: () => resolve(RETRY),
              fail: (err) => reject(toApiError(err)),
            });
          } catch (err) {
            reject(err);
          }
        });
        if (outcome !== RETRY) return outcome;
      }
      throw new ApiError(409, 'ERR_BUSY', null, 'the host changed too often while applying; try again');
    });
  }

  /**
   * Applies the next step of a stored plan (see plans.ts): checked on the host as it is now, the
   * moved VMs' allocations and placement documents written with the host's generation, what the
   * move frees held by a claim for `holdSeconds`. A step the host no longer allows makes the plan
   * stale: 409 ERR_PLAN_STALE with the reasons.
   */
  async applyPlanStep(id: string, body: unknown): Promise<Record<string, unknown>> {
    const { step: asked, holdSeconds } = readApplyBody(body);
    let refusal: { step: number; code: string; reasons: string[] } | null = null;
    const out = await this.changePlan(id, (rec, entry, now) => {
      if (rec.status !== 'proposed' && rec.status !== 'applying') throw new ApiError(409, 'ERR_PLAN_STATE', 'plan', `plan ${id} is ${rec.status}: nothing to apply`);
      const plan = rec.document as Plan;
      const move = plan.moves[rec.nextStep - 1];
      if (!move) throw new ApiError(409, 'ERR_PLAN_STATE', 'plan', `plan ${id} has no step ${rec.nextStep} (it has ${plan.moves.length})`);
      if (asked !== null && asked !== move.step) throw new ApiError(409, 'ERR_PLAN_STEP', 'step', `step ${asked} is not the next step of plan ${id} (the next is ${move.step})`);
      const ledger = entry.host.ledger;
      const r = applyMove(ledger.state, move, now);
      if (!r.ok) {
        refusal = { step: r.step, code: r.code, reasons: r.reasons };
        const progress: PlanProgress = { ...rec.progress, refused: { ...refusal, at: now } };
        return {
          op: {
            plan: { id, expectedVersion: rec.version, status: 'stale', nextStep: rec.nextStep, progress },
            events: [this.event('plan-stale', rec.host, move.vms[0]?.vm ?? null, { plan: id, step: move.step, code: r.code, reasons: r.reasons })],
          },
          answer: planView,
        };
      }
      const moved = move.vms.map((v) => r.state.allocations.find((a) => a.name === v.vm) as Allocation);
      // The ledger as the step leaves it: every moved VM at its new place, each placement document decided beside the others.
      const held = moved.map((a) => ledger.state.allocations.find((x) => x.name === a.name) as Allocation);
      for (const a of moved) ledger.release(a.name);
      let placements: Placement[];
      try {
        placements = moved.map((a) => movedPlacement(ledger, a, id, move.step));
      } catch (err) {
        // The ledger is the mirror's host: left without the VMs, it would hand out what they hold.
        for (const a of held) ledger.add(a);
        throw err;
      }
      for (const a of moved) ledger.add(a);
      const seconds = holdSeconds ?? defaultHoldSeconds(move);
      const hold = seconds > 0 ? holdOf(move, holdName(id, move.step), now + seconds * 1000) : null;
      if (hold && (this.mirror.vmHost.has(hold.name) || this.mirror.pendingNames.has(hold.name))) throw new ApiError(409, 'ERR_NAME_TAKEN', 'plan', `a VM named "${hold.name}" is already placed`);
      if (hold) {
        ledger.add(hold);
        this.mirror.pendingNames.add(hold.name);
        this.mirror.watchClaim(rec.host, hold.name, hold.expiresAt as number);
      }
      this.mirror.fleet.touched(entry.host);
      const progress: PlanProgress = {
        ...rec.progress,
        steps: [...rec.progress.steps, { step: move.step, appliedAt: now, instance: this.instance, hold: hold ? { name: hold.name, expiresAt: hold.expiresAt as number } : null, doneAt: null }],
      };
      const last = rec.nextStep >= plan.moves.length;
      return {
        op: {
          updated: moved.map((a, i) => ({ name: a.name, status: a.status, expiresAt: a.expiresAt, allocation: a, placement: placements[i] })),
          ...(hold ? { added: [{ name: hold.name, host: rec.host, status: 'claimed' as const, expiresAt: hold.expiresAt, allocation: hold, placement: { hold: { plan: id, step: move.step } } }] } : {}),
          plan: { id, expectedVersion: rec.version, status: last ? 'applied' : 'applying', nextStep: rec.nextStep + 1, progress },
          events: [
            this.event('plan-step', rec.host, move.vms[0]?.vm ?? null, { plan: id, step: move.step, kind: move.kind, vms: move.vms.map((v) => v.vm), hold: hold?.name ?? null }),
          ],
        },
        answer: (after) => ({ ...planView(after), applied: { step: move.step, vms: moved.map((a) => a.name), hold: hold ? { name: hold.name, expiresAt: hold.expiresAt } : null, commands: moveCommands(move) } }),
      };
    });
    if (refusal !== null) {
      const { step, code, reasons } = refusal as { step: number; code: string; reasons: string[] };
      throw new ApiError(409, 'ERR_PLAN_STALE', 'plan', `step ${step} of plan ${id} no longer applies (${code}): ${reasons[0] ?? ''}; plan again`, { step, code, reasons, plan: out });
    }
    return out;
  }

  /** Reports a step carried out on the host: its hold is released (what the move freed is free now). */
  async finishPlanStep(id: string, stepText: string): Promise<Record<string, unknown>> {
    const step = /^[1-9][0-9]{0,5}$/.test(stepText) ? Number(stepText) : NaN;
    if (!Number.isInteger(step)) throw new ApiError(400, 'ERR_FIELD', 'step', 'expected a step number');
    return this.changePlan(id, (rec, entry, now) => {
      const i = rec.progress.steps.findIndex((s) => s.step === step);
      const s = rec.progress.steps[i];
      if (!s) throw new ApiError(409, 'ERR_PLAN_STEP', 'step', `step ${step} of plan ${id} has not been applied`);
      if (s.doneAt !== null) throw new ApiError(409, 'ERR_PLAN_STEP', 'step', `step ${step} of plan ${id} was reported done already`);
      const holding = s.hold !== null && entry.host.ledger.has(s.hold.name);
      if (holding) this.mirror.fleet.release(entry.host, (s.hold as { name: string }).name);
      const steps = [...rec.progress.steps];
      steps[i] = { ...s, doneAt: now };
      return {
        op: {
          ...(holding ? { removed: [(s.hold as { name: string }).name] } : {}),
          plan: { id, expectedVersion: rec.version, status: rec.status, nextStep: rec.nextStep, progress: { ...rec.progress, steps } },
          events: [this.event('plan-step-done', rec.host, null, { plan: id, step, released: holding ? s.hold?.name : null })],
        },
        answer: planView,
      };
    });
  }

  /** Cancels a plan: no further step is applied; holds of steps applied stay until done or lapsed. */
  async cancelPlan(id: string): Promise<Record<string, unknown>> {
    return this.changePlan(id, (rec, _entry, now) => {
      if (rec.status !== 'proposed' && rec.status !== 'applying') throw new ApiError(409, 'ERR_PLAN_STATE', 'plan', `plan ${id} is ${rec.status} already`);
      return {
        op: {
          plan: { id, expectedVersion: rec.version, status: 'cancelled', nextStep: rec.nextStep, progress: { ...rec.progress, cancelledAt: now } },
          events: [this.event('plan-cancel', rec.host, null, { plan: id, applied: rec.progress.steps.length })],
        },
        answer: planView,
      };
    });
  }

  /** Parses the VM request of a body (object or compact string); field paths start with "vm". */
  parseRequest(vm: unknown): VmRequest {
    if (vm === undefined) throw new ApiError(400, 'ERR_FIELD', 'vm', 'missing: the VM request (object, or "name=...,vcpus=...,memory=...")');
    try {
      if (typeof vm === 'string') {
        if (vm.length > 4096) throw new ApiError(400, 'ERR_RANGE', 'vm', 'compact request longer than 4096 characters');
        return parseVmSpec(vm);
      }
      return parseVmRequest(vm);
    } catch (err) {
      throw toApiError(err, 'vm');
    }
  }

  private parseInput(input: PlaceInput): { request: VmRequest; host: string | null; policy: string; claim: boolean; ttlMs: number } {
    for (const k of Object.keys(input)) {
      if (!['vm', 'host', 'policy', 'claim', 'ttlSeconds'].includes(k)) throw new ApiError(400, 'ERR_FIELD', k, 'unknown field (known: vm, host, policy, claim, ttlSeconds)');
    }
    const request = this.parseRequest(input.vm);
    let host: string | null = null;
    if (input.host !== undefined && input.host !== null) {
      if (typeof input.host !== 'string') throw new ApiError(400, 'ERR_FIELD', 'host', 'expected a host name');
      checkName('host', input.host);
      host = input.host;
    }
    let policy = DEFAULT_POLICY;
    if (input.policy !== undefined) {
      if (typeof input.policy !== 'string') throw new ApiError(400, 'ERR_FIELD', 'policy', 'expected a policy name');
      try {
        policy = getPolicy(input.policy).name;
      } catch (err) {
        throw toApiError(err);
      }
    }
    if (input.claim !== undefined && typeof input.claim !== 'boolean') throw new ApiError(400, 'ERR_FIELD', 'claim', 'expected true or false');
    let ttl = CLAIM_TTL.default;
    if (input.ttlSeconds !== undefined) {
      if (typeof input.ttlSeconds !== 'number' || !Number.isInteger(input.ttlSeconds)) throw new ApiError(400, 'ERR_FIELD', 'ttlSeconds', 'expected whole seconds');
      if (input.ttlSeconds < CLAIM_TTL.min || input.ttlSeconds > CLAIM_TTL.max) {
        throw new ApiError(400, 'ERR_RANGE', 'ttlSeconds', `between ${CLAIM_TTL.min} and ${CLAIM_TTL.max}`);
      }
      ttl = input.ttlSeconds;
    }
    return { request, host, policy, claim: input.claim === true, ttlMs: ttl * 1000 };
  }

  /** The host given in a request, read from the store first when another instance registered it. */
  private async knownHost(host: string | null): Promise<void> {
    if (host !== null && !(await this.entryOf(host))) throw new ApiError(404, 'ERR_UNKNOWN_HOST', 'host', `no host "${host}"`);
  }

  /**
   * Places a VM and records it (committed, or claimed). The decision is made on the mirror at once
   * (the next request sees it) and answered once its transaction committed.
   */
  async place(input: PlaceInput): Promise<Record<string, unknown>> {
    return (await this.placeAnswer(input)).value;
  }

  /**
   * `place` with the answer's JSON text as well (what the API sends): the placement document is
   * serialised once, for its row and for the answer.
   */
  async placeAnswer(input: PlaceInput): Promise<Answer> {
    const parsed = this.parseInput(input);
    const t0 = performance.now();
    try {
      await this.knownHost(parsed.host);
      return await this.attempt<Answer>((_attempt, resolve, reject) => this.decide(parsed, resolve, reject));
    } finally {
      this.metrics.decision((performance.now() - t0) / 1000);
    }
  }

  private decide(parsed: Parsed, resolve: (v: Answer) => void, reject: (e: unknown) => void): void {
    const { request, host, policy, claim, ttlMs } = parsed;
    const now = this.clock();
    this.expire(now);
    if (this.mirror.vmHost.has(request.name) || this.mirror.pendingNames.has(request.name)) {
      throw new ApiError(409, 'ERR_NAME_TAKEN', 'vm.name', `a VM named "${request.name}" is already placed`);
    }
    if (host !== null && !this.mirror.hosts.has(host)) throw new ApiError(404, 'ERR_UNKNOWN_HOST', 'host', `no host "${host}"`);
    let choice: FleetChoice | FleetRefusal;
    try {
      choice = this.mirror.fleet.decide(request, getPolicy(policy), host !== null ? { host } : { avoid: this.mirror.avoid });
    } catch (err) {
      throw toApiError(err, 'vm');
    }
    if (!choice.ok) {
      this.refuse(request, choice, resolve, reject);
      return;
    }
    const d = detailed(choice.decision);
    const placement = buildPlacement(d, assignmentOf(d), {});
    const expiresAt = claim ? now + ttlMs : null;
    const allocation = allocationOf(placement, request, claim ? 'claimed' : 'committed', expiresAt);
    const chosen: FleetHost = choice.host;
    this.mirror.fleet.commit(chosen, allocation);
    this.mirror.pendingNames.add(request.name);
    if (expiresAt !== null) this.mirror.watchClaim(chosen.name, request.name, expiresAt);
    const considered = choice.considered;
    const placementJson = JSON.stringify(placement);
    this.mirror.queue({
      host: chosen.name,
      added: [{ name: request.name, host: chosen.name, status: allocation.status, expiresAt, allocation, placement, placementJson }],
      events: [this.event(claim ? 'claim' : 'place', chosen.name, request.name, { request, cpus: placement.cpus, nodes: placement.nodes, expiresAt })],
      done: (generation) => {
        this.metrics.placed(claim ? 'claim' : 'commit');
        const status = claim ? 'claimed' : 'committed';
        // The answer's text as JSON.stringify would write it, with the placement's text already made.
        const head = JSON.stringify({ ok: true, host: chosen.name, status, expiresAt, generation });
        resolve({
          value: { ok: true, host: chosen.name, status, expiresAt, generation, placement, hostsConsidered: considered },
          json: `${head.slice(0, -1)},"placement":${placementJson},"hostsConsidered":${JSON.stringify(considered)}}`,
        });
      },
      conflict: () => reject(RETRY),
      taken: () => reject(new ApiError(409, 'ERR_NAME_TAKEN', 'vm.name', `a VM named "${request.name}" is already placed`)),
      fail: (err) => reject(toApiError(err)),
    });
  }

  /** Answers a refusal: the reasons and hints of the first hosts tried (built only for those), after its event is recorded. */
  private refuse(request: VmRequest, refusal: FleetRefusal, resolve: (v: Answer) => void, reject: (e: unknown) => void): void {
    let reasons: (RefusalReason & { host?: string })[];
    let hints: string[];
    if (refusal.considered === 0) {
      reasons = [
        {
          resource: 'hosts',
          node: null,
          need: 1,
          have: 0,
          shortfall: 1,
          detail: `no host has ${request.cpuPolicy === 'dedicated' ? `${request.vcpus} free CPUs and ` : ''}${request.memory} bytes of free memory`,
        },
      ];
      hints = ['register a larger host, or release VMs'];
    } else {
      reasons = [];
      hints = [];
      for (const { host, refusal: r } of refusal.reported.slice(0, REPORTED_HOSTS)) {
        for (const x of r.reasons()) reasons.push({ ...x, host: host.name });
        for (const h of r.hints()) if (!hints.includes(h)) hints.push(h);
      }
    }
    const reason = reasons[0]?.resource ?? 'unknown';
    this.metrics.refused(reason);
    this.mirror.queue({
      host: null,
      events: [this.event('refuse', null, request.name, { request, reason, hostsConsidered: refusal.considered })],
      done: () => {
        const value = { ok: false, reasons, hints, hostsConsidered: refusal.considered };
        resolve({ value, json: JSON.stringify(value) });
      },
      conflict: () => undefined,
      fail: (err) => reject(toApiError(err)),
    });
  }

  /** Dry run: the decision and every host the policy decided on; nothing recorded. */
  async explain(input: PlaceInput): Promise<Record<string, unknown>> {
    const { request, host, policy } = this.parseInput(input);
    await this.knownHost(host);
    await this.mirror.ready();
    this.expire(this.clock());
    const trace: { host: FleetHost; made: import('../core/placement/decide.js').Decision | import('../core/placement/decide.js').Refusal }[] = [];
    let choice: FleetChoice | FleetRefusal;
    try {
      choice = this.mirror.fleet.decide(request, getPolicy(policy), { trace, ...(host !== null ? { host } : {}) });
    } catch (err) {
      throw toApiError(err, 'vm');
    }
    let explained = 0;
    const candidates = trace.map(({ host: h, made }) => {
      if (made.ok) {
        const d = detailed(made);
        const p = buildPlacement(d, assignmentOf(d), {});
        return { host: h.name, ok: true, score: hostKey(made), nodes: p.nodes, summary: p.explanation.summary };
      }
      // Hints only for the first refusals, as a refusal reports them.
      return { host: h.name, ok: false, reasons: made.reasons(), hints: explained++ < REPORTED_HOSTS ? made.hints() : [] };
    });
    if (!choice.ok) return { ok: false, request, candidates };
    const d = detailed(choice.decision);
    return {
      ok: true,
      request,
      host: choice.host.name,
      placement: buildPlacement(d, assignmentOf(d), {}),
      rule: 'hosts found best fit first by the fleet index; the policy decides on each until 4 succeed; lowest (predicted latency ratio, nodes, devices off the VM nodes, policy score) wins, then the earlier host',
      candidates,
    };
  }

  /** Commits a claim or releases a VM on its host (read from the store first when another instance placed it). */
  private async mutateVm(name: string, kind: 'commit' | 'release'): Promise<{ host: string }> {
    checkName('vm', name);
    await this.mirror.ready();
    if (!this.mirror.vmHost.has(name)) {
      const rec = await this.store.vm(name);
      if (rec && (rec.status === 'committed' || (rec.expiresAt ?? Infinity) > this.clock())) await this.mirror.refresh([rec.host]);
    }
    return this.attempt<{ host: string }>((_attempt, resolve, reject) => {
      const now = this.clock();
      this.expire(now);
      const lapsed = this.lapsed.get(name);
      const host = this.mirror.vmHost.get(name);
      const entry = host === undefined ? undefined : this.mirror.hosts.get(host);
      const a = entry?.host.ledger.get(name);
      if (!entry || !a) {
        if (kind === 'commit' && lapsed !== undefined) throw toApiError(new StateError(name, `claim expired at ${lapsed} (now ${now}); place it again`, 'ERR_CLAIM_EXPIRED'), '');
        throw new ApiError(404, 'ERR_UNKNOWN_VM', 'vm', `no VM "${name}"`);
      }
      let update: Allocation | null = null;
      if (kind === 'commit' && a.policy === 'hold') {
        throw new ApiError(409, 'ERR_HOLD', 'vm', `"${name}" holds what a rebalancing step frees until the step is done: report the step done (POST /api/v1/plans/{id}/steps/{n}/done) or let it lapse`);
      }
      if (kind === 'commit') {
        if (a.status === 'committed') {
          resolve({ host: entry.name });
          return;
        }
        update = { ...a, status: 'committed', expiresAt: null };
        entry.host.ledger.replace(update);
        this.mirror.fleet.touched(entry.host);
      } else this.mirror.fleet.release(entry.host, name);
      this.mirror.queue({
        host: entry.name,
        ...(update ? { updated: [{ name, status: update.status, expiresAt: null, allocation: update }] } : { removed: [name] }),
        events: [this.event(kind, entry.name, name, {})],
        done: () => resolve({ host: entry.name }),
        conflict: () => reject(RETRY),
        fail: (err) => reject(toApiError(err)),
      });
    });
  }

  /** Commits a claim. */
  async commit(name: string): Promise<Record<string, unknown>> {
    await this.mutateVm(name, 'commit');
    const rec = await this.store.vm(name);
    if (!rec) throw new ApiError(404, 'ERR_UNKNOWN_VM', 'vm', `no VM "${name}"`);
    return vmJson(rec);
  }

  /** Releases a VM (claimed or committed). */
  async release(name: string): Promise<Record<string, unknown>> {
    const { host } = await this.mutateVm(name, 'release');
    return { ok: true, released: name, host };
  }

  /** One VM (an expired claim is reported as not found). */
  async vm(name: string): Promise<Record<string, unknown>> {
    checkName('vm', name);
    const rec = await this.store.vm(name);
    if (!rec || (rec.status === 'claimed' && (rec.expiresAt ?? Infinity) <= this.clock())) throw new ApiError(404, 'ERR_UNKNOWN_VM', 'vm', `no VM "${name}"`);
    return vmJson(rec);
  }

  /** VMs, optionally of one host. */
  async listVms(host: string | undefined, limit: number, displaced = false): Promise<Record<string, unknown>[]> {
    if (host !== undefined) checkName('host', host);
    const now = this.clock();
    const rows = await this.store.listVms({ ...(host !== undefined ? { host } : {}), limit, ...(displaced ? { displaced } : {}) });
    return rows.filter((v) => v.status === 'committed' || (v.expiresAt ?? Infinity) > now).map(vmJson);
  }

  /** A VM's configuration for a target. */
  async emit(name: string, format: string | undefined, mode: string | undefined): Promise<Record<string, unknown>> {
    if (format === undefined || !(EMIT_FORMATS as readonly string[]).includes(format)) {
      throw new ApiError(400, 'ERR_FIELD', 'format', `expected one of ${EMIT_FORMATS.join(', ')}`);
    }
    if (mode !== undefined && mode !== 'complete' && mode !== 'fragment') throw new ApiError(400, 'ERR_FIELD', 'mode', 'expected complete or fragment');
    await this.vm(name);
    const rec = (await this.store.vm(name)) as VmRecord;
    if (rec.allocation.policy === 'hold') throw new ApiError(409, 'ERR_HOLD', 'vm', `"${name}" holds what a rebalancing step frees; it is not a VM and has no configuration`);
    const entry = await this.entryOf(rec.host);
    if (!entry) throw new ApiError(404, 'ERR_UNKNOWN_VM', 'vm', `no VM "${name}"`);
    try {
      const out = emitPlacement(rec.placement as PlacementLike, entry.host.ledger.topology, format as EmitFormat, mode ? { libvirtMode: mode } : {});
      return { ...out };
    } catch (err) {
      throw toApiError(err);
    }
  }

  /** Fleet summary. */
  async summary(): Promise<Record<string, unknown>> {
    const now = this.clock();
    const totals = await this.store.totals(now);
    return { ...totals, store: this.store.kind, instance: this.instance, at: now };
  }

  /** Policies the engine knows. */
  policies(): { name: string; description: string }[] {
    return listPolicies().map((p) => ({ name: p.name, description: p.description }));
  }

  /** Drops lapsed claims (the sweeper calls this periodically); returns how many, once written. */
  async sweepExpired(): Promise<number> {
    await this.mirror.ready();
    const n = this.expire(this.clock());
    if (n > 0) await this.mirror.settled();
    return n;
  }

  /** Gauges for /metrics. */
  async gauges(): Promise<{ claimsInFlight: number; hosts: number; vms: number; displaced: number }> {
    const now = this.clock();
    const t = await this.store.totals(now);
    return { claimsInFlight: t.vms.claimed, hosts: t.hosts, vms: t.vms.committed + t.vms.claimed, displaced: t.vms.displaced };
  }

  /** Event log. */
  events(after: number | undefined, limit: number): ReturnType<FleetStore['events']> {
    return this.store.events({ ...(after !== undefined ? { after } : {}), limit });
  }
}


/** True when a host update leaves a VM's status, expiry and displacement mark as they were. */
function sameMarks(a: Allocation | undefined, b: Allocation): boolean {
  return !!a && a.status === b.status && a.expiresAt === b.expiresAt && JSON.stringify(a.displaced ?? null) === JSON.stringify(b.displaced ?? null);
}

function vmJson(v: VmRecord): Record<string, unknown> {
  return {
    name: v.name,
    host: v.host,
    status: v.status,
    expiresAt: v.expiresAt,
    ...(v.allocation.displaced ? { displaced: v.allocation.displaced } : {}),
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
    allocation: v.allocation,
    placement: v.placement,
  };
}

function parseReserveOption(raw: unknown): { cpus?: number[]; memory?: number } | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ApiError(400, 'ERR_FIELD', 'reserve', 'expected { cpus?: [..], memory?: bytes }');
  const r = raw as Record<string, unknown>;
  const out: { cpus?: number[]; memory?: number } = {};
  for (const k of Object.keys(r)) if (k !== 'cpus' && k !== 'memory') throw new ApiError(400, 'ERR_FIELD', `reserve.${k}`, 'unknown field');
  if (r.cpus !== undefined) {
    if (!Array.isArray(r.cpus) || r.cpus.length > 65536 || !r.cpus.every((c) => Number.isInteger(c) && (c as number) >= 0 && (c as number) < 1 << 20)) {
      throw new ApiError(400, 'ERR_FIELD', 'reserve.cpus', 'expected a list of CPU numbers');
    }
    out.cpus = r.cpus as number[];
  }
  if (r.memory !== undefined) {
    if (typeof r.memory !== 'number' || !Number.isSafeInteger(r.memory) || r.memory < 0) throw new ApiError(400, 'ERR_RANGE', 'reserve.memory', 'expected bytes (a whole number >= 0)');
    out.memory = r.memory;
  }
  return out;
}

function keepReserve(old: HostReserve, topology: Topology): HostReserve {
  const pus = new Set(topology.pus.map((p) => p.os));
  const nodes = new Set(topology.nodes.map((n) => n.id));
  if (old.cpus.every((c) => pus.has(c)) && old.memory.every((m) => nodes.has(m.node))) return old;
  return defaultReserve(topology);
}

/** The caller's consent to displace VMs: "displace", or nothing. */
function parseAccept(raw: unknown): boolean {
  if (raw === undefined || raw === null || raw === '') return false;
  if (raw === 'displace') return true;
  throw new ApiError(400, 'ERR_FIELD', 'accept', 'expected "displace" (mark the VMs the update breaks as displaced), or nothing');
}
