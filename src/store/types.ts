/**
 * The fleet store's interface: hosts (topology, reserve, a per-host generation), VMs (allocations,
 * committed or claimed with an expiry), and the append-only event log. Two backends implement it
 * (`sqlite.ts`, `postgres.ts`, both over `sql-store.ts`); `test/store-contract.test.ts` runs one
 * suite on both.
 *
 * Every write that touches a host's allocations is a `HostChange` carrying the generation it was
 * computed from: the store applies it only if the host is still at that generation (see index.ts).
 */
import type { Allocation } from '../core/placement/state.js';
import type { Flush, FlushOutcome } from './flush.js';

/** Per-host numbers kept in columns so that candidate selection and the fleet summary are SQL. */
export interface HostStats {
  nodes: number;
  totalCpus: number;
  /** Usable PUs neither reserved nor held by a dedicated VM. */
  freeCpus: number;
  totalMemory: number;
  /** Free bytes over all nodes and page sizes (an upper bound used to pre-filter hosts). */
  freeMemory: number;
  vms: number;
}

/** A host as listed (no topology). */
export interface HostRow extends HostStats {
  name: string;
  source: string;
  generation: number;
  /** Bumped only when the topology or reserve changes (caches key the parsed topology by it). */
  topoVersion: number;
  createdAt: number;
  updatedAt: number;
}

/** A host with its topology and reserve, as stored (JSON text, parsed by the caller). */
export interface HostDocument {
  name: string;
  generation: number;
  topoVersion: number;
  topology: string;
  reserve: string;
}

/** A VM as stored. */
export interface VmRecord {
  name: string;
  host: string;
  status: Allocation['status'];
  expiresAt: number | null;
  allocation: Allocation;
  /** The placement as decided (with explanation and vNUMA), JSON value. */
  placement: unknown;
  createdAt: number;
  updatedAt: number;
}

/** One event of the append-only log. */
export interface FleetEvent {
  id: number;
  at: number;
  kind: EventKind;
  host: string | null;
  vm: string | null;
  /** Which service instance wrote it. */
  instance: string;
  data: unknown;
}

/** What the log records. */
export type EventKind =
  | 'place'
  | 'claim'
  | 'commit'
  | 'release'
  | 'refuse'
  | 'expire'
  | 'host-register'
  | 'host-update'
  | 'host-remove'
  /** A host update the caller accepted left the VM without something it holds. */
  | 'displace'
  /** A displaced VM fits its host again. */
  | 'restore'
  /** A rebalancing plan stored, a step of it applied, its hold released, the plan cancelled or found stale. */
  | 'plan-create'
  | 'plan-step'
  | 'plan-step-done'
  | 'plan-cancel'
  | 'plan-stale';

/** Where a stored plan stands. */
export type PlanStatus = 'proposed' | 'applying' | 'applied' | 'cancelled' | 'stale';

/** A step of a stored plan, as applied through the service. */
export interface PlanStepRecord {
  step: number;
  appliedAt: number;
  instance: string;
  /**
   * The claim that holds what the move frees (CPUs, memory, devices the VM leaves) until the host has
   * carried the move out: released when the step is reported done, or lapsing at `expiresAt`.
   * Null when the move frees nothing.
   */
  hold: { name: string; expiresAt: number } | null;
  /** When the step was reported carried out on the host (null: not yet). */
  doneAt: number | null;
}

/** What happened to a stored plan since it was made (JSON in the store). */
export interface PlanProgress {
  steps: PlanStepRecord[];
  /** The step refused (the host changed since planning), and why: the plan is stale. */
  refused: { step: number; code: string; reasons: string[]; at: number } | null;
  cancelledAt: number | null;
}

/** A stored rebalancing plan. */
export interface PlanRecord {
  id: string;
  host: string;
  status: PlanStatus;
  /** Bumped by every write; a write names the version it was decided on. */
  version: number;
  /** The next step to apply (1-based; past the last: nothing left). */
  nextStep: number;
  /** The plan (`numaplan.plan/v1`), JSON value. */
  document: unknown;
  progress: PlanProgress;
  createdAt: number;
  updatedAt: number;
}

/** A change of a stored plan, written with its host's change only if the plan is still at `expectedVersion`. */
export interface PlanWrite {
  id: string;
  expectedVersion: number;
  status: PlanStatus;
  nextStep: number;
  progress: PlanProgress;
}

/** An event to append (id assigned by the store). */
export type NewEvent = Omit<FleetEvent, 'id'>;

/** A change of one host's VMs, computed from the state at `expectedGeneration`. */
export interface HostChange {
  host: string;
  expectedGeneration: number;
  now: number;
  stats: HostStats;
  /** VMs added; `placementJson`, when given, is `JSON.stringify(placement)` already made (the service sends the same text in its answer). */
  added: (Omit<VmRecord, 'createdAt' | 'updatedAt'> & { placementJson?: string })[];
  /** VMs whose status, expiry or allocation changed; `placement`: a new placement document (a rebalancing step moved the VM). */
  updated: { name: string; status: Allocation['status']; expiresAt: number | null; allocation: Allocation; placement?: unknown }[];
  removed: string[];
  events: NewEvent[];
  /** Stored plans changed with the host (their versions were checked: see FleetBatch.planVersions). */
  plans?: PlanWrite[];
}

/**
 * Registering or updating a host (its VMs are kept; `expectedGeneration` null = new host). `vms`:
 * allocations the update changes (their displacement marks), written in the same transaction.
 */
export interface HostPut {
  name: string;
  source: string;
  topology: string;
  reserve: string;
  stats: HostStats;
  expectedGeneration: number | null;
  /** True when the topology or reserve differs from the stored one (bumps topoVersion). */
  topologyChanged: boolean;
  now: number;
  events: NewEvent[];
  vms?: HostChange['updated'];
}

/** Outcome of a conditional write. */
export type WriteOutcome = { ok: true; generation: number } | { ok: false; why: 'conflict' | 'name-taken' | 'not-empty' };

/** A host with its document, as the service loads the fleet. */
export interface HostLoad extends HostRow {
  topology: string;
  reserve: string;
}

/** A VM's allocation as the service loads the fleet (no placement document). */
export interface VmLoad {
  name: string;
  host: string;
  allocation: Allocation;
}

/**
 * One transaction of many host changes (group commit): the hosts it reads are locked until it
 * ends (SQLite: the database write lock, taken at the start; PostgreSQL: the host rows, FOR UPDATE),
 * so a change applied after its generation was read cannot lose to another writer.
 */
export interface FleetBatch {
  /** Current generations of hosts (absent: no such host). */
  generations(hosts: readonly string[]): Promise<Map<string, number>>;
  /** Which of these VM names are stored already. */
  takenNames(names: readonly string[]): Promise<Set<string>>;
  /** Current versions of stored plans (absent: no such plan). */
  planVersions(ids: readonly string[]): Promise<Map<string, number>>;
  /** Applies host changes whose generations were checked (each host's generation + 1, its VMs, its events). */
  applyChanges(changes: readonly HostChange[]): Promise<void>;
  /** Registers or updates hosts whose generations were checked (`expectedGeneration` null: new). */
  putHosts(puts: readonly HostPut[]): Promise<void>;
  /** Removes hosts whose generations were checked. */
  removeHosts(names: readonly string[], events: readonly NewEvent[]): Promise<void>;
  appendEvents(events: readonly NewEvent[]): Promise<void>;
}

/** Fleet-wide numbers. */
export interface FleetTotals {
  hosts: number;
  nodes: number;
  cpus: { total: number; free: number };
  memory: { total: number; free: number };
  vms: { committed: number; claimed: number; displaced: number };
}

/**
 * When the service answers a write (see `numaplan serve --durability`):
 * - `disk` (default): once its commit is on disk (SQLite's log synced with fdatasync, PostgreSQL's
 *   synchronous commit): an answered placement survives a crash of the service and of the machine.
 * - `commit`: once it committed (SQLite's log written to the operating system, not yet synced;
 *   PostgreSQL with `synchronous_commit = off`): it survives a crash of the service; a crash of the
 *   machine (or of the PostgreSQL server) can lose the last placements answered, up to a second or
 *   so, and leaves the database consistent. The wait for the disk is most of a placement's time.
 */
export type Durability = 'disk' | 'commit';

/** Options of the store. */
export interface StoreOptions {
  durability?: Durability;
}

/** A --durability value, checked: `disk` or `commit` (else an ERR_USAGE error naming the flag). */
export function parseDurability(value: string): Durability {
  if (value === 'disk' || value === 'commit') return value;
  throw Object.assign(new Error(`--durability: expected disk or commit, got "${value}"`), { code: 'ERR_USAGE', path: '--durability' });
}

/** The store. All methods are async; `now` is always given by the caller. */
export interface FleetStore {
  readonly kind: 'sqlite' | 'postgres';
  /** When a write is durable enough to answer: `disk` (synced) or `commit` (see Durability). */
  readonly durability: Durability;
  /** Where it lives, without secrets (file path, or postgres host/database). */
  readonly location: string;
  /**
   * How many group commits (`commitFlush`) a service instance may have in flight at once: 2 where
   * they overlap (SQLite's writer thread commits one while the next is sent), 1 where a commit
   * holds the event loop anyway (or SQLite's writer thread failed).
   */
  readonly commitDepth: number;
  /**
   * True where a group commit may carry hosts of one still in flight (Flush.chained): commits are
   * written one at a time, in the order sent, by a writer that checks the chain (SQLite's writer
   * thread). Elsewhere ops on a host in flight wait for its commit to end.
   */
  readonly chainedCommits: boolean;
  /** Versions of the applied migrations, ascending. */
  migrations(): Promise<string[]>;
  putHost(put: HostPut): Promise<WriteOutcome>;
  /** Removes a host that holds no VM. */
  removeHost(name: string, expectedGeneration: number, now: number, events: NewEvent[]): Promise<WriteOutcome>;
  applyChange(change: HostChange): Promise<WriteOutcome>;
  appendEvents(events: NewEvent[]): Promise<void>;
  hostRow(name: string): Promise<HostRow | null>;
  /** The rows of those of `names` that exist, in no particular order (one query per few hundred names). */
  hostRows(names: readonly string[]): Promise<HostRow[]>;
  hostDocument(name: string): Promise<HostDocument | null>;
  listHosts(options: { after?: string; limit: number }): Promise<HostRow[]>;
  vmsOf(host: string): Promise<VmRecord[]>;
  vm(name: string): Promise<VmRecord | null>;
  /** VMs by name; `displaced` true lists only the displaced ones. */
  listVms(options: { host?: string; limit: number; displaced?: boolean }): Promise<VmRecord[]>;
  totals(now: number): Promise<FleetTotals>;
  events(options: { after?: number; limit: number }): Promise<FleetEvent[]>;
  /**
   * What a service instance polls for: the hosts named by the events after `after` that instances
   * other than `instance` wrote (each once, in no order), and the last event's id so far (`after`
   * when there is none). The instance's own events are skipped by the database, not read back.
   */
  foreignHosts(options: { after: number; instance: string }): Promise<{ last: number; hosts: string[] }>;
  /** Runs `body` as one transaction (see FleetBatch); busy databases are retried as `applyChange` does. */
  batch<T>(body: (b: FleetBatch) => Promise<T>): Promise<T>;
  /**
   * `batch` in two steps: resolves once the transaction committed (its writes are visible to the
   * next transaction), with `durable`, which resolves once the commit is on disk (it rejects if
   * syncing failed). Nothing may be acknowledged to a client before `durable` resolves. SQLite
   * syncs its write-ahead log off the event loop, so the next transaction can be decided and
   * committed meanwhile; PostgreSQL's commit is durable when it returns (`durable` is resolved).
   */
  stagedBatch<T>(body: (b: FleetBatch) => Promise<T>): Promise<{ value: T; durable: Promise<void> }>;
  /**
   * A service instance's group commit (flush.ts) in one transaction, as `stagedBatch` with
   * `writeFlush` would write it; SQLite writes it in a thread of its own (sqlite-writer.ts), while
   * the event loop goes on.
   */
  commitFlush(flush: Flush): Promise<{ value: FlushOutcome; durable: Promise<void> }>;
  /** Hosts with their documents, by name, a page at a time. */
  loadHosts(options: { after?: string; limit: number }): Promise<HostLoad[]>;
  /** VMs (allocations only), by name, a page at a time. */
  loadVms(options: { after?: string; limit: number }): Promise<VmLoad[]>;
  /** The VMs of some hosts (allocations only, no placement document), by host then name: what reading hosts back needs. */
  allocationsOf(hosts: readonly string[]): Promise<VmLoad[]>;
  /** Stores a new plan (version 1). */
  insertPlan(plan: Omit<PlanRecord, 'version' | 'updatedAt'>): Promise<void>;
  plan(id: string): Promise<PlanRecord | null>;
  /** Plans, newest first; of one host when `host` is given. */
  listPlans(options: { host?: string; limit: number }): Promise<PlanRecord[]>;
  /** The newest event id (0 when there is none). */
  lastEventId(): Promise<number>;
  close(): Promise<void>;
}
