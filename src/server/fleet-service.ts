/**
 * The fleet service's logic, between HTTP and the store: register hosts, place VMs (choosing the
 * host), claim, commit, release, explain, emit, summarise. Every state change is computed with the
 * engine's pure functions on a host state read at generation g and written with
 * `store.applyChange` conditional on g (optimistic concurrency, see src/store/index.ts); a
 * conflict re-reads the host and decides again, at most MAX_ATTEMPTS times.
 *
 * Host choice (no `host` given): the store lists hosts whose free CPUs and memory could hold the VM,
 * best fit first (fewest free CPUs, then least free memory, then name); the engine places the VM on
 * each of the first CANDIDATES_PER_ROUND and the lowest score wins: fewer nodes, then fewer devices
 * off the VM's nodes, then lower weighted distance, then the engine's single-node score (best fit,
 * device richness, package load), then the host name. If none of them fits, the next ones are tried,
 * up to MAX_HOSTS_EVALUATED: the search is bounded, and a refusal says how many hosts were tried.
 */
import { emitPlacement, EMIT_FORMATS, type EmitFormat } from '../core/emit/index.js';
import type { PlacementLike } from '../core/emit/guest.js';
import { hostCapacity } from '../core/placement/capacity.js';
import { place } from '../core/placement/place.js';
import { DEFAULT_POLICY, getPolicy, listPolicies } from '../core/placement/policies/index.js';
import { type VmRequest, parseVmRequest, parseVmSpec } from '../core/placement/request.js';
import { updateHost } from '../core/placement/host-update.js';
import {
  type HostReserve,
  type HostState,
  claimPlacement,
  commitClaim,
  commitPlacement,
  defaultReserve,
  expireClaims,
  releaseAllocation,
} from '../core/placement/state.js';
import type { Placement, RefusalReason } from '../core/placement/types.js';
import { topologyFromTrustedJson } from '../core/topology/json.js';
import type { Topology } from '../core/topology/model.js';
import { hostChange, hostStats } from '../store/host-change.js';
import type { FleetStore, HostRow, NewEvent, VmRecord } from '../store/types.js';
import { ApiError, toApiError } from './errors.js';
import { Metrics } from './metrics.js';
import { DEFAULT_LIMITS } from './body.js';
import { TopologyParser } from './topology-parser.js';

/** Hosts the engine evaluates per round of host choice. */
export const CANDIDATES_PER_ROUND = 8;
/** At most this many hosts are evaluated for one request (bounds the work of a refusal). */
export const MAX_HOSTS_EVALUATED = 64;
/** Decisions re-run after a generation conflict before answering 409 ERR_BUSY. */
export const MAX_ATTEMPTS = 40;
/** Claim lifetime bounds (seconds). */
export const CLAIM_TTL = { default: 60, min: 1, max: 86_400 };

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Checks a host or VM name from a URL. */
export function checkName(kind: 'host' | 'vm', name: string): void {
  if (!HOST_NAME.test(name)) throw new ApiError(400, 'ERR_FIELD', kind, 'letters, digits, "_", "." and "-", at most 128');
}

interface Cached {
  generation: number;
  topoVersion: number;
  topology: Topology;
  topologyText: string;
  reserve: HostReserve;
  state: HostState;
}

interface Loaded {
  host: string;
  generation: number;
  state: HostState;
}

/** Options of the service. */
export interface FleetServiceOptions {
  store: FleetStore;
  /** Names this instance in the event log. */
  instance: string;
  /** Milliseconds; default Date.now. */
  clock?: () => number;
  metrics?: Metrics;
  /** Parsed host states kept in memory (default 20,000). */
  cacheSize?: number;
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

interface Candidate {
  row: HostRow;
  loaded: Loaded;
  before: HostState;
  result: ReturnType<typeof place>;
}

/** The service. */
export class FleetService {
  readonly store: FleetStore;
  readonly metrics: Metrics;
  readonly instance: string;
  private readonly clock: () => number;
  private readonly cache = new Map<string, Cached>();
  private readonly cacheSize: number;
  /** Tail of this instance's queue of placement decisions (see `place`). */
  private decisions: Promise<unknown> = Promise.resolve();
  /** Reads registration bodies in a worker thread. */
  private readonly parser: TopologyParser;

  constructor(options: FleetServiceOptions) {
    this.store = options.store;
    this.instance = options.instance;
    this.clock = options.clock ?? Date.now;
    this.metrics = options.metrics ?? new Metrics();
    this.cacheSize = options.cacheSize ?? 20_000;
    const hl = options.hostLimits ?? { depth: DEFAULT_LIMITS.depth, modelBytes: DEFAULT_LIMITS.hostBytes };
    this.parser = new TopologyParser(hl.depth, hl.modelBytes);
  }

  /** Stops the worker thread. */
  async close(): Promise<void> {
    await this.parser.close();
  }

  /** Current time of the service's clock (ms). */
  now(): number {
    return this.clock();
  }

  private event(kind: NewEvent['kind'], host: string | null, vm: string | null, data: unknown): NewEvent {
    return { at: this.clock(), kind, host, vm, instance: this.instance, data };
  }

  private remember(host: string, c: Cached): void {
    if (this.cache.has(host)) this.cache.delete(host);
    else if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(host, c);
  }

  /** A host's state at its current generation (cache when unchanged). Null for an unknown host. */
  private async load(host: string, row?: HostRow): Promise<Loaded | null> {
    const header = row ?? (await this.store.hostRow(host));
    if (!header) return null;
    const hit = this.cache.get(host);
    if (hit && hit.generation === header.generation) return { host, generation: hit.generation, state: hit.state };
    let topology: Topology;
    let topologyText: string;
    let reserve: HostReserve;
    let topoVersion = header.topoVersion;
    if (hit && hit.topoVersion === header.topoVersion) {
      ({ topology, topologyText, reserve } = hit);
    } else {
      const doc = await this.store.hostDocument(host);
      if (!doc) return null;
      topologyText = doc.topology;
      // The store holds models the service wrote itself (see topologyFromTrustedJson).
      topology = topologyFromTrustedJson(doc.topology, `${host}:topology`);
      reserve = JSON.parse(doc.reserve) as HostReserve;
      topoVersion = doc.topoVersion;
    }
    // Allocations read after the header: if they are newer, the conditional write will conflict.
    const vms = await this.store.vmsOf(host);
    const allocations = vms.map((v) => v.allocation).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const state: HostState = { schema: 'numaplan.state/v1', topology, reserve, allocations };
    this.remember(host, { generation: header.generation, topoVersion, topology, topologyText, reserve, state });
    return { host, generation: header.generation, state };
  }

  private forget(host: string): void {
    const c = this.cache.get(host);
    // Keep the parsed topology; only the generation is stale.
    if (c) this.cache.set(host, { ...c, generation: -1 });
  }

  /**
   * Registers or updates a host from a registration body (its JSON text, or the object). `created`
   * is true for a new host, `changed` false when nothing differed. The body is read in a worker
   * thread (see topology-parser.ts).
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
    const parsed = await this.parser.parse(typeof body === 'string' ? body : JSON.stringify(body));
    const { topology, topologyText } = parsed;
    const reserveOpt = parseReserveOption(parsed.reserve);
    const accept = parseAccept(options.accept ?? parsed.accept);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = this.clock();
      const existing = await this.load(name);
      let reserve: HostReserve;
      try {
        reserve = reserveOpt !== null || !existing ? defaultReserve(topology, reserveOpt ?? {}) : keepReserve(existing.state.reserve, topology);
      } catch (err) {
        throw toApiError(err, 'reserve');
      }
      const reserveText = JSON.stringify(reserve);
      // Lapsed claims hold nothing: only live VMs are judged (and stored back).
      const live: HostState = existing ? expireClaims(existing.state, now) : { schema: 'numaplan.state/v1', topology, reserve, allocations: [] };
      const update = updateHost(live, topology, reserve, now);
      if (update.displaces.length > 0 && !accept) {
        const why = reserveOpt !== null && existing && topologyText === this.cache.get(name)?.topologyText ? 'reserve' : 'topology';
        throw new ApiError(
          409,
          'ERR_HOST_IN_USE',
          why,
          `the update would break ${update.displaces.length} VM(s) on host "${name}" (${update.displaces.join(', ')}); release or move them, or send accept=displace to mark them displaced`,
          { reasons: update.broken.filter((b) => update.displaces.includes(b.vm)), vms: update.displaces },
        );
      }
      const cached = this.cache.get(name);
      const topologyChanged = !existing || !cached || cached.topologyText !== topologyText || JSON.stringify(cached.reserve) !== reserveText;
      const marks = hostChange(name, existing?.generation ?? 0, live, update.state, now, new Map(), []).updated;
      if (existing && !topologyChanged && marks.length === 0) {
        const row = await this.store.hostRow(name);
        if (row) return { created: false, changed: false, row, displaced: [], restored: [] };
        continue;
      }
      const kind = existing ? 'host-update' : 'host-register';
      const events = [
        this.event(kind, name, null, { source: topology.source, nodes: topology.nodes.length, pus: topology.pus.length }),
        ...update.displaces.map((vm) => this.event('displace', name, vm, { reasons: update.broken.filter((b) => b.vm === vm) })),
        ...update.restores.map((vm) => this.event('restore', name, vm, {})),
      ];
      const out = await this.store.putHost({
        name,
        source: topology.source,
        topology: topologyText,
        reserve: reserveText,
        stats: hostStats(update.state),
        expectedGeneration: existing ? existing.generation : null,
        topologyChanged,
        now,
        events,
        vms: marks,
      });
      if (out.ok) {
        this.forget(name);
        const row = await this.store.hostRow(name);
        if (!row) continue;
        this.metrics.displaced(update.displaces.length);
        return { created: !existing, changed: true, row, displaced: update.displaces, restored: update.restores };
      }
      this.metrics.conflict();
      this.forget(name);
    }
    throw new ApiError(409, 'ERR_BUSY', null, 'the host changed too often while registering; try again');
  }

  /** Removes a host holding no VM. */
  async removeHost(name: string): Promise<void> {
    checkName('host', name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const row = await this.store.hostRow(name);
      if (!row) throw new ApiError(404, 'ERR_UNKNOWN_HOST', 'host', `no host "${name}"`);
      const out = await this.store.removeHost(name, row.generation, this.clock(), [this.event('host-remove', name, null, {})]);
      if (out.ok) {
        this.cache.delete(name);
        return;
      }
      if (out.why === 'not-empty') throw new ApiError(409, 'ERR_HOST_IN_USE', 'host', `host "${name}" still holds VMs; release them first`);
    }
    throw new ApiError(409, 'ERR_BUSY', null, 'the host changed too often; try again');
  }

  /** One host: topology, reserve, capacity per node, CPU owners, VMs. */
  async hostDetail(name: string): Promise<Record<string, unknown>> {
    checkName('host', name);
    const row = await this.store.hostRow(name);
    const loaded = row ? await this.load(name, row) : null;
    if (!row || !loaded) throw new ApiError(404, 'ERR_UNKNOWN_HOST', 'host', `no host "${name}"`);
    const now = this.clock();
    const state = expireClaims(loaded.state, now);
    const cap = hostCapacity(state);
    const vms = (await this.store.vmsOf(name)).filter((v) => v.status === 'committed' || (v.expiresAt ?? Infinity) > now);
    return {
      name,
      source: row.source,
      generation: row.generation,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      stats: hostStats(state),
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

  /** Evaluates the candidates for a request at `now`; the best one first. */
  private async evaluate(request: VmRequest, host: string | null, policy: string, now: number): Promise<{ best: Candidate | null; tried: Candidate[]; eligible: number | null }> {
    const tried: Candidate[] = [];
    const consider = async (row: HostRow): Promise<void> => {
      const loaded = await this.load(row.name, row);
      if (!loaded) return;
      const before = expireClaims(loaded.state, now);
      let result;
      try {
        result = place(request, before, policy);
      } catch (err) {
        throw toApiError(err, 'vm');
      }
      tried.push({ row, loaded, before, result });
    };
    if (host !== null) {
      const row = await this.store.hostRow(host);
      if (!row) throw new ApiError(404, 'ERR_UNKNOWN_HOST', 'host', `no host "${host}"`);
      await consider(row);
      return { best: pickBest(tried), tried, eligible: null };
    }
    const need = {
      minFreeCpus: request.cpuPolicy === 'dedicated' ? request.vcpus + (typeof request.emulator === 'number' ? request.emulator : 0) : 0,
      minFreeMemory: request.memory,
    };
    let offset = 0;
    while (offset < MAX_HOSTS_EVALUATED) {
      const page = await this.store.candidates({ ...need, limit: CANDIDATES_PER_ROUND, offset });
      for (const row of page) await consider(row);
      const best = pickBest(tried);
      if (best || page.length < CANDIDATES_PER_ROUND) return { best, tried, eligible: offset === 0 && !best ? page.length : null };
      offset += page.length;
    }
    return { best: null, tried, eligible: await this.store.countCandidates(need) };
  }

  /**
   * Places a VM and records it (committed, or claimed). Decisions of one instance run one at a
   * time: they would otherwise all pick the same best-fit host and all but one conflict, so queueing
   * them costs nothing and saves the retries. Instances still meet optimistically in the store.
   */
  async place(input: PlaceInput): Promise<Record<string, unknown>> {
    const parsed = this.parseInput(input);
    const t0 = performance.now();
    const run = this.decisions.then(() => this.decide(parsed));
    this.decisions = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.metrics.decision((performance.now() - t0) / 1000);
    }
  }

  private async decide(parsed: ReturnType<FleetService['parseInput']>): Promise<Record<string, unknown>> {
    const { request, host, policy, claim, ttlMs } = parsed;
    if (await this.store.vm(request.name)) throw new ApiError(409, 'ERR_NAME_TAKEN', 'vm.name', `a VM named "${request.name}" is already placed`);
    {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const now = this.clock();
        const { best, tried, eligible } = await this.evaluate(request, host, policy, now);
        if (!best || !best.result.ok) return await this.refuse(request, tried, eligible);
        const placement = best.result.placement;
        const expiresAt = claim ? now + ttlMs : null;
        let after: HostState;
        try {
          after = claim ? claimPlacement(best.before, placement, request, now + ttlMs) : commitPlacement(best.before, placement, request);
        } catch (err) {
          throw toApiError(err, 'vm');
        }
        const events = [
          ...expiredEvents(best.loaded.state, best.before, this, best.row.name),
          this.event(claim ? 'claim' : 'place', best.row.name, request.name, { request, cpus: placement.cpus, nodes: placement.nodes, expiresAt }),
        ];
        const change = hostChange(best.row.name, best.loaded.generation, best.loaded.state, after, now, new Map([[request.name, placement]]), events);
        const out = await this.store.applyChange(change);
        if (out.ok) {
          this.remember(best.row.name, { ...(this.cache.get(best.row.name) as Cached), generation: out.generation, state: after });
          this.metrics.placed(claim ? 'claim' : 'commit');
          return { ok: true, host: best.row.name, status: claim ? 'claimed' : 'committed', expiresAt, generation: out.generation, placement, hostsConsidered: tried.length };
        }
        if (out.why === 'name-taken') throw new ApiError(409, 'ERR_NAME_TAKEN', 'vm.name', `a VM named "${request.name}" is already placed`);
        this.metrics.conflict();
        this.forget(best.row.name);
        if (attempt >= 3) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
      }
      throw new ApiError(409, 'ERR_BUSY', null, 'the candidate hosts changed too often while deciding; try again');
    }
  }

  private async refuse(request: VmRequest, tried: Candidate[], eligible: number | null): Promise<Record<string, unknown>> {
    let reasons: (RefusalReason & { host?: string })[];
    let hints: string[];
    if (tried.length === 0) {
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
      for (const c of tried.slice(0, 3)) {
        if (c.result.ok) continue;
        for (const r of c.result.reasons) reasons.push({ ...r, host: c.row.name });
        for (const h of c.result.hints) if (!hints.includes(h)) hints.push(h);
      }
    }
    const reason = reasons[0]?.resource ?? 'unknown';
    this.metrics.refused(reason);
    await this.store.appendEvents([this.event('refuse', null, request.name, { request, reason, hostsConsidered: tried.length })]);
    return { ok: false, reasons, hints, hostsConsidered: tried.length, ...(eligible !== null ? { hostsEligible: eligible } : {}) };
  }

  /** Dry run: the decision and every candidate considered; nothing recorded. */
  async explain(input: PlaceInput): Promise<Record<string, unknown>> {
    const { request, host, policy } = this.parseInput(input);
    const { best, tried } = await this.evaluate(request, host, policy, this.clock());
    const candidates = tried.map((c) =>
      c.result.ok
        ? { host: c.row.name, ok: true, score: scoreOf(c.result.placement), nodes: c.result.placement.nodes, summary: c.result.placement.explanation.summary }
        : { host: c.row.name, ok: false, reasons: c.result.reasons, hints: c.result.hints },
    );
    if (!best || !best.result.ok) return { ok: false, request, candidates };
    return {
      ok: true,
      request,
      host: best.row.name,
      placement: best.result.placement,
      rule: 'lowest (nodes, devices off the VM nodes, weighted distance, single-node score), then host name; hosts pre-filtered by free CPUs and memory, best fit first',
      candidates,
    };
  }

  private async mutateVm(name: string, kind: 'commit' | 'release', op: (state: HostState, now: number) => HostState): Promise<VmRecord | null> {
    checkName('vm', name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const rec = await this.store.vm(name);
      if (!rec) throw new ApiError(404, 'ERR_UNKNOWN_VM', 'vm', `no VM "${name}"`);
      const loaded = await this.load(rec.host);
      if (!loaded) throw new ApiError(404, 'ERR_UNKNOWN_VM', 'vm', `no VM "${name}"`);
      const now = this.clock();
      let after: HostState;
      try {
        after = op(loaded.state, now);
      } catch (err) {
        const api = toApiError(err, '');
        // The cached state may lag behind the row we just read: re-read before answering.
        if (api.code === 'ERR_UNKNOWN_VM' && attempt === 0) {
          this.forget(rec.host);
          continue;
        }
        throw new ApiError(api.status, api.code, 'vm', api.message);
      }
      const events = [this.event(kind, rec.host, name, {})];
      const out = await this.store.applyChange(hostChange(rec.host, loaded.generation, loaded.state, after, now, new Map(), events));
      if (out.ok) {
        const c = this.cache.get(rec.host);
        if (c) this.remember(rec.host, { ...c, generation: out.generation, state: after });
        return kind === 'release' ? rec : await this.store.vm(name);
      }
      this.metrics.conflict();
      this.forget(rec.host);
    }
    throw new ApiError(409, 'ERR_BUSY', null, 'the host changed too often; try again');
  }

  /** Commits a claim. */
  async commit(name: string): Promise<Record<string, unknown>> {
    const rec = await this.mutateVm(name, 'commit', (s, now) => commitClaim(s, name, now));
    if (!rec) throw new ApiError(404, 'ERR_UNKNOWN_VM', 'vm', `no VM "${name}"`);
    return vmJson(rec);
  }

  /** Releases a VM (claimed or committed). */
  async release(name: string): Promise<Record<string, unknown>> {
    const rec = await this.mutateVm(name, 'release', (s) => releaseAllocation(s, name));
    return { ok: true, released: name, host: rec?.host ?? null };
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
    const loaded = await this.load(rec.host);
    if (!loaded) throw new ApiError(404, 'ERR_UNKNOWN_VM', 'vm', `no VM "${name}"`);
    try {
      const out = emitPlacement(rec.placement as PlacementLike, loaded.state.topology, format as EmitFormat, mode ? { libvirtMode: mode } : {});
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

  /** Drops lapsed claims on up to `limit` hosts (the sweeper calls this periodically). */
  async sweepExpired(limit = 100): Promise<number> {
    const now = this.clock();
    let dropped = 0;
    for (const host of await this.store.hostsWithExpiredClaims(now, limit)) {
      const loaded = await this.load(host);
      if (!loaded) continue;
      const after = expireClaims(loaded.state, now);
      if (after === loaded.state) {
        this.forget(host);
        continue;
      }
      const events = expiredEvents(loaded.state, after, this, host);
      const out = await this.store.applyChange(hostChange(host, loaded.generation, loaded.state, after, now, new Map(), events));
      if (out.ok) dropped += loaded.state.allocations.length - after.allocations.length;
      this.forget(host);
    }
    return dropped;
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

function expiredEvents(before: HostState, after: HostState, svc: FleetService, host: string): NewEvent[] {
  const kept = new Set(after.allocations.map((a) => a.name));
  return before.allocations
    .filter((a) => a.status === 'claimed' && !kept.has(a.name))
    .map((a) => ({ at: svc.now(), kind: 'expire' as const, host, vm: a.name, instance: svc.instance, data: { expiresAt: a.expiresAt } }));
}

/** The fleet score of a placement (lower wins), as a tuple. */
export function scoreOf(p: Placement): number[] {
  const off = p.devices.filter((d) => !d.local).length;
  const single = p.explanation.chosen.score.reduce((s, t) => s + t.value * t.weight, 0);
  return [p.nodes.length, off, p.explanation.chosen.cost, Math.round(single * 1e6) / 1e6];
}

function pickBest(tried: Candidate[]): Candidate | null {
  let best: Candidate | null = null;
  let bestScore: number[] = [];
  for (const c of tried) {
    if (!c.result.ok) continue;
    const s = scoreOf(c.result.placement);
    if (best === null || compareTuple(s, bestScore) < 0 || (compareTuple(s, bestScore) === 0 && c.row.name < best.row.name)) {
      best = c;
      bestScore = s;
    }
  }
  return best;
}

function compareTuple(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
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
