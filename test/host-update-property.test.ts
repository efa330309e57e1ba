/**
 * No host update can leave an allocation that overfills a node or a pool, or sits on a reserved,
 * offline or missing CPU or device (property): random hosts, random placements, then random host
 * updates (pools and node memory shrunk or grown, CPUs taken offline or out of the cpuset, devices
 * removed, the reserve moved or grown), with or without consent to displace, then more placements;
 * after every step the invariants hold for every VM not marked displaced, nothing else holds what a
 * displaced VM holds, a refused update changes nothing, and no VM placed later sits on a pool or a
 * node's memory that the VMs already there overfill. Through the API (SQLite store) and through the
 * CLI's state file (--reserve-cpus, --reserve-memory, --displace).
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeAllocations } from '../src/core/placement/host-update.js';
import { formatVmSpec, parseVmRequest } from '../src/core/placement/request.js';
import { type Allocation, type HostState, stateFromJson } from '../src/core/placement/state.js';
import { topologyToJson } from '../src/core/topology/json.js';
import type { Topology } from '../src/core/topology/model.js';
import { checkStore } from '../src/store/invariants.js';
import { useService } from './support/service-app.js';
import { hostArb, requestArb } from './placement-arbitraries.js';
import { runCli } from './support/cli.js';

const TOKEN = 'property-token-0123456';
const G = 1024 ** 3;
const svc = useService('update-prop', TOKEN);
const { call } = svc;

/** A change of the host: what the agent might report next, or an operator's new reserve. */
interface Mutation {
  pool: { node: number; which: number; factor: number } | null;
  memory: { node: number; factor: number } | null;
  offline: number[];
  disallow: number[];
  dropDevice: number | null;
  reserve: { cpus: number[]; memoryGiB: number } | null;
  accept: boolean;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  pool: fc.option(fc.record({ node: fc.nat(), which: fc.nat(), factor: fc.constantFrom(0, 0.1, 0.5, 0.9, 1.5) }), { nil: null }),
  memory: fc.option(fc.record({ node: fc.nat(), factor: fc.constantFrom(0.2, 0.5, 0.8, 1.2) }), { nil: null }),
  offline: fc.array(fc.nat(), { maxLength: 3 }),
  disallow: fc.array(fc.nat(), { maxLength: 2 }),
  dropDevice: fc.option(fc.nat(), { nil: null }),
  reserve: fc.option(fc.record({ cpus: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), memoryGiB: fc.integer({ min: 0, max: 40 }) }), { nil: null }),
  accept: fc.boolean(),
});

type Doc = {
  nodes: { id: number; memory: { total: number; free: number }; hugePages: { pageSize: number; total: number; free: number }[] }[];
  pus: { os: number; online: boolean; allowed: boolean }[];
  pciDevices: { address: string }[];
};

/** The host document after a mutation (may be impossible: the service must then say 400). */
function mutate(topo: Topology, m: Mutation): Doc {
  const d = JSON.parse(topologyToJson(topo)) as Doc;
  const pick = <T>(list: T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length]);
  if (m.pool) {
    const p = pick(pick(d.nodes, m.pool.node)?.hugePages ?? [], m.pool.which);
    if (p) {
      p.total = Math.floor(p.total * m.pool.factor);
      p.free = Math.min(p.free, p.total);
    }
  }
  if (m.memory) {
    const n = pick(d.nodes, m.memory.node);
    if (n) {
      const pools = n.hugePages.reduce((s, p) => s + p.pageSize * p.total, 0);
      n.memory.total = Math.max(pools, Math.floor((n.memory.total * m.memory.factor) / 4096) * 4096);
      n.memory.free = Math.min(n.memory.free, n.memory.total);
    }
  }
  for (const i of m.offline) {
    const p = pick(d.pus, i);
    if (p) p.online = false;
  }
  for (const i of m.disallow) {
    const p = pick(d.pus, i);
    if (p) p.allowed = false;
  }
  if (m.dropDevice !== null && d.pciDevices.length > 0) d.pciDevices.splice(m.dropDevice % d.pciDevices.length, 1);
  return d;
}

/** Bytes per (node, page size) a host can hand out: pools, and regular memory beside pools and reserve. */
function capacities(state: HostState): Map<string, number> {
  const cap = new Map<string, number>();
  const reserve = new Map(state.reserve.memory.map((r) => [r.node, r.bytes]));
  for (const n of state.topology.nodes) {
    let pools = 0;
    for (const p of n.hugePages) {
      pools += p.pageSize * p.total;
      cap.set(`${n.id}/${p.pageSize}`, p.pageSize * p.total);
    }
    cap.set(`${n.id}/4096`, n.memory.total - pools - (reserve.get(n.id) ?? 0));
  }
  return cap;
}

/** What a VM placed just now may not do: use a pool or node memory that the others (displaced ones included) already fill. */
function placedOnOverfill(state: HostState, vm: string): string[] {
  const me = state.allocations.find((a) => a.name === vm) as Allocation;
  const used = new Map<string, number>();
  for (const a of state.allocations) for (const g of a.memory) used.set(`${g.node}/${g.pageSize}`, (used.get(`${g.node}/${g.pageSize}`) ?? 0) + g.bytes);
  const cap = capacities(state);
  return me.memory.filter((g) => g.bytes > 0 && (used.get(`${g.node}/${g.pageSize}`) ?? 0) > (cap.get(`${g.node}/${g.pageSize}`) ?? 0)).map((g) => `${vm} on ${g.node}/${g.pageSize}`);
}

/** Every VM not displaced fits; nothing holds what a displaced VM holds. */
function invariantProblems(state: HostState): string[] {
  const displaced = new Set(state.allocations.filter((a) => a.displaced).map((a) => a.name));
  return judgeAllocations(state.topology, state.reserve, state.allocations)
    .filter((b) => !displaced.has(b.vm))
    .map((b) => `${b.vm}: ${b.resource}: ${b.detail}`);
}

let hostCount = 0;
/** What the updates did, over the run (printed: the property must exercise refusals and displacements). */
const seen = { refused: 0, displaced: 0, impossible: 0, accepted: 0 };

describe('host updates never leave an overcommitted host (property)', () => {
  it('through the API', async () => {
    await fc.assert(
      fc.asyncProperty(
        hostArb(4),
        fc.array(requestArb, { minLength: 1, maxLength: 6 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        fc.array(requestArb, { maxLength: 3 }),
        async (topo, first, mutations, later) => {
          const host = `p${++hostCount}`;
          expect((await call('PUT', `/api/v1/hosts/${host}`, { format: 'json', topology: JSON.parse(topologyToJson(topo)) })).status).toBe(201);
          let n = 0;
          const place = async (req: (typeof first)[number]): Promise<void> => {
            const name = `${host}v${n++}`;
            const r = await call('POST', '/api/v1/vms', { vm: { ...req, name }, host });
            if (r.status !== 201) return;
            const s = await hostState(host);
            expect(placedOnOverfill(s, name)).toEqual([]);
          };
          for (const req of first) await place(req);
          for (const m of mutations) {
            const before = await svc.store.hostRow(host);
            const displacedBefore = (await svc.store.listVms({ host, limit: 1000, displaced: true })).map((v) => v.name);
            const body: Record<string, unknown> = { format: 'json', topology: mutate((await hostState(host)).topology, m) };
            if (m.reserve) body.reserve = { cpus: m.reserve.cpus.map((i) => topo.pus[i % topo.pus.length]?.os ?? 0), memory: m.reserve.memoryGiB * G };
            const r = await call('PUT', `/api/v1/hosts/${host}${m.accept ? '?accept=displace' : ''}`, body);
            expect([200, 400, 409]).toContain(r.status);
            if (r.status === 409) seen.refused++;
            else if (r.status === 400) seen.impossible++;
            else if (r.json.displaced.length > 0) seen.displaced++;
            else seen.accepted++;
            if (r.status !== 200) {
              expect(await svc.store.hostRow(host)).toEqual(before);
              if (r.status === 409) {
                expect(m.accept).toBe(false);
                expect(r.json.vms.length).toBeGreaterThan(0);
                for (const vm of r.json.vms) expect(displacedBefore).not.toContain(vm);
              }
            } else if (!m.accept) expect(r.json.displaced).toEqual([]);
            expect(invariantProblems(await hostState(host))).toEqual([]);
          }
          for (const req of later) await place(req);
          expect((await checkStore(svc.store, Date.now())).problems).toEqual([]);
        },
      ),
      { numRuns: 30 },
    );
    console.log(`API host updates: ${seen.accepted} accepted breaking nothing, ${seen.refused} refused (409), ${seen.displaced} accepted displacing VMs, ${seen.impossible} impossible (400)`);
    expect(seen.refused + seen.displaced).toBeGreaterThan(0);
  }, 300_000);

  it('through the CLI state file (--reserve-cpus, --reserve-memory, --displace)', async () => {
    let k = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('preset:broadwell-2s', 'preset:epyc-2s-nps4', 'preset:xeon-2s-snc2'),
        fc.array(requestArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.record({ cpus: fc.array(fc.integer({ min: 0, max: 383 }), { minLength: 1, maxLength: 4 }), memoryGiB: fc.option(fc.integer({ min: 1, max: 60 }), { nil: null }), displace: fc.boolean() }), { minLength: 1, maxLength: 3 }),
        fc.array(requestArb, { maxLength: 3 }),
        async (host, first, reserves, later) => {
          const file = join(svc.dir, `state-${++k}.json`);
          let n = 0;
          const place = async (req: (typeof first)[number], extra: string[] = []): Promise<void> => {
            const name = `v${n++}`;
            const r = await runCli(['place', '--host', host, '--state', file, ...extra, '--vm', formatVmSpec(parseVmRequest({ ...req, name })), '--json']);
            expect([0, 1]).toContain(r.code);
            if (r.code !== 0) return;
            expect(placedOnOverfill(stateFromJson(readFileSync(file, 'utf8')), name)).toEqual([]);
          };
          for (const req of first) await place(req);
          for (const res of reserves) {
            const before = readFileSync(file, 'utf8');
            const state = stateFromJson(before);
            const cpus = res.cpus.map((i) => state.topology.pus[i % state.topology.pus.length]?.os ?? 0).join(',');
            const args = ['place', '--state', file, '--reserve-cpus', cpus, ...(res.memoryGiB !== null ? ['--reserve-memory', `${res.memoryGiB}G`] : []), ...(res.displace ? ['--displace'] : [])];
            const r = await runCli([...args, '--vm', `name=probe${n++},vcpus=1,memory=1G`, '--json']);
            expect([0, 1]).toContain(r.code);
            const after = readFileSync(file, 'utf8');
            const out = JSON.parse(r.out) as { displaces?: string[] };
            if (out.displaces) {
              // Refused for the VMs it would break: nothing written.
              expect(res.displace).toBe(false);
              expect(after).toBe(before);
            }
            expect(invariantProblems(stateFromJson(after))).toEqual([]);
          }
          for (const req of later) await place(req);
          expect(invariantProblems(stateFromJson(readFileSync(file, 'utf8')))).toEqual([]);
        },
      ),
      { numRuns: 20 },
    );
  }, 300_000);
});

/** A host's state as the store has it (live VMs). */
async function hostState(host: string): Promise<HostState> {
  const doc = await svc.store.hostDocument(host);
  if (!doc) throw new Error(`no host ${host}`);
  const vms = await svc.store.vmsOf(host);
  return { schema: 'numaplan.state/v1', topology: JSON.parse(doc.topology) as Topology, reserve: JSON.parse(doc.reserve), allocations: vms.map((v) => v.allocation) };
}
