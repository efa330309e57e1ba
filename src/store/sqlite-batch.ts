/**
 * SQLite's group-commit statements (prepared once per connection) and the FleetBatch that runs them
 * inside a transaction: used by the service's own connection and by the writer thread's
 * (sqlite-writer.ts).
 */
import type Database from 'better-sqlite3';
import type { FleetBatch, HostChange, HostPut, NewEvent } from './types.js';

/** The group-commit statements, prepared once per database (better-sqlite3 caches nothing itself). */
function statements(db: Database.Database) {
  return {
    generation: db.prepare<[string], { generation: number }>('select generation from hosts where name = ?'),
    vmExists: db.prepare<[string], { name: string }>('select name from vms where name = ?'),
    hostStats: db.prepare('update hosts set generation = ?, free_cpus = ?, free_memory = ?, vms = ?, updated_at = ? where name = ? and generation = ?'),
    deleteVm: db.prepare('delete from vms where host = ? and name = ?'),
    updateVm: db.prepare('update vms set status = ?, expires_at = ?, allocation = ?, displaced = ?, updated_at = ? where host = ? and name = ?'),
    insertVm: db.prepare('insert into vms (name, host, status, expires_at, allocation, placement, created_at, updated_at, displaced) values (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    insertEvent: db.prepare('insert into events (at, kind, host, vm, instance, data) values (?, ?, ?, ?, ?, ?)'),
    insertHost: db.prepare(
      'insert into hosts (name, source, topology, reserve, topo_version, generation, nodes, total_cpus, free_cpus, total_memory, free_memory, vms, created_at, updated_at) values (?, ?, ?, ?, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    updateHost: db.prepare('update hosts set generation = ?, nodes = ?, total_cpus = ?, free_cpus = ?, total_memory = ?, free_memory = ?, vms = ?, updated_at = ? where name = ? and generation = ?'),
    updateTopology: db.prepare('update hosts set source = ?, topology = ?, reserve = ?, topo_version = topo_version + 1 where name = ?'),
    deleteHost: db.prepare('delete from hosts where name = ?'),
    updatePlacement: db.prepare('update vms set placement = ? where host = ? and name = ?'),
    planVersion: db.prepare<[string], { version: number }>('select version from plans where id = ?'),
    updatePlan: db.prepare('update plans set status = ?, next_step = ?, progress = ?, version = ?, updated_at = ? where id = ? and version = ?'),
  };
}

/** One group-commit transaction on SQLite's own connection (see FleetBatch); the caller holds the write lock. */
export class SqliteBatch implements FleetBatch {
  private readonly s: ReturnType<typeof statements>;

  constructor(db: Database.Database) {
    this.s = statements(db);
  }

  async generations(hosts: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const h of hosts) {
      const r = this.s.generation.get(h);
      if (r) out.set(h, Number(r.generation));
    }
    return out;
  }

  async planVersions(ids: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const id of ids) {
      const r = this.s.planVersion.get(id);
      if (r) out.set(id, Number(r.version));
    }
    return out;
  }

  async takenNames(names: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const n of names) if (this.s.vmExists.get(n)) out.add(n);
    return out;
  }

  async applyChanges(changes: readonly HostChange[]): Promise<void> {
    for (const c of changes) {
      const st = c.stats;
      const r = this.s.hostStats.run(c.expectedGeneration + 1, st.freeCpus, st.freeMemory, st.vms, c.now, c.host, c.expectedGeneration);
      if (r.changes !== 1) throw new Error(`internal: host ${c.host} moved from generation ${c.expectedGeneration} inside the transaction`);
      for (const name of c.removed) this.s.deleteVm.run(c.host, name);
      for (const u of c.updated) this.updateVm(c.host, u, c.now);
      for (const w of c.plans ?? []) {
        const p = this.s.updatePlan.run(w.status, w.nextStep, JSON.stringify(w.progress), w.expectedVersion + 1, c.now, w.id, w.expectedVersion);
        if (p.changes !== 1) throw new Error(`internal: plan ${w.id} moved from version ${w.expectedVersion} inside the transaction`);
      }
      for (const a of c.added) {
        this.s.insertVm.run(a.name, a.host, a.status, a.expiresAt, JSON.stringify(a.allocation), a.placementJson ?? JSON.stringify(a.placement), c.now, c.now, a.allocation.displaced ? 1 : 0);
      }
      await this.appendEvents(c.events);
    }
  }

  private updateVm(host: string, u: HostChange['updated'][number], now: number): void {
    this.s.updateVm.run(u.status, u.expiresAt, JSON.stringify(u.allocation), u.allocation.displaced ? 1 : 0, now, host, u.name);
    if (u.placement !== undefined) this.s.updatePlacement.run(JSON.stringify(u.placement), host, u.name);
  }

  async putHosts(puts: readonly HostPut[]): Promise<void> {
    for (const p of puts) {
      const st = p.stats;
      if (p.expectedGeneration === null) {
        this.s.insertHost.run(p.name, p.source, p.topology, p.reserve, st.nodes, st.totalCpus, st.freeCpus, st.totalMemory, st.freeMemory, st.vms, p.now, p.now);
      } else {
        const r = this.s.updateHost.run(p.expectedGeneration + 1, st.nodes, st.totalCpus, st.freeCpus, st.totalMemory, st.freeMemory, st.vms, p.now, p.name, p.expectedGeneration);
        if (r.changes !== 1) throw new Error(`internal: host ${p.name} moved from generation ${p.expectedGeneration} inside the transaction`);
        if (p.topologyChanged) this.s.updateTopology.run(p.source, p.topology, p.reserve, p.name);
      }
      for (const u of p.vms ?? []) this.updateVm(p.name, u, p.now);
      await this.appendEvents(p.events);
    }
  }

  async removeHosts(names: readonly string[], events: readonly NewEvent[]): Promise<void> {
    for (const n of names) this.s.deleteHost.run(n);
    await this.appendEvents(events);
  }

  async appendEvents(events: readonly NewEvent[]): Promise<void> {
    for (const e of events) this.s.insertEvent.run(e.at, e.kind, e.host, e.vm, e.instance, JSON.stringify(e.data ?? null));
  }
}
