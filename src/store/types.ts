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
  | 'restore';

/** An event to append (id assigned by the store). */
export type NewEvent = Omit<FleetEvent, 'id'>;

/** A change of one host's VMs, computed from the state at `expectedGeneration`. */
export interface HostChange {
  host: string;
  expectedGeneration: number;
  now: number;
  stats: HostStats;
  added: Omit<VmRecord, 'createdAt' | 'updatedAt'>[];
  updated: { name: string; status: Allocation['status']; expiresAt: number | null; allocation: Allocation }[];
  removed: string[];
  events: NewEvent[];
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

/** The store. All methods are async; `now` is always given by the caller. */
export interface FleetStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Where it lives, without secrets (file path, or postgres host/database). */
  readonly location: string;
  /** Versions of the applied migrations, ascending. */
  migrations(): Promise<string[]>;
  putHost(put: HostPut): Promise<WriteOutcome>;
  /** Removes a host that holds no VM. */
  removeHost(name: string, expectedGeneration: number, now: number, events: NewEvent[]): Promise<WriteOutcome>;
  applyChange(change: HostChange): Promise<WriteOutcome>;
  appendEvents(events: NewEvent[]): Promise<void>;
  hostRow(name: string): Promise<HostRow | null>;
  hostDocument(name: string): Promise<HostDocument | null>;
  listHosts(options: { after?: string; limit: number }): Promise<HostRow[]>;
  /**
   * Hosts that may hold a VM (free CPUs and memory at least the minimums), best fit first: fewest
   * free CPUs, then least free memory, then name. `offset` pages through them.
   */
  candidates(options: { minFreeCpus: number; minFreeMemory: number; limit: number; offset: number }): Promise<HostRow[]>;
  countCandidates(options: { minFreeCpus: number; minFreeMemory: number }): Promise<number>;
  vmsOf(host: string): Promise<VmRecord[]>;
  vm(name: string): Promise<VmRecord | null>;
  /** VMs by name; `displaced` true lists only the displaced ones. */
  listVms(options: { host?: string; limit: number; displaced?: boolean }): Promise<VmRecord[]>;
  /** Hosts holding claims that lapsed at or before `now`. */
  hostsWithExpiredClaims(now: number, limit: number): Promise<string[]>;
  claimsInFlight(now: number): Promise<number>;
  totals(now: number): Promise<FleetTotals>;
  events(options: { after?: number; limit: number }): Promise<FleetEvent[]>;
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
  /** Hosts with their documents, by name, a page at a time. */
  loadHosts(options: { after?: string; limit: number }): Promise<HostLoad[]>;
  /** VMs (allocations only), by name, a page at a time. */
  loadVms(options: { after?: string; limit: number }): Promise<VmLoad[]>;
  /** One host's VMs (allocations only, no placement document), by name: what reading a host back needs. */
  allocationsOf(host: string): Promise<VmLoad[]>;
  /** The newest event id (0 when there is none). */
  lastEventId(): Promise<number>;
  close(): Promise<void>;
}
