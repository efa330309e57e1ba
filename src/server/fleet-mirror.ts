/**
 * The service instance's fleet in memory, and the group commit that makes it durable.
 *
 * Decisions are made on the mirror: the kernel's fleet (`core/fleet`, one ledger per host), loaded
 * from the store on start and kept in step by this instance's own writes, by refreshing the hosts
 * other instances changed (read from the event log every POLL_MS) and by refreshing a host whose
 * write conflicted. The store stays the durable record and the arbiter between instances.
 *
 * Group commit: a request changes the mirror at once (so the next decision sees it) and queues an
 * `Op` describing its writes; the ops queued during one turn of the event loop are written in one
 * transaction (`store.commitFlush`) and each request is answered only after that transaction commits. In
 * the transaction every host touched has its generation checked against the one this instance last
 * committed (the rows are locked: SQLite's write lock, PostgreSQL's FOR UPDATE): a host another
 * instance changed meanwhile is left out, refreshed from the store (its row, document and VMs: only
 * that host), and its requests are decided again. Up to the store's `commitDepth` transactions are in
 * flight at once (SQLite's writer thread: 2, so that the next is on its way while one is written).
 * An op whose host is in a transaction in flight goes in the next one, chained (Flush.chained:
 * expected at the generation the first leaves, and written only if the first committed the host),
 * where the store's writer checks chains; elsewhere, and for a host's registration, update or
 * removal, it waits for that transaction to end. With one host filling at a time, as the packing
 * policies do, waiting left the writer one commit at a time: chained, 8 clients placed 3-12% more
 * VMs per second (two sets of side runs). A store error leaves nothing half done: the hosts the transaction touched are read back from the
 * store and the requests fail. A transaction's requests are answered once it is on disk (on SQLite
 * the writer thread's commit syncs the log; with `NUMAPLAN_SQLITE_SYNC=loop` and a slow disk the
 * log syncs off the event loop after the commit); should the sync fail, they fail (their outcome is
 * unknown to the client, as with any failed commit).
 *
 * Instances sharing a database would all rank the same host best and conflict on it: a host another
 * instance changed lately (seen in the event log or in a conflict) is tried last by this instance's
 * decisions for FOREIGN_MS (`avoid`), so each fills its own hosts; alone, an instance decides exactly
 * as the simulator does.
 *
 * Reading a host again replaces its ledger (its `epoch` moves on). An op remembers the epoch it was
 * decided on; one whose host was read again before it was written is not written but decided again
 * (its effect on the mirror went with the old ledger). Hosts with ops in a transaction are not read
 * again until it ends.
 */
import { Fleet, type FleetHost } from '../core/fleet/fleet.js';
import { HostLedger } from '../core/placement/ledger.js';
import type { Allocation, HostReserve } from '../core/placement/state.js';
import { topologyFromTrustedJson } from '../core/topology/json.js';
import type { Topology } from '../core/topology/model.js';
import { statsOf } from '../store/host-change.js';
import type { FlushOp } from '../store/flush.js';
import type { FleetStore, HostLoad, HostRow, HostStats } from '../store/types.js';

/** How often the event log is read for hosts other instances changed. */
export const POLL_MS = 200;
/**
 * How long a host another instance changed (seen in the event log, or in a conflict) is tried
 * last by this instance's decisions: instances sharing a database then fill different hosts.
 */
export const FOREIGN_MS = 2000;
/** Hosts read back per query when refreshing. */
const REFRESH_CHUNK = 200;
/** Rows per page when loading the fleet. */
const PAGE = 1000;

/** One host as this instance holds it. */
export interface HostEntry {
  name: string;
  /** The generation this instance last committed or read. */
  generation: number;
  topoVersion: number;
  source: string;
  topologyText: string;
  reserve: HostReserve;
  createdAt: number;
  updatedAt: number;
  host: FleetHost;
  /** Bumped whenever the ledger is replaced by one read from the store. */
  epoch: number;
  /** Ops queued or in a transaction on this host. */
  pending: number;
  /** Ops in the transaction in flight. */
  inflight: number;
}

/** A queued write and what to do once its transaction ends. */
export interface Op extends FlushOp {
  /** The host it changes (null: events only). */
  host: string | null;
  /** Committed: the host's new generation (0 for events only). */
  done(generation: number): void;
  /** The host changed under it (it was read again from the store): decide again. */
  conflict(): void;
  /** A VM name it adds is taken (by another instance). */
  taken?(): void;
  fail(err: unknown): void;
  /** The host's epoch it was decided on (set by `queue`). */
  basis?: number;
}

/** What a mirror tells its service about its writes (for metrics). */
export interface MirrorEvents {
  /** A transaction found hosts changed by another writer (their ops are decided again). */
  conflict?(): void;
  /** A group commit committed, with this many requests' writes. */
  groupCommit?(ops: number): void;
}

export { statsOf };

/** A min-heap of claim expiries (time, host, VM). */
class ExpiryHeap {
  private readonly items: { at: number; host: string; vm: string }[] = [];
  push(at: number, host: string, vm: string): void {
    const a = this.items;
    a.push({ at, host, vm });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as { at: number }).at <= (a[i] as { at: number }).at) break;
      [a[p], a[i]] = [a[i] as (typeof a)[number], a[p] as (typeof a)[number]];
      i = p;
    }
  }
  /** Removes and returns the entries due at `now`. */
  due(now: number): { at: number; host: string; vm: string }[] {
    const out: { at: number; host: string; vm: string }[] = [];
    const a = this.items;
    while (a.length > 0 && (a[0] as { at: number }).at <= now) {
      out.push(a[0] as (typeof a)[number]);
      const last = a.pop() as (typeof a)[number];
      if (a.length === 0) break;
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && (a[l] as { at: number }).at < (a[m] as { at: number }).at) m = l;
        if (r < a.length && (a[r] as { at: number }).at < (a[m] as { at: number }).at) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i] as (typeof a)[number], a[m] as (typeof a)[number]];
        i = m;
      }
    }
    return out;
  }
}

/** The mirror (see the module comment). */
export class FleetMirror {
  readonly fleet = new Fleet();
  readonly hosts = new Map<string, HostEntry>();
  /** Committed VMs -> host. */
  readonly vmHost = new Map<string, string>();
  /** VM names of queued or in-flight placements. */
  readonly pendingNames = new Set<string>();
  private readonly expiries = new ExpiryHeap();
  /** Parsed topologies by their text: hosts of one model share one value (and its derived indexes). */
  private readonly topologies = new Map<string, Topology>();
  private open: Op[] = [];
  /** Group commits in flight (at most the store's `commitDepth`). */
  private flights = 0;
  /**
   * The hosts with ops in group commits in flight: how many such commits, and whether one registers,
   * updates or removes the host. Their next ops wait for those to end, unless the store chains
   * commits (FleetStore.chainedCommits) and neither they nor the commits in flight change the host
   * itself: then they go in the next commit, chained (Flush.chained).
   */
  private readonly flying = new Map<string, { flights: number; rewrites: boolean }>();
  private scheduled = false;
  private lastEvent = 0;
  private loading: Promise<void> | null = null;
  /** Resolves when no refresh is running (decisions wait for it: a refresh replaces ledgers). */
  private gate: Promise<void> = Promise.resolve();
  /** Refreshes running: while any is, no decision may be made (see `settled`). */
  private refreshing = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
  /** Transactions committed whose sync to disk has not returned yet. */
  private syncing = 0;
  /** Hosts other instances changed lately, with when this instance learnt it (see FOREIGN_MS). */
  private readonly foreign = new Map<string, number>();
  /** For `Fleet.decide`: true for a host another instance changed within FOREIGN_MS. */
  readonly avoid = (host: FleetHost): boolean => {
    const at = this.foreign.get(host.name);
    if (at === undefined) return false;
    if (this.clock() - at < FOREIGN_MS) return true;
    this.foreign.delete(host.name);
    return false;
  };

  constructor(
    private readonly store: FleetStore,
    private readonly instance: string,
    private readonly events: MirrorEvents = {},
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Loads the fleet on first use, and waits for any refresh in progress. A caller decides right after
   * it resolves, in the same synchronous step (a refresh starting later leaves hosts with queued ops
   * alone: their transaction checks them).
   */
  async ready(): Promise<void> {
    this.loading ??= this.load();
    await this.loading;
    while (this.refreshing > 0) await this.gate;
  }

  /** Stops polling. */
  close(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  /** Remembers a topology already parsed (a registration read it in the worker), so that reading its host back does not parse it again. */
  knowTopology(text: string, topology: Topology): void {
    if (this.topologies.size > 256) this.topologies.clear();
    this.topologies.set(text, topology);
  }

  /** A parsed topology of a text (shared between hosts with the same text). */
  topologyOf(text: string, name: string): Topology {
    let t = this.topologies.get(text);
    if (!t) {
      // The store holds models the service wrote itself (see topologyFromTrustedJson).
      t = topologyFromTrustedJson(text, `${name}:topology`);
      if (this.topologies.size > 256) this.topologies.clear();
      this.topologies.set(text, t);
    }
    return t;
  }

  private async load(): Promise<void> {
    this.lastEvent = await this.store.lastEventId();
    // The host rows first, their VMs after: a VM written in between (by another instance) is then
    // in a ledger whose generation is older than its write, so the next write there conflicts and
    // reads the host again. The other order could give a ledger without that VM at the generation
    // that has it, and hand its CPUs out twice (as `refresh` does, and for the same reason).
    const rows: HostLoad[] = [];
    // Hosts of one model have one topology text: kept once while the VMs are read.
    const texts = new Map<string, string>();
    let after: string | undefined;
    for (;;) {
      const page = await this.store.loadHosts({ ...(after !== undefined ? { after } : {}), limit: PAGE });
      for (const h of page) {
        const text = texts.get(h.topology) ?? h.topology;
        texts.set(text, text);
        rows.push({ ...h, topology: text });
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]?.name;
    }
    const byHost = new Map<string, Allocation[]>();
    after = undefined;
    for (;;) {
      const page = await this.store.loadVms({ ...(after !== undefined ? { after } : {}), limit: PAGE });
      for (const v of page) {
        const list = byHost.get(v.host);
        if (list) list.push(v.allocation);
        else byHost.set(v.host, [v.allocation]);
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]?.name;
    }
    for (const h of rows) this.install(h, h.topology, JSON.parse(h.reserve) as HostReserve, byHost.get(h.name) ?? []);
    this.pollTimer = setInterval(() => void this.poll(), POLL_MS);
    this.pollTimer.unref();
  }

  /** Puts a host as the store has it into the mirror (replacing what the mirror had). */
  private install(row: HostRow, topologyText: string, reserve: HostReserve, allocations: readonly Allocation[]): HostEntry {
    const topology = this.topologyOf(topologyText, row.name);
    const ledger = new HostLedger(topology, reserve);
    const old = this.hosts.get(row.name);
    if (old) for (const a of old.host.ledger.allocations) if (this.vmHost.get(a.name) === row.name) this.vmHost.delete(a.name);
    for (const a of allocations) {
      ledger.add(a);
      this.vmHost.set(a.name, row.name);
      if (a.status === 'claimed' && a.expiresAt !== null) this.expiries.push(a.expiresAt, row.name, a.name);
    }
    const host = this.fleet.replace(row.name, ledger);
    const entry: HostEntry = {
      name: row.name,
      generation: row.generation,
      topoVersion: row.topoVersion,
      source: row.source,
      topologyText,
      reserve,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      host,
      epoch: (old?.epoch ?? 0) + 1,
      pending: old?.pending ?? 0,
      inflight: old?.inflight ?? 0,
    };
    this.hosts.set(row.name, entry);
    return entry;
  }

  /** Reads hosts again from the store (row, document, VMs); a host gone is dropped. Decisions wait meanwhile. */
  async refresh(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    let release: () => void = () => undefined;
    const before = this.gate;
    this.gate = new Promise<void>((r) => (release = r));
    this.refreshing++;
    try {
      await before;
      // A few hundred hosts per query: after a poll, the hosts another instance changed are many.
      for (let i = 0; i < names.length; i += REFRESH_CHUNK) {
        const part = names.slice(i, i + REFRESH_CHUNK);
        const rows = new Map((await this.store.hostRows(part)).map((r) => [r.name, r]));
        const vms = new Map<string, Allocation[]>();
        for (const v of await this.store.allocationsOf(part.filter((n) => rows.has(n)))) {
          const list = vms.get(v.host);
          if (list) list.push(v.allocation);
          else vms.set(v.host, [v.allocation]);
        }
        for (const name of part) {
          const row = rows.get(name);
          const entry = this.hosts.get(name);
          if (!row) {
            if (entry) {
              for (const a of entry.host.ledger.allocations) if (this.vmHost.get(a.name) === name) this.vmHost.delete(a.name);
              this.fleet.remove(name);
              this.hosts.delete(name);
            }
            continue;
          }
          let text = entry?.topologyText;
          let reserve = entry?.reserve;
          if (!entry || entry.topoVersion !== row.topoVersion || text === undefined || reserve === undefined) {
            const doc = await this.store.hostDocument(name);
            if (!doc) continue;
            text = doc.topology;
            reserve = JSON.parse(doc.reserve) as HostReserve;
          }
          // A host with ops in a transaction keeps its ledger until it ends (it is read again then if needed).
          if ((this.hosts.get(name)?.inflight ?? 0) > 0) continue;
          // The allocations read after the row: if they are newer, the next write conflicts and reads again.
          this.install(row, text, reserve, vms.get(name) ?? []);
        }
      }
    } finally {
      this.refreshing--;
      release();
    }
  }

  /** Reads the event log for hosts other instances changed, and refreshes those without ops in flight. */
  async poll(): Promise<void> {
    if (this.polling || this.loading === null) return;
    this.polling = true;
    try {
      // The hosts others changed since the last poll (the database skips this instance's own events).
      const { last, hosts } = await this.store.foreignHosts({ after: this.lastEvent, instance: this.instance });
      this.lastEvent = Math.max(this.lastEvent, last);
      for (const h of hosts) this.foreign.set(h, this.clock());
      // Hosts with ops queued or in flight are checked by their transaction (a conflict reads them again).
      await this.refresh(hosts.filter((h) => (this.hosts.get(h)?.pending ?? 0) === 0));
    } catch {
      // The store is unreachable for now: the next poll tries again.
    } finally {
      this.polling = false;
    }
  }

  /** Claims due at `now`, dropped from their hosts' ledgers; returns them (the caller writes them). */
  expireDue(now: number): { host: string; allocation: Allocation }[] {
    const out: { host: string; allocation: Allocation }[] = [];
    for (const e of this.expiries.due(now)) {
      const entry = this.hosts.get(e.host);
      const a = entry?.host.ledger.get(e.vm);
      if (!entry || !a || a.status !== 'claimed' || a.expiresAt === null || a.expiresAt > now) continue;
      this.fleet.release(entry.host, e.vm);
      this.vmHost.delete(e.vm);
      out.push({ host: e.host, allocation: a });
    }
    return out;
  }

  /** Remembers a claim's expiry (the ledger holds the claim until then). */
  watchClaim(host: string, vm: string, expiresAt: number): void {
    this.expiries.push(expiresAt, host, vm);
  }

  /** Resolves once every op queued so far is written (or failed). */
  async settled(): Promise<void> {
    while (this.open.length > 0 || this.flights > 0 || this.scheduled || this.syncing > 0) await new Promise((r) => setImmediate(r));
  }

  /** Queues a write; it is committed with the others of this turn of the event loop. */
  queue(op: Op): void {
    if (op.host !== null) {
      const entry = this.hosts.get(op.host);
      if (entry) {
        entry.pending++;
        op.basis = entry.epoch;
      }
    }
    this.open.push(op);
    if (!this.scheduled && this.flights < this.store.commitDepth) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  private settle(op: Op, inflight = false): void {
    if (op.host === null) return;
    const entry = this.hosts.get(op.host);
    if (entry && entry.pending > 0) entry.pending--;
    if (entry && inflight && entry.inflight > 0) entry.inflight--;
  }

  /** Writes the queued ops in one transaction (see the module comment). */
  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flights >= this.store.commitDepth || this.open.length === 0) return;
    // Each host's writes go in order, each against the generation the last one leaves. Ops on a
    // host whose group commit is still in flight go in this one, chained, where the store checks
    // chains; else they wait for it.
    const chain = this.store.chainedCommits;
    const ops: Op[] = [];
    const waiting: Op[] = [];
    for (const op of this.open) {
      const f = op.host !== null ? this.flying.get(op.host) : undefined;
      const wait = f !== undefined && (!chain || f.rewrites || op.put !== undefined || op.remove === true);
      (wait ? waiting : ops).push(op);
    }
    if (ops.length === 0) return;
    this.open = waiting;
    this.flights++;
    try {
      await this.write(ops);
    } finally {
      this.flights--;
    }
    if (this.open.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** One group commit of `ops`, and what follows it (answers, conflicts, reads back). */
  private async write(ops: Op[]): Promise<void> {
    const now = this.clock();
    // Ops whose host was read again since they were decided are decided again, not written. A host
    // registration, update or removal is written alone: other ops on its host wait, and are decided
    // again once the host was read back.
    const byHost = new Map<string, Op[]>();
    const hostless: Op[] = [];
    const orphans: Op[] = [];
    const deferred: Op[] = [];
    for (const op of ops) {
      if (op.host === null) {
        hostless.push(op);
        continue;
      }
      const entry = this.hosts.get(op.host);
      if (entry ? op.basis !== undefined && op.basis !== entry.epoch : !op.put) {
        this.settle(op);
        for (const a of op.added ?? []) this.pendingNames.delete(a.name);
        orphans.push(op);
        continue;
      }
      const list = byHost.get(op.host);
      if (!list) byHost.set(op.host, [op]);
      else if (op.put || op.remove || list.some((o) => o.put || o.remove)) deferred.push(op);
      else list.push(op);
    }
    const expected = new Map<string, number | null>();
    const chained: string[] = [];
    // Each host's numbers as this transaction leaves it, taken now: decisions made while it is in
    // flight change the ledgers, and belong to the next one.
    const stats = new Map<string, HostStats>();
    for (const [host, list] of byHost) {
      const entry = this.hosts.get(host);
      // A host in flight already (chained): expected at the generation those commits leave.
      const f = this.flying.get(host);
      if (f) chained.push(host);
      expected.set(host, list.some((o) => o.put) && !entry ? null : (entry?.generation ?? -1) + (f?.flights ?? 0));
      const rewrites = list.some((o) => o.put !== undefined || o.remove === true);
      this.flying.set(host, { flights: (f?.flights ?? 0) + 1, rewrites: (f?.rewrites ?? false) || rewrites });
      if (entry) {
        entry.inflight += list.length;
        stats.set(host, statsOf(entry.host.ledger));
      }
    }
    let outcome: { conflicted: Set<string>; takenVms: Set<string> } | null = null;
    let durable: Promise<void> = Promise.resolve();
    let failure: unknown = null;
    try {
      const staged = await this.store.commitFlush({ byHost, hostless, expected, stats, now, instance: this.instance, ...(chained.length > 0 ? { chained } : {}) });
      outcome = staged.value;
      durable = staged.durable;
      this.events.groupCommit?.(ops.length - orphans.length - deferred.length);
    } catch (err) {
      failure = err;
    }
    // Landed: from here to the generations set below nothing waits, so a commit made meanwhile
    // sees both or neither.
    for (const host of byHost.keys()) {
      const f = this.flying.get(host);
      if (!f || f.flights <= 1) this.flying.delete(host);
      else f.flights--;
    }
    for (const list of byHost.values()) for (const o of list) this.settle(o, true);
    const reread = new Set<string>();
    const retry: Op[] = [...orphans];
    if (failure !== null || outcome === null) {
      // Nothing was written: the hosts touched are read back, and the requests fail.
      for (const host of byHost.keys()) reread.add(host);
      for (const list of byHost.values()) for (const o of list) for (const a of o.added ?? []) this.pendingNames.delete(a.name);
      await this.refresh((await this.afterChains(reread)).filter((h) => this.hosts.has(h))).catch(() => undefined);
      for (const list of byHost.values()) for (const o of list) o.fail(failure);
      for (const o of hostless) o.fail(failure);
    } else {
      const { conflicted, takenVms } = outcome;
      for (const [host, list] of byHost) {
        if (conflicted.has(host)) {
          reread.add(host);
          for (const o of list) for (const a of o.added ?? []) this.pendingNames.delete(a.name);
          continue;
        }
        const generation = (expected.get(host) ?? 0) + 1;
        const entry = this.hosts.get(host);
        if (list.some((o) => o.remove)) {
          if (entry) for (const a of entry.host.ledger.allocations) if (this.vmHost.get(a.name) === host) this.vmHost.delete(a.name);
          this.fleet.remove(host);
          this.hosts.delete(host);
        } else if (list.some((o) => o.put)) {
          // Read back below; what this write stored is known, so only its generation and VMs are read.
          const put = list.find((o) => o.put)?.put;
          if (entry && put) {
            entry.topologyText = put.topology;
            entry.reserve = JSON.parse(put.reserve) as HostReserve;
            if (put.topologyChanged) entry.topoVersion++;
          }
          reread.add(host);
        }
        else if (entry) {
          entry.generation = generation;
          entry.updatedAt = now;
        }
        for (const o of list) {
          for (const a of o.added ?? []) {
            this.pendingNames.delete(a.name);
            this.vmHost.set(a.name, host);
          }
          for (const r of o.removed ?? []) if (this.vmHost.get(r) === host) this.vmHost.delete(r);
        }
      }
      if (conflicted.size > 0) this.events.conflict?.();
      for (const host of conflicted) this.foreign.set(host, now);
      // Registered, updated and conflicted hosts are read back before anyone is answered or retried.
      await this.refresh(await this.afterChains(reread)).catch(() => undefined);
      // The committed ops are answered once their transaction is on disk.
      const acks: { op: Op; generation: number }[] = [];
      for (const [host, list] of byHost) {
        if (conflicted.has(host)) {
          for (const o of list) {
            if ((o.added ?? []).some((a) => takenVms.has(a.name)) && o.taken) o.taken();
            else retry.push(o);
          }
          continue;
        }
        const generation = list.some((o) => o.remove) ? 0 : (this.hosts.get(host)?.generation ?? (expected.get(host) ?? 0) + 1);
        for (const o of list) acks.push({ op: o, generation });
      }
      for (const o of hostless) acks.push({ op: o, generation: 0 });
      this.syncing++;
      durable.then(
        () => {
          this.syncing--;
          for (const { op, generation } of acks) op.done(generation);
        },
        (err: unknown) => {
          this.syncing--;
          for (const { op } of acks) op.fail(err);
        },
      );
    }
    // Deferred ops wait for their host's write and read-back; their effect went with the old ledger
    // when it was read again, else it is undone here before they decide again.
    for (const o of deferred) {
      this.settle(o);
      for (const a of o.added ?? []) this.pendingNames.delete(a.name);
      if (o.host !== null && !reread.has(o.host)) await this.refresh([o.host]).catch(() => undefined);
      retry.push(o);
    }
    for (const o of retry) o.conflict();
  }

  /**
   * Before reading back hosts a commit left out or failed: waits, for each one a later commit in
   * flight still carries (chained on this one), until the host was read back or no commit carries
   * it any more. Those commits conflict on it (their chain is broken) and read it back; until then
   * its ledger still holds this commit's ops, and this commit's requests must not be decided again
   * on it. Returns the hosts still to read back (those not read back meanwhile).
   */
  private async afterChains(hosts: Iterable<string>): Promise<string[]> {
    const epochs = [...hosts].map((h) => ({ h, epoch: this.hosts.get(h)?.epoch }));
    while (epochs.some(({ h, epoch }) => this.flying.has(h) && this.hosts.get(h)?.epoch === epoch)) await new Promise((r) => setImmediate(r));
    return epochs.filter(({ h, epoch }) => this.hosts.get(h)?.epoch === epoch).map(({ h }) => h);
  }

  /**
   * Puts a host the service just committed (registered or updated) into the mirror: its topology,
   * reserve and allocations as written, at the generation the write produced.
   */
  installCommitted(row: HostRow, topologyText: string, reserve: HostReserve, allocations: readonly Allocation[]): HostEntry {
    return this.install(row, topologyText, reserve, allocations);
  }

  /** The host row of an entry, as the API lists it. */
  rowOf(entry: HostEntry): HostRow {
    const s = statsOf(entry.host.ledger);
    return {
      name: entry.name,
      source: entry.source,
      generation: entry.generation,
      topoVersion: entry.topoVersion,
      nodes: s.nodes,
      totalCpus: s.totalCpus,
      freeCpus: s.freeCpus,
      totalMemory: s.totalMemory,
      freeMemory: s.freeMemory,
      vms: s.vms,
      createdAt: entry.createdAt,
      updatedAt: entry.updatedAt,
    };
  }
}
