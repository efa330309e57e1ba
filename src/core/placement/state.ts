/**
 * Host state: the topology, what is already placed on it, and what the host keeps for itself.
 *
 * Immutable: every operation returns a new state and leaves its input untouched. Pure: time is a
 * parameter (`now`, milliseconds), never read from a clock.
 *
 * Two-phase claims: `claimPlacement` records a placement as `claimed` with an expiry time; while it
 * exists its resources count as taken, so two placements decided at the same moment cannot take the
 * same resources. `commitClaim` makes it permanent (refused once expired), `releaseAllocation` frees
 * it, `expireClaims(state, now)` drops the claims whose time has passed.
 *
 * Capacity (the planning view, from totals, not from the host's momentary free counters):
 * - regular (4K) memory of a node = total - huge-page pool bytes - host reserve - 4K allocations;
 * - huge pages of a size on a node = pool total - allocations of that size;
 * - CPUs: online, allowed PUs minus the host reserve minus those held by dedicated VMs.
 */
import { z } from 'zod';
import { TopologyError } from '../topology/errors.js';
import { topologyFromJson } from '../topology/json.js';
import type { Topology } from '../topology/model.js';
import { type VmRequest, VmRequestSchema } from './request.js';
import type { MemoryGrant, Placement, RefusalReason } from './types.js';

/** One VM's resources. */
export interface Allocation {
  name: string;
  policy: string;
  request: VmRequest;
  /** Host CPU per vCPU. */
  cpus: number[];
  /** True for dedicated vCPUs: nobody else may use `cpus`. Shared vCPUs may overlap other shared VMs. */
  exclusive: boolean;
  /** Held and left idle (isolated siblings, spare threads of required cores). */
  heldCpus: number[];
  emulatorCpus: number[];
  memory: MemoryGrant[];
  devices: string[];
  nodes: number[];
  status: 'claimed' | 'committed';
  /** For a claim: when it lapses (ms, same clock as `now`); null once committed. */
  expiresAt: number | null;
  /**
   * Set when a host update the caller accepted left the VM without something it holds (see
   * host-update.ts): it keeps every resource it holds (nothing new is placed on them) until it is
   * released, or until a later update makes it fit again.
   */
  displaced?: Displacement;
  /** When a rebalancing move last changed the VM's placement (ms): the planner's cool-down reads it. */
  movedAt?: number;
}

/** Why a VM was displaced by a host update, and since when (ms). */
export interface Displacement {
  since: number;
  reasons: RefusalReason[];
}

/** What the host keeps for itself (OS, hypervisor, dom0). */
export interface HostReserve {
  cpus: number[];
  memory: { node: number; bytes: number }[];
}

/** Topology + reserve + allocations. */
export interface HostState {
  schema: 'numaplan.state/v1';
  topology: Topology;
  reserve: HostReserve;
  allocations: Allocation[];
}

/** How to size the reserve; omitted parts take the defaults. */
export interface ReserveOptions {
  /** Host CPUs to keep. Default: every sibling of CPU 0's core (or of the lowest usable CPU). */
  cpus?: readonly number[];
  /** Bytes of the reserve node's memory to keep. Default: max(1 GiB, 2% of that node's memory). */
  memory?: number;
}

const GIB = 1024 ** 3;

/** Error for a state operation that cannot be done (unknown VM, name taken, claim expired...). */
export class StateError extends Error {
  readonly code: string;
  readonly path: string;
  constructor(path: string, message: string, code = 'ERR_STATE') {
    super(`${path}: ${message}`);
    this.name = 'StateError';
    this.code = code;
    this.path = path;
  }
}

/** The default reserve: CPU 0's core (all siblings) and max(1 GiB, 2%) of that core's node's memory. */
export function defaultReserve(topology: Topology, options: ReserveOptions = {}): HostReserve {
  const usable = topology.pus.filter((p) => p.online && p.allowed);
  let cpus: number[];
  if (options.cpus) {
    const known = new Set(topology.pus.map((p) => p.os));
    for (const c of options.cpus) {
      if (!known.has(c)) throw new StateError('reserve.cpus', `CPU ${c} does not exist on this host`, 'ERR_RESERVE');
    }
    cpus = [...new Set(options.cpus)].sort((a, b) => a - b);
  } else {
    const first = usable.find((p) => p.os === 0) ?? [...usable].sort((a, b) => a.os - b.os)[0];
    cpus = first ? [...(topology.cores[first.core]?.pus ?? [first.os])] : [];
  }
  const firstCpu = cpus[0];
  const cpuNode = firstCpu === undefined ? null : (topology.pus.find((p) => p.os === firstCpu)?.node ?? null);
  const node =
    topology.nodes.find((n) => n.id === cpuNode && n.memory.total > 0) ?? topology.nodes.find((n) => n.memory.total > 0);
  const memory: { node: number; bytes: number }[] = [];
  if (node) {
    const pools = node.hugePages.reduce((s, p) => s + p.pageSize * p.total, 0);
    const regular = Math.max(0, node.memory.total - pools);
    const want = options.memory ?? Math.max(GIB, Math.floor((node.memory.total * 0.02) / 4096) * 4096);
    if (want < 0 || !Number.isSafeInteger(want)) throw new StateError('reserve.memory', `bad size ${want}`, 'ERR_RESERVE');
    const bytes = Math.min(want, regular);
    if (bytes > 0) memory.push({ node: node.id, bytes });
  }
  return { cpus, memory };
}

/** A fresh state: nothing placed, the default (or given) reserve. */
export function createHostState(topology: Topology, reserve: ReserveOptions = {}): HostState {
  return { schema: 'numaplan.state/v1', topology, reserve: defaultReserve(topology, reserve), allocations: [] };
}

/** The allocation a placement becomes. */
export function allocationOf(placement: Placement, request: VmRequest, status: Allocation['status'], expiresAt: number | null): Allocation {
  return {
    name: placement.name,
    policy: placement.policy,
    request,
    cpus: [...placement.cpus],
    exclusive: request.cpuPolicy === 'dedicated',
    heldCpus: [...placement.heldCpus],
    emulatorCpus: [...placement.emulatorCpus],
    memory: placement.memory.map((m) => ({ ...m })),
    devices: placement.devices.map((d) => d.address),
    nodes: [...placement.nodes],
    status,
    expiresAt,
  };
}

function withAllocation(state: HostState, alloc: Allocation): HostState {
  if (state.allocations.some((a) => a.name === alloc.name)) {
    throw new StateError(alloc.name, 'a VM of this name is already placed on this host', 'ERR_NAME_TAKEN');
  }
  const allocations = [...state.allocations, alloc].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ...state, allocations };
}

/** Records a placement as committed (one-phase). */
export function commitPlacement(state: HostState, placement: Placement, request: VmRequest): HostState {
  return withAllocation(state, allocationOf(placement, request, 'committed', null));
}

/** Records a placement as a claim that lapses at `expiresAt` unless committed first. */
export function claimPlacement(state: HostState, placement: Placement, request: VmRequest, expiresAt: number): HostState {
  return withAllocation(state, allocationOf(placement, request, 'claimed', expiresAt));
}

/** Makes a claim permanent. Throws (ERR_CLAIM_EXPIRED) if it lapsed at or before `now`. */
export function commitClaim(state: HostState, name: string, now: number): HostState {
  const a = state.allocations.find((x) => x.name === name);
  if (!a) throw new StateError(name, 'no such VM on this host', 'ERR_UNKNOWN_VM');
  if (a.status === 'committed') return state;
  if (a.expiresAt !== null && a.expiresAt <= now) {
    throw new StateError(name, `claim expired at ${a.expiresAt} (now ${now}); place it again`, 'ERR_CLAIM_EXPIRED');
  }
  return {
    ...state,
    allocations: state.allocations.map((x) => (x.name === name ? { ...x, status: 'committed' as const, expiresAt: null } : x)),
  };
}

/** Frees a VM's resources (claimed or committed). Throws ERR_UNKNOWN_VM for a name not placed. */
export function releaseAllocation(state: HostState, name: string): HostState {
  if (!state.allocations.some((a) => a.name === name)) throw new StateError(name, 'no such VM on this host', 'ERR_UNKNOWN_VM');
  return { ...state, allocations: state.allocations.filter((a) => a.name !== name) };
}

/** Drops claims whose expiry is at or before `now`. */
export function expireClaims(state: HostState, now: number): HostState {
  const kept = state.allocations.filter((a) => a.status === 'committed' || a.expiresAt === null || a.expiresAt > now);
  return kept.length === state.allocations.length ? state : { ...state, allocations: kept };
}

const AllocationSchema = z.object({
  name: z.string(),
  policy: z.string(),
  request: VmRequestSchema,
  cpus: z.array(z.number().int().nonnegative()),
  exclusive: z.boolean(),
  heldCpus: z.array(z.number().int().nonnegative()),
  emulatorCpus: z.array(z.number().int().nonnegative()),
  memory: z.array(z.object({ node: z.number().int(), pageSize: z.number().int().positive(), bytes: z.number().int().nonnegative() })),
  devices: z.array(z.string()),
  nodes: z.array(z.number().int().nonnegative()),
  status: z.enum(['claimed', 'committed']),
  expiresAt: z.number().nullable(),
  movedAt: z.number().optional(),
  displaced: z
    .object({
      since: z.number(),
      reasons: z.array(
        z.object({
          resource: z.string(),
          node: z.number().int().nullable(),
          need: z.number(),
          have: z.number(),
          shortfall: z.number().optional(),
          nodes: z.array(z.number().int()).optional(),
          detail: z.string(),
        }),
      ),
    })
    .optional(),
});

const StateDocSchema = z.object({
  schema: z.literal('numaplan.state/v1'),
  topology: z.unknown(),
  reserve: z.object({
    cpus: z.array(z.number().int().nonnegative()),
    memory: z.array(z.object({ node: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() })),
  }),
  allocations: z.array(AllocationSchema),
});

/** Serialises a state as pretty JSON (the state file: host source, topology, reserve, allocations). */
export function stateToJson(state: HostState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** Parses a state file. Throws StateError (ERR_STATE_JSON) naming the bad field. */
export function stateFromJson(text: string, origin = 'state.json'): HostState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StateError(origin, `not valid JSON (${(err as Error).message})`, 'ERR_STATE_JSON');
  }
  const parsed = StateDocSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new StateError(`${origin}:${issue?.path.join('.') ?? ''}`, issue?.message ?? 'invalid', 'ERR_STATE_JSON');
  }
  let topology: Topology;
  try {
    topology = topologyFromJson(JSON.stringify(parsed.data.topology), `${origin}:topology`);
  } catch (err) {
    if (err instanceof TopologyError) throw new StateError(err.path, err.message, 'ERR_STATE_JSON');
    throw err;
  }
  const allocations: Allocation[] = parsed.data.allocations.map(({ displaced, movedAt, ...rest }) => {
    const a = movedAt === undefined ? rest : { ...rest, movedAt };
    if (!displaced) return { ...a };
    const reasons = displaced.reasons.map(({ shortfall, nodes, ...r }) => ({ ...r, ...(shortfall !== undefined ? { shortfall } : {}), ...(nodes !== undefined ? { nodes } : {}) }));
    return { ...a, displaced: { since: displaced.since, reasons } };
  });
  return { schema: 'numaplan.state/v1', topology, reserve: parsed.data.reserve, allocations };
}
