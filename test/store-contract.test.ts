/**
 * The store contract: one suite, run on every backend (SQLite file, real PostgreSQL server).
 * Hosts with generations, VMs with claims and expiry, the event log, candidate selection, the
 * conditional write (exactly one of N concurrent writers at one generation wins), migrations, and
 * the invariant checker on real and on deliberately corrupted data.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { type Kysely, sql } from 'kysely';
import { claimPlacement, commitPlacement, createHostState, type HostState } from '../src/core/placement/state.js';
import { place } from '../src/core/placement/place.js';
import { parseVmSpec } from '../src/core/placement/request.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { hostChange, hostStats } from '../src/store/host-change.js';
import { checkStore } from '../src/store/invariants.js';
import pgDriver from 'pg';
import { openPostgresStore } from '../src/store/postgres.js';
import { writeSimpleFlush } from '../src/store/postgres-flush.js';
import { openSqliteStore, WRITER_DEPTH } from '../src/store/sqlite.js';
import { ChainLog, type Flush, type FlushOp } from '../src/store/flush.js';
import { BACKSTOP_PAGES } from '../src/store/sqlite-checkpoint.js';
import type { FleetStore, HostChange, HostPut, NewEvent } from '../src/store/types.js';
import { type PgServer, startPostgres } from './support/postgres.js';

const G = 1024 ** 3;
const topo = syntheticTopology({ source: 'contract-2n', packages: 2, nodesPerPackage: 1, coresPerNode: 4, threadsPerCore: 2, memoryPerNode: 32 * G });
const ev = (kind: NewEvent['kind'], host: string | null, vm: string | null, at = 1): NewEvent => ({ at, kind, host, vm, instance: 'test', data: { n: 1 } });

function put(name: string, state: HostState, expectedGeneration: number | null, topologyChanged = true, now = 1): HostPut {
  return {
    name,
    source: state.topology.source,
    topology: JSON.stringify(state.topology),
    reserve: JSON.stringify(state.reserve),
    stats: hostStats(state),
    expectedGeneration,
    topologyChanged,
    now,
    events: [ev('host-register', name, null, now)],
  };
}

/** Places `spec` on `state`, returning the new state and the change to write. */
function placeOn(host: string, generation: number, state: HostState, spec: string, claimUntil?: number) {
  const req = parseVmSpec(spec);
  const r = place(req, state);
  if (!r.ok) throw new Error(`does not fit: ${spec}`);
  const after = claimUntil === undefined ? commitPlacement(state, r.placement, req) : claimPlacement(state, r.placement, req, claimUntil);
  return { after, change: hostChange(host, generation, state, after, 10, new Map([[req.name, r.placement]]), [ev(claimUntil ? 'claim' : 'place', host, req.name)]) };
}

interface Backend {
  name: string;
  open: () => Promise<FleetStore>;
  /** Reopens the same database (migrations must not run twice). */
  reopen: () => Promise<FleetStore>;
}

let pg: PgServer | null = null;
let dir = '';
const backends: Backend[] = [];
let pgCount = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'numaplan-store-'));
  pg = await startPostgres();
}, 120_000);

afterAll(() => {
  pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let sqliteCount = 0;
backends.push({
  name: 'sqlite',
  open: () => openSqliteStore(join(dir, `s${++sqliteCount}.db`)),
  reopen: () => openSqliteStore(join(dir, `s${sqliteCount}.db`)),
});
let pgUrl = '';
backends.push({
  name: 'postgres',
  open: async () => {
    if (!pg) throw new Error('no PostgreSQL');
    pgUrl = await pg.createDatabase(`contract${++pgCount}`);
    return openPostgresStore(pgUrl);
  },
  reopen: () => openPostgresStore(pgUrl),
});

describe.each(backends)('store contract: $name', (backend) => {
  const skip = (): boolean => backend.name === 'postgres' && pg === null;

  it('applies the versioned migrations once', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    expect(await s.migrations()).toEqual(['0001_fleet', '0002_displaced', '0003_plans', '0004_unread_indexes']);
    await s.close();
    const again = await backend.reopen();
    expect(await again.migrations()).toEqual(['0001_fleet', '0002_displaced', '0003_plans', '0004_unread_indexes']);
    await again.close();
  });

  it('registers hosts with a generation; stale or duplicate writes conflict', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    const st = createHostState(topo);
    expect(await s.putHost(put('h1', st, null))).toEqual({ ok: true, generation: 1 });
    expect(await s.putHost(put('h1', st, null))).toEqual({ ok: false, why: 'conflict' });
    expect(await s.putHost(put('h1', st, 1, false, 5))).toEqual({ ok: true, generation: 2 });
    expect(await s.putHost(put('h1', st, 1))).toEqual({ ok: false, why: 'conflict' });
    const row = await s.hostRow('h1');
    expect(row).toMatchObject({ name: 'h1', generation: 2, topoVersion: 1, nodes: 2, totalCpus: 16, vms: 0, createdAt: 1, updatedAt: 5 });
    expect(await s.putHost(put('h1', st, 2, true))).toEqual({ ok: true, generation: 3 });
    expect((await s.hostRow('h1'))?.topoVersion).toBe(2);
    const doc = await s.hostDocument('h1');
    expect(JSON.parse(doc?.topology ?? '{}').source).toBe('contract-2n');
    expect(await s.hostRow('nope')).toBeNull();
    expect(await s.hostDocument('nope')).toBeNull();
    await s.close();
  });

  it('records VMs conditionally on the generation; names are unique in the fleet', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    const st = createHostState(topo);
    await s.putHost(put('a', st, null));
    await s.putHost(put('b', st, null));
    const one = placeOn('a', 1, st, 'name=vm1,vcpus=2,memory=4G');
    expect(await s.applyChange(one.change)).toEqual({ ok: true, generation: 2 });
    // Same generation again: conflict, nothing written.
    const stale = placeOn('a', 1, st, 'name=vm2,vcpus=2,memory=4G');
    expect(await s.applyChange(stale.change)).toEqual({ ok: false, why: 'conflict' });
    expect(await s.vm('vm2')).toBeNull();
    // vm1 on host b: the name is taken fleet-wide, and b's generation is untouched.
    const dup = placeOn('b', 1, st, 'name=vm1,vcpus=2,memory=4G');
    expect(await s.applyChange(dup.change)).toEqual({ ok: false, why: 'name-taken' });
    expect((await s.hostRow('b'))?.generation).toBe(1);
    const rec = await s.vm('vm1');
    expect(rec).toMatchObject({ name: 'vm1', host: 'a', status: 'committed', expiresAt: null });
    expect(rec?.allocation.cpus).toEqual(one.after.allocations[0]?.cpus);
    expect((rec?.placement as { explanation?: unknown }).explanation).toBeDefined();
    expect((await s.hostRow('a'))?.vms).toBe(1);
    expect((await s.hostRow('a'))?.freeCpus).toBe(hostStats(one.after).freeCpus);
    // Release: remove.
    const released = hostChange('a', 2, one.after, { ...one.after, allocations: [] }, 20, new Map(), [ev('release', 'a', 'vm1')]);
    expect(await s.applyChange(released)).toEqual({ ok: true, generation: 3 });
    expect(await s.vm('vm1')).toBeNull();
    expect(await s.vmsOf('a')).toEqual([]);
    await s.close();
  });

  it('keeps claims with an expiry, commits them, finds lapsed ones', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    const st = createHostState(topo);
    await s.putHost(put('c', st, null));
    const c1 = placeOn('c', 1, st, 'name=c1,vcpus=2,memory=2G', 1000);
    await s.applyChange(c1.change);
    const c2 = placeOn('c', 2, c1.after, 'name=c2,vcpus=2,memory=2G', 5000);
    await s.applyChange(c2.change);
    expect((await s.totals(500)).vms.claimed).toBe(2);
    expect((await s.totals(1000)).vms.claimed).toBe(1);
    expect((await s.vm('c1'))?.expiresAt).toBe(1000);
    const committed = { ...c2.after, allocations: c2.after.allocations.map((a) => (a.name === 'c2' ? { ...a, status: 'committed' as const, expiresAt: null } : a)) };
    expect((await s.applyChange(hostChange('c', 3, c2.after, committed, 30, new Map(), [ev('commit', 'c', 'c2')]))).ok).toBe(true);
    expect(await s.vm('c2')).toMatchObject({ status: 'committed', expiresAt: null });
    expect((await s.totals(500)).vms.claimed).toBe(1);
    const t = await s.totals(2000);
    expect(t).toMatchObject({ hosts: 1, nodes: 2, vms: { committed: 1, claimed: 0 } });
    await s.close();
  });

  it('lists hosts and VMs by name', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    const st = createHostState(topo);
    for (const n of ['h3', 'h1', 'h2']) await s.putHost(put(n, st, null));
    const fill = placeOn('h2', 1, st, 'name=big,vcpus=6,memory=8G');
    await s.applyChange(fill.change);
    expect((await s.listHosts({ limit: 10 })).map((h) => h.name)).toEqual(['h1', 'h2', 'h3']);
    expect((await s.listHosts({ after: 'h1', limit: 1 })).map((h) => h.name)).toEqual(['h2']);
    expect((await s.listVms({ limit: 10 })).map((v) => v.name)).toEqual(['big']);
    expect(await s.listVms({ host: 'h1', limit: 10 })).toEqual([]);
    // Read back several at once (what a service instance refreshes): those that exist, their VMs by host then name.
    const second = placeOn('h3', 1, st, 'name=also,vcpus=2,memory=2G');
    await s.applyChange(second.change);
    const rows = await s.hostRows(['h3', 'nope', 'h2']);
    expect(rows.map((r) => r.name).sort()).toEqual(['h2', 'h3']);
    expect(rows.find((r) => r.name === 'h2')).toEqual(await s.hostRow('h2'));
    const vms = await s.allocationsOf(['h3', 'h1', 'h2']);
    expect(vms.map((v) => [v.host, v.name])).toEqual([
      ['h2', 'big'],
      ['h3', 'also'],
    ]);
    expect(vms[0]?.allocation.cpus).toEqual(fill.after.allocations[0]?.cpus);
    expect(await s.allocationsOf([])).toEqual([]);
    await s.close();
  });

  it('appends events in order and pages them', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    await s.appendEvents([ev('refuse', null, 'x', 5), ev('refuse', null, 'y', 6)]);
    await s.appendEvents([]);
    const all = await s.events({ limit: 10 });
    expect(all.map((e) => e.vm)).toEqual(['x', 'y']);
    expect(all[0]).toMatchObject({ kind: 'refuse', instance: 'test', data: { n: 1 }, at: 5 });
    expect((await s.events({ after: all[0]?.id as number, limit: 10 })).map((e) => e.vm)).toEqual(['y']);
    // The hosts other instances named since an event: each once, the instance's own and host-less events skipped.
    const mine = { at: 7, kind: 'place', host: 'h-mine', vm: 'a', instance: 'me', data: null } as const;
    await s.appendEvents([mine, { ...mine, host: 'h-other', instance: 'other' }, { ...mine, host: 'h-other', instance: 'other' }, { ...mine, host: 'h-third', instance: 'third' }]);
    const last = (await s.events({ limit: 10 })).at(-1)?.id as number;
    const foreign = await s.foreignHosts({ after: all[1]?.id as number, instance: 'me' });
    expect({ last: foreign.last, hosts: [...foreign.hosts].sort() }).toEqual({ last, hosts: ['h-other', 'h-third'] });
    expect(await s.foreignHosts({ after: 0, instance: 'other' }).then((f) => [...f.hosts].sort())).toEqual(['h-mine', 'h-third']);
    expect(await s.foreignHosts({ after: last, instance: 'me' })).toEqual({ last, hosts: [] });
    await s.close();
  });

  it('a staged group commit is visible when it resolves, on disk when its sync does, and a failed one writes nothing', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    // Commits made while an earlier one syncs share the next sync; each resolves after its own data.
    const staged = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        s.stagedBatch(async (b) => {
          await b.appendEvents([ev('refuse', null, `s${i}`, i)]);
          return i;
        }),
      ),
    );
    expect(staged.map((x) => x.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // (PostgreSQL runs them on several connections: their order in the log is theirs.)
    const names = async (st: FleetStore): Promise<string[]> => (await st.events({ limit: 20 })).map((e) => e.vm as string).sort();
    expect(await names(s)).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8']);
    await Promise.all(staged.map((x) => x.durable));
    await expect(
      s.stagedBatch(async (b) => {
        await b.appendEvents([ev('refuse', null, 'lost', 9)]);
        throw new Error('body failed');
      }),
    ).rejects.toThrow('body failed');
    // The same transactions from a second connection, and the store still writes synchronously.
    const other = await backend.reopen();
    expect(await names(other)).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8']);
    await s.appendEvents([ev('refuse', null, 'after', 10)]);
    expect((await other.events({ after: 0, limit: 20 })).at(-1)?.vm).toBe('after');
    await other.close();
    await s.close();
  });

  it('a group commit (commitFlush) writes the hosts whose generation held, reports the others and taken names, and a failed one writes nothing', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    const st = createHostState(topo);
    await s.putHost(put('a', st, null));
    await s.putHost(put('b', st, null));
    /** One request's writes, as the service's mirror queues them. */
    const op = (c: HostChange): FlushOp => ({ added: c.added, updated: c.updated, removed: c.removed, events: c.events });
    const flush = (ops: [string, number, HostChange][], hostless: FlushOp[] = []): Flush => ({
      byHost: new Map(ops.map(([h, , c]) => [h, [op(c)]])),
      hostless,
      expected: new Map(ops.map(([h, g]) => [h, g])),
      stats: new Map(ops.map(([h, , c]) => [h, c.stats])),
      now: 10,
    });
    const onA = placeOn('a', 1, st, 'name=f1,vcpus=2,memory=4G');
    const onB = placeOn('b', 1, st, 'name=f2,vcpus=2,memory=4G');
    // b at a generation it never had: left out and reported; a written, with a hostless event.
    const first = await s.commitFlush(flush([['a', 1, onA.change], ['b', 7, onB.change]], [{ events: [ev('refuse', null, 'none')] }]));
    await first.durable;
    expect([...first.value.conflicted]).toEqual(['b']);
    expect([...first.value.takenVms]).toEqual([]);
    expect((await s.hostRow('a'))?.generation).toBe(2);
    expect((await s.hostRow('b'))?.generation).toBe(1);
    expect((await s.vm('f1'))?.host).toBe('a');
    expect(await s.vm('f2')).toBeNull();
    expect((await s.events({ limit: 20 })).map((e) => e.vm)).toContain('none');
    // f1 again, on b: the name is taken fleet-wide, b is left out.
    const again = placeOn('b', 1, st, 'name=f1,vcpus=2,memory=4G');
    const second = await s.commitFlush(flush([['b', 1, again.change]]));
    expect([...second.value.takenVms]).toEqual(['f1']);
    expect([...second.value.conflicted]).toEqual(['b']);
    // One name added on two hosts in one group commit: the transaction fails whole.
    const dupA = placeOn('a', 2, onA.after, 'name=twice,vcpus=1,memory=1G');
    const dupB = placeOn('b', 1, st, 'name=twice,vcpus=1,memory=1G');
    await expect(s.commitFlush(flush([['a', 2, dupA.change], ['b', 1, dupB.change]]))).rejects.toThrow();
    expect(await s.vm('twice')).toBeNull();
    expect((await s.hostRow('a'))?.generation).toBe(2);
    expect((await s.hostRow('b'))?.generation).toBe(1);
    // The store goes on writing afterwards.
    const later = await s.commitFlush(flush([['b', 1, onB.change]]));
    expect([...later.value.conflicted]).toEqual([]);
    expect((await s.vm('f2'))?.host).toBe('b');
    await s.close();
  });

  it('a chained host is written only if the commit before it wrote it, even at the generation it expects; elsewhere it conflicts', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    const st = createHostState(topo);
    await s.putHost(put('a', st, null));
    await s.putHost(put('b', st, null));
    const flush = (ops: [string, number, HostChange][], chained: string[] = []): Flush => ({
      byHost: new Map(ops.map(([h, , c]) => [h, [{ added: c.added, events: c.events }]])),
      hostless: [],
      expected: new Map(ops.map(([h, g]) => [h, g])),
      stats: new Map(ops.map(([h, , c]) => [h, c.stats])),
      now: 10,
      ...(chained.length > 0 ? { chained } : {}),
    });
    const p1 = placeOn('a', 1, st, 'name=p1,vcpus=1,memory=1G');
    const c1 = placeOn('a', 2, p1.after, 'name=c1,vcpus=1,memory=1G');
    // Sent together, as the service's mirror does while p1's commit is in flight: c1 expects the
    // generation p1's commit leaves.
    const [first, second] = await Promise.all([s.commitFlush(flush([['a', 1, p1.change]])), s.commitFlush(flush([['a', 2, c1.change]], ['a']))]);
    expect([...first.value.conflicted]).toEqual([]);
    // SQLite's writer thread checks chains; PostgreSQL's sessions cannot (nothing orders them).
    expect(s.chainedCommits).toBe(backend.name === 'sqlite');
    if (s.chainedCommits) {
      expect([...second.value.conflicted]).toEqual([]);
      expect((await s.vm('c1'))?.host).toBe('a');
      expect((await s.hostRow('a'))?.generation).toBe(3);
    } else {
      // No writer here checks chains: the chained host is left out (the service reads it back).
      expect([...second.value.conflicted]).toEqual(['a']);
      expect(await s.vm('c1')).toBeNull();
      expect((await s.hostRow('a'))?.generation).toBe(2);
    }
    // Another instance moves a; the next commit on a conflicts, and the one chained on it would
    // find a at exactly the generation it expects: it must be left out all the same (its ops were
    // decided on a ledger holding the first one's), while b, not chained, is written.
    const g = (await s.hostRow('a'))?.generation as number;
    expect((await s.putHost(put('a', st, g, false))).ok).toBe(true);
    const p2 = placeOn('a', g, st, 'name=p2,vcpus=1,memory=1G');
    const c2 = placeOn('a', g + 1, p2.after, 'name=c2,vcpus=1,memory=1G');
    const onB = placeOn('b', 1, st, 'name=b2,vcpus=1,memory=1G');
    const [third, fourth] = await Promise.all([s.commitFlush(flush([['a', g, p2.change]])), s.commitFlush(flush([['a', g + 1, c2.change], ['b', 1, onB.change]], ['a']))]);
    expect([...third.value.conflicted]).toEqual(['a']);
    expect([...fourth.value.conflicted]).toEqual(['a']);
    expect(await s.vm('p2')).toBeNull();
    expect(await s.vm('c2')).toBeNull();
    expect((await s.vm('b2'))?.host).toBe('b');
    expect((await s.hostRow('a'))?.generation).toBe(g + 1);
    await s.close();
  });

  it('removes only empty hosts', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    const st = createHostState(topo);
    await s.putHost(put('r', st, null));
    const one = placeOn('r', 1, st, 'name=keep,vcpus=1,memory=1G');
    await s.applyChange(one.change);
    expect(await s.removeHost('r', 2, 1, [])).toEqual({ ok: false, why: 'not-empty' });
    await s.applyChange(hostChange('r', 2, one.after, st, 2, new Map(), []));
    expect(await s.removeHost('r', 2, 1, [])).toEqual({ ok: false, why: 'conflict' });
    expect((await s.removeHost('r', 3, 1, [ev('host-remove', 'r', null)])).ok).toBe(true);
    expect(await s.hostRow('r')).toBeNull();
    await s.close();
  });

  it('lets exactly one of many concurrent writers at one generation win', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    const other = await backend.reopen();
    const st = createHostState(topo);
    await s.putHost(put('race', st, null));
    const changes = Array.from({ length: 12 }, (_, i) => placeOn('race', 1, st, `name=r${i},vcpus=2,memory=1G`).change);
    const outs = await Promise.all(changes.map((c, i) => (i % 2 === 0 ? s : other).applyChange(c)));
    expect(outs.filter((o) => o.ok)).toHaveLength(1);
    expect(outs.filter((o) => !o.ok).every((o) => !o.ok && o.why === 'conflict')).toBe(true);
    expect(await s.vmsOf('race')).toHaveLength(1);
    const report = await checkStore(s, 0);
    expect(report.problems).toEqual([]);
    await other.close();
    await s.close();
  });

  it('the invariant checker passes real placements and catches double allocation and lost acknowledgements', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    let st = createHostState(topo);
    await s.putHost(put('inv', st, null));
    let gen = 1;
    const acks = [];
    for (let i = 0; i < 4; i++) {
      const p = placeOn('inv', gen, st, `name=ok${i},vcpus=2,memory=2G`);
      const out = await s.applyChange(p.change);
      if (!out.ok) throw new Error('write failed');
      gen = out.generation;
      st = p.after;
      const a = st.allocations.find((x) => x.name === `ok${i}`);
      acks.push({ name: `ok${i}`, host: 'inv', cpus: a?.cpus ?? [] });
    }
    expect(await checkStore(s, 0, acks)).toMatchObject({ ok: true, hosts: 1, vms: 4, problems: [] });
    // Corrupt: a second VM with ok0's CPUs, written bypassing the engine.
    const victim = st.allocations[0];
    if (!victim) throw new Error('no allocation');
    const evil = { ...victim, name: 'evil' };
    const corrupted = { ...st, allocations: [...st.allocations, evil] };
    await s.applyChange(hostChange('inv', gen, st, corrupted, 50, new Map([['evil', null]]), []));
    const bad = await checkStore(s, 0, [...acks, { name: 'ghost', host: 'inv', cpus: [1] }]);
    expect(bad.ok).toBe(false);
    expect(bad.problems.some((p) => p.includes(`CPU ${victim.cpus[0]} is held by both`) && p.includes('evil'))).toBe(true);
    expect(bad.problems.some((p) => p.includes('ghost') && p.includes('missing'))).toBe(true);
    await s.close();
  });

  it('keeps plans: stored at version 1, listed newest first, changed with their host only at the version read', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    let st = createHostState(topo);
    await s.putHost(put('ph', st, null));
    const progress = { steps: [], refused: null, cancelledAt: null };
    await s.insertPlan({ id: 'p000000000001', host: 'ph', status: 'proposed', nextStep: 1, document: { schema: 'numaplan.plan/v1', moves: [] }, progress, createdAt: 10 });
    await s.insertPlan({ id: 'p000000000002', host: 'other', status: 'proposed', nextStep: 1, document: {}, progress, createdAt: 20 });
    await expect(s.insertPlan({ id: 'p000000000001', host: 'ph', status: 'proposed', nextStep: 1, document: {}, progress, createdAt: 30 })).rejects.toThrow(/p000000000001/);
    expect(await s.plan('p000000000001')).toEqual({
      id: 'p000000000001', host: 'ph', status: 'proposed', version: 1, nextStep: 1, document: { schema: 'numaplan.plan/v1', moves: [] }, progress, createdAt: 10, updatedAt: 10,
    });
    expect(await s.plan('p00000000000f')).toBeNull();
    expect((await s.listPlans({ limit: 10 })).map((p) => p.id)).toEqual(['p000000000002', 'p000000000001']);
    expect((await s.listPlans({ host: 'ph', limit: 10 })).map((p) => p.id)).toEqual(['p000000000001']);
    // A step: the host's change and the plan's, in one group commit, the plan's version checked first.
    const p = placeOn('ph', 1, st, 'name=pv1,vcpus=2,memory=2G');
    const stepped = { id: 'p000000000001', expectedVersion: 1, status: 'applying' as const, nextStep: 2, progress: { ...progress, steps: [{ step: 1, appliedAt: 40, instance: 'i', hold: null, doneAt: null }] } };
    const staged = await s.stagedBatch(async (b) => {
      expect(await b.planVersions(['p000000000001', 'p00000000000f'])).toEqual(new Map([['p000000000001', 1]]));
      await b.applyChanges([{ ...p.change, plans: [stepped] }]);
    });
    await staged.durable;
    st = p.after;
    expect(await s.plan('p000000000001')).toMatchObject({ status: 'applying', version: 2, nextStep: 2, progress: stepped.progress, updatedAt: p.change.now });
    // The single-change path writes plans too, and refuses a stale version (nothing written).
    const q = placeOn('ph', 2, st, 'name=pv2,vcpus=2,memory=2G');
    expect(await s.applyChange({ ...q.change, plans: [{ ...stepped, expectedVersion: 1 }] })).toEqual({ ok: false, why: 'conflict' });
    expect(await s.vm('pv2')).toBeNull();
    expect(await s.applyChange({ ...q.change, plans: [{ ...stepped, expectedVersion: 2, status: 'applied', nextStep: 3 }] })).toEqual({ ok: true, generation: 3 });
    expect(await s.plan('p000000000001')).toMatchObject({ status: 'applied', version: 3, nextStep: 3 });
    // A VM update may carry a new placement document.
    const moved = q.after.allocations.find((a) => a.name === 'pv2');
    if (!moved) throw new Error('no pv2');
    expect(await s.applyChange({ host: 'ph', expectedGeneration: 3, now: 50, stats: q.change.stats, added: [], updated: [{ name: 'pv2', status: 'committed', expiresAt: null, allocation: moved, placement: { moved: true } }], removed: [], events: [] })).toEqual({ ok: true, generation: 4 });
    expect((await s.vm('pv2'))?.placement).toEqual({ moved: true });
    await s.close();
  });

  it('the invariant checker reads a host as one generation left it while a service changes it', async (ctx) => {
    if (skip()) return ctx.skip();
    const s = await backend.open();
    let st = createHostState(topo);
    await s.putHost(put('live', st, null));
    let gen = 1;
    for (const spec of ['name=l1,vcpus=2,memory=2G', 'name=l2,vcpus=2,memory=2G']) {
      const p = placeOn('live', gen, st, spec);
      const out = await s.applyChange(p.change);
      if (!out.ok) throw new Error('write failed');
      gen = out.generation;
      st = p.after;
    }
    // Between the host listing and the read of its VMs, another writer releases l2 (as a service expiring a claim does).
    const released: HostState = { ...st, allocations: st.allocations.filter((a) => a.name !== 'l2') };
    let raced = false;
    const live = new Proxy(s, {
      get(target, key, receiver) {
        if (key === 'vmsOf') {
          return async (host: string) => {
            if (!raced) {
              raced = true;
              const out = await target.applyChange(hostChange('live', gen, st, released, 60, new Map(), []));
              expect(out.ok).toBe(true);
            }
            return target.vmsOf(host);
          };
        }
        const v = Reflect.get(target, key, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const report = await checkStore(live, 0);
    expect(raced).toBe(true);
    expect(report).toMatchObject({ ok: true, hosts: 1, vms: 1, problems: [] });
    await s.close();
  });
});

describe('durability', () => {
  it("PostgreSQL's sessions commit with synchronous_commit on (disk) or off (commit), as PostgreSQL itself says", async (ctx) => {
    if (!pg) return ctx.skip(); // startPostgres() already failed the run under CI=true
    const url = await pg.createDatabase('durability');
    for (const [durability, setting] of [['disk', 'on'], ['commit', 'off']] as const) {
      const s = await openPostgresStore(url, { durability });
      try {
        expect(s.durability).toBe(durability);
        const r = await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute((s as unknown as { db: Kysely<unknown> }).db);
        expect(r.rows[0]?.synchronous_commit).toBe(setting);
      } finally {
        await s.close();
      }
    }
  });

  it('a SQLite group commit syncs its log inside the commit while syncs are fast, on the thread pool when told to', async () => {
    const resolvedNow = async (p: Promise<void>): Promise<boolean> => {
      let done = false;
      void p.then(() => {
        done = true;
      });
      for (let i = 0; i < 5; i++) await Promise.resolve();
      return done;
    };
    const batch = (s: FleetStore, vm: string) =>
      s.stagedBatch(async (b) => {
        await b.appendEvents([ev('refuse', null, vm)]);
        return vm;
      });
    // A new store has seen no slow sync: its first group commit is synced by the commit itself.
    const fast = await openSqliteStore(join(dir, 'sync-adaptive.db'));
    try {
      const r = await batch(fast, 'inline');
      expect(await resolvedNow(r.durable)).toBe(true);
    } finally {
      await fast.close();
    }
    const saved = process.env.NUMAPLAN_SQLITE_SYNC;
    process.env.NUMAPLAN_SQLITE_SYNC = 'pool';
    const pool = await openSqliteStore(join(dir, 'sync-pool.db')).finally(() => {
      if (saved === undefined) delete process.env.NUMAPLAN_SQLITE_SYNC;
      else process.env.NUMAPLAN_SQLITE_SYNC = saved;
    });
    try {
      const r = await batch(pool, 'pooled');
      // Committed and visible, not yet synced: the fdatasync returns on a later turn of the event loop.
      expect(await resolvedNow(r.durable)).toBe(false);
      expect((await pool.events({ limit: 10 })).map((e) => e.vm)).toEqual(['pooled']);
      await r.durable;
    } finally {
      await pool.close();
    }
  });

  it("a SQLite group commit waits out another connection's write lock, then writes", async () => {
    const file = join(dir, 'group-commit-busy.db');
    const s = await openSqliteStore(file);
    const other = new Database(file);
    try {
      other.pragma('busy_timeout = 0');
      other.prepare('begin immediate').run();
      let settled = false;
      const pending = s
        .stagedBatch(async (b) => {
          await b.appendEvents([ev('refuse', null, 'waited')]);
          return 'written';
        })
        .finally(() => {
          settled = true;
        });
      // The lock is held across several of the store's busy retries (each SQLite's own wait of BUSY_WAIT_MS).
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      other.prepare('commit').run();
      const done = await pending;
      expect(done.value).toBe('written');
      await done.durable;
      expect((await s.events({ limit: 10 })).map((e) => e.vm)).toEqual(['waited']);
    } finally {
      other.close();
      await s.close();
    }
  });

  it("a SQLite group commit (commitFlush) is written by the writer thread's connection, and waits out another connection's write lock", async () => {
    const file = join(dir, 'writer-busy.db');
    const s = await openSqliteStore(file);
    const other = new Database(file);
    try {
      expect(s.commitDepth).toBe(WRITER_DEPTH);
      const flush = (vm: string): Flush => ({ byHost: new Map(), hostless: [{ events: [ev('refuse', null, vm)] }], expected: new Map(), stats: new Map(), now: 1 });
      await (await s.commitFlush(flush('first'))).durable;
      other.pragma('busy_timeout = 0');
      other.prepare('begin immediate').run();
      let settled = false;
      const pending = s.commitFlush(flush('waited')).finally(() => {
        settled = true;
      });
      // The writer thread's connection finds the lock taken (SQLite's own wait of BUSY_WAIT_MS, then
      // the store's retries): nothing is written, nothing fails, while the lock is held.
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      other.prepare('commit').run();
      await (await pending).durable;
      expect((await s.events({ limit: 10 })).map((e) => e.vm)).toEqual(['first', 'waited']);
      // Two group commits at once (the service sends the next while one is written): both land.
      const both = await Promise.all([s.commitFlush(flush('x')), s.commitFlush(flush('y'))]);
      await Promise.all(both.map((b) => b.durable));
      expect((await s.events({ limit: 10 })).map((e) => e.vm)).toEqual(['first', 'waited', 'x', 'y']);
      // All of it through the writer thread (a failed one would have left the store at depth 1).
      expect(s.commitDepth).toBe(WRITER_DEPTH);
    } finally {
      other.close();
      await s.close();
    }
    // Closed: the writer thread's connection too (SQLite removes the log with the last one).
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it("a SQLite file's log is copied back by the store's checkpoint worker, not by the commit that fills it", async () => {
    const file = join(dir, 'checkpoint-worker.db');
    const s = await openSqliteStore(file);
    try {
      // The store's own connection checkpoints only as a backstop, far past SQLite's default of 1,000 pages.
      const auto = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute((s as unknown as { db: Kysely<unknown> }).db);
      expect(auto.rows[0]?.wal_autocheckpoint).toBe(BACKSTOP_PAGES);
      for (let i = 0; i < 3; i++) {
        const staged = await s.stagedBatch(async (b) => {
          await b.appendEvents([ev('refuse', null, `c${i}`)]);
          return i;
        });
        await staged.durable;
      }
      // The WAL-index header (sqlite.org/walformat.html, native byte order): mxFrame, the log's last
      // valid frame, at byte 16; nBackfill, the frames copied into the database, at byte 96.
      const shm = (): { mxFrame: number; nBackfill: number } => {
        const b = readFileSync(`${file}-shm`);
        const le = endianness() === 'LE';
        return { mxFrame: le ? b.readUInt32LE(16) : b.readUInt32BE(16), nBackfill: le ? b.readUInt32LE(96) : b.readUInt32BE(96) };
      };
      expect(shm().mxFrame).toBeGreaterThan(0);
      // Nobody else checkpoints this file: the worker copies every frame shortly after the writes
      // (waited for until it has, however loaded the machine: the bound only stops a broken worker).
      const deadline = Date.now() + 120_000;
      while (shm().nBackfill < shm().mxFrame && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(shm().nBackfill).toBe(shm().mxFrame);
      expect((await s.events({ limit: 10 })).map((e) => e.vm)).toEqual(['c0', 'c1', 'c2']);
    } finally {
      await s.close();
    }
    // Closed with its worker: the last connection's close copied the log back and removed it.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const again = await openSqliteStore(file);
    try {
      expect((await again.events({ limit: 10 })).map((e) => e.vm)).toEqual(['c0', 'c1', 'c2']);
    } finally {
      await again.close();
    }
  }, 180_000);

  it('a SQLite store in either durability writes a group commit and reports its durability', async () => {
    for (const durability of ['disk', 'commit'] as const) {
      const s = await openSqliteStore(join(dir, `durability-${durability}.db`), { durability });
      try {
        expect(s.durability).toBe(durability);
        const staged = await s.stagedBatch(async (b) => {
          await b.appendEvents([{ at: 1, kind: 'place', host: null, vm: 'v', instance: 'i', data: null }]);
          return 'ok';
        });
        expect(staged.value).toBe('ok');
        await staged.durable;
        expect((await s.events({ limit: 10 })).map((e) => e.vm)).toEqual(['v']);
      } finally {
        await s.close();
      }
    }
  });
});

describe('ChainLog (what a writer that commits in order remembers of its last flushes)', () => {
  const f = (hosts: string[], chained: string[] = [], instance = 'A'): Flush => ({
    byHost: new Map(hosts.map((h) => [h, [{ events: [] }]])),
    hostless: [],
    expected: new Map(hosts.map((h) => [h, 1])),
    stats: new Map(),
    now: 1,
    chained,
    instance,
  });
  it('verifies a chained host only if the last flush that touched it committed it, and forgets after `keep` flushes', () => {
    const log = new ChainLog(3);
    log.record(f(['a', 'b']), { conflicted: new Set(['b']), takenVms: new Set() });
    expect([...log.verified(f(['a', 'b', 'c'], ['a', 'b', 'c']))]).toEqual(['a']);
    // A later flush that failed (rolled back) breaks the chain of every host it touched.
    log.record(f(['a']), null);
    expect([...log.verified(f(['a'], ['a']))]).toEqual([]);
    log.record(f(['a']), { conflicted: new Set(), takenVms: new Set() });
    expect([...log.verified(f(['a'], ['a']))]).toEqual(['a']);
    // Three flushes on other hosts later, a is forgotten: a chained a conflicts.
    for (const h of ['x', 'y', 'z']) log.record(f([h]), { conflicted: new Set(), takenVms: new Set() });
    expect([...log.verified(f(['a', 'z'], ['a', 'z']))]).toEqual(['z']);
  });

  it("follows one instance's chain: another instance's commit in between does not mend it", () => {
    const log = new ChainLog();
    const none = { conflicted: new Set<string>(), takenVms: new Set<string>() };
    // A's commit on h is left out; B then commits h (on its own ledger): A's chained successor,
    // decided on a ledger holding A's first ops, conflicts.
    log.record(f(['h'], [], 'A'), { conflicted: new Set(['h']), takenVms: new Set() });
    log.record(f(['h'], [], 'B'), none);
    expect([...log.verified(f(['h'], ['h'], 'A'))]).toEqual([]);
    expect([...log.verified(f(['h'], ['h'], 'B'))]).toEqual(['h']);
    // And the other way: A committed h, B's commit on h was left out: A's chain holds.
    log.record(f(['h'], [], 'A'), none);
    log.record(f(['h'], [], 'B'), { conflicted: new Set(['h']), takenVms: new Set() });
    expect([...log.verified(f(['h'], ['h'], 'A'))]).toEqual(['h']);
  });
});

describe('PostgreSQL group commit in one statement', () => {
  /** A flush of placements on a and b (and an event with no host), as the service's mirror sends it. */
  function placements(st: HostState, names: [string, string], gens: [number, number]): Flush {
    const onA = placeOn('a', gens[0], st, `name=${names[0]},vcpus=2,memory=4G`);
    const onB = placeOn('b', gens[1], st, `name=${names[1]},vcpus=1,memory=2G`, 99);
    const op = (c: HostChange): FlushOp => ({ added: c.added, events: c.events });
    return {
      byHost: new Map([['a', [op(onA.change)]], ['b', [op(onB.change)]]]),
      hostless: [{ events: [ev('refuse', null, 'none', 3)] }],
      expected: new Map([['a', gens[0]], ['b', gens[1]]]),
      stats: new Map([['a', onA.change.stats], ['b', onB.change.stats]]),
      now: 10,
    };
  }
  const rowsOf = async (s: FleetStore) => {
    const db = (s as unknown as { db: Kysely<unknown> }).db;
    const q = async (text: string) => (await sql.raw<Record<string, unknown>>(text).execute(db)).rows;
    return {
      hosts: await q('select * from hosts order by name'),
      vms: await q('select * from vms order by name'),
      events: await q('select at, kind, host, vm, instance, data from events order by id'),
    };
  };

  it('writes what the shared transaction writes, flush by flush: placements, hosts whose generation moved, names taken', async (ctx) => {
    if (!pg) return ctx.skip(); // startPostgres() already failed the run under CI=true
    const st = createHostState(topo);
    const stores: FleetStore[] = [];
    const before = process.env.NUMAPLAN_PG_FLUSH;
    try {
      for (const mode of ['statement', 'transaction']) {
        process.env.NUMAPLAN_PG_FLUSH = mode;
        const s = await openPostgresStore(await pg.createDatabase(`flush_${mode}`));
        stores.push(s);
        await s.putHost(put('a', st, null));
        await s.putHost(put('b', st, null));
      }
      const [one, shared] = stores as [FleetStore, FleetStore];
      // Each flush on both stores: the same outcome and the same rows after it.
      const steps: [string, string, number, number][] = [
        ['p1', 'p2', 1, 1], // both hosts written
        ['q1', 'q2', 2, 7], // b moved: a and the event with no host written
        ['q3', 'q4', 9, 9], // both moved: the event alone
        ['r1', 'p1', 3, 2], // p1 taken (on b): b left out, the name reported, a written
      ];
      for (const [x, y, ga, gb] of steps) {
        const outcomes = [];
        for (const s of stores) {
          const r = await s.commitFlush(placements(st, [x, y], [ga, gb]));
          outcomes.push({ conflicted: [...r.value.conflicted].sort(), taken: [...r.value.takenVms].sort() });
        }
        expect(outcomes[0], `${x} ${y}`).toEqual(outcomes[1]);
        expect(await rowsOf(one), `${x} ${y}`).toEqual(await rowsOf(shared));
      }
      const rows = await rowsOf(one);
      expect(rows.vms.map((v) => [v.name, v.host, v.status, v.expires_at])).toEqual([
        ['p1', 'a', 'committed', null],
        ['p2', 'b', 'claimed', 99],
        ['q1', 'a', 'committed', null],
        ['r1', 'a', 'committed', null],
      ]);
      expect(rows.hosts.map((h) => h.generation)).toEqual([4, 2]);
      expect(rows.events.filter((e) => e.kind === 'refuse').length).toBe(4);

      process.env.NUMAPLAN_PG_FLUSH = 'fast';
      await expect(openPostgresStore(await pg.createDatabase('flush_bad_mode'))).rejects.toThrow('NUMAPLAN_PG_FLUSH: expected statement or transaction, got "fast"');
      delete process.env.NUMAPLAN_PG_FLUSH;

      // The statement itself leaves a flush that is not placements only, and a taken name, to the
      // shared transaction (null), having written nothing.
      const url = await pg.createDatabase('flush_direct');
      const s = await openPostgresStore(url);
      stores.push(s);
      await s.putHost(put('a', st, null));
      await s.putHost(put('b', st, null));
      const pool = new pgDriver.Pool({ connectionString: url });
      try {
        expect(await writeSimpleFlush(pool, placements(st, ['t1', 't2'], [1, 1]))).toEqual({ conflicted: new Set(), takenVms: new Set() });
        const events = (await s.events({ limit: 100 })).length;
        expect(await writeSimpleFlush(pool, placements(st, ['t3', 't1'], [2, 2]))).toBeNull();
        const release = placements(st, ['t4', 't5'], [2, 2]);
        (release.byHost.get('a') as FlushOp[])[0]!.removed = ['t1'];
        expect(await writeSimpleFlush(pool, release)).toBeNull();
        expect(await s.vm('t3')).toBeNull();
        expect(await s.vm('t4')).toBeNull();
        expect((await s.hostRow('a'))?.generation).toBe(2);
        expect((await s.events({ limit: 100 })).length).toBe(events);
      } finally {
        await pool.end();
      }
    } finally {
      if (before === undefined) delete process.env.NUMAPLAN_PG_FLUSH;
      else process.env.NUMAPLAN_PG_FLUSH = before;
      for (const s of stores) await s.close();
    }
  });
});
