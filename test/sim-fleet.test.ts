/**
 * Fleet mode: host spec parsing, indexes, hand-made placements with hand-computed results,
 * conservation (every accepted VM's resources come back on departure), determinism under a seed,
 * and the synthetic generator.
 */
import { describe, expect, it } from 'vitest';
import { getPreset } from '../src/core/topology/presets/index.js';
import { parseTrace } from '../src/core/sim/trace-parser.js';
import { HostSpecError, parseHostSpec } from '../src/core/sim/fleet/host-spec.js';
import { fleetPolicy, fleetPolicyNames } from '../src/core/sim/fleet/policies.js';
import { type FleetGroup, buildFleet, fleetFree, replayFleet, simulateFleet } from '../src/core/sim/fleet/replay.js';
import { allocationOfDecision } from '../src/core/placement/decide.js';
import { toVmRequest } from '../src/core/sim/fleet/request-map.js';
import { DEFAULT_SIZES, forLoad, meanVcpus, syntheticTrace } from '../src/core/sim/synthetic.js';

const GIB = 1024 ** 3;
const group = (name: string, count: number): FleetGroup => ({ spec: `preset:${name}`, count, topology: (getPreset(name) ?? { build: () => { throw new Error(name); } }).build() });

describe('--hosts', () => {
  it('parses groups with counts and sources containing colons', () => {
    expect(parseHostSpec('preset:epyc-2s-nps4*100, preset:broadwell-2s*20,json:a/b.json')).toEqual([
      { source: 'preset:epyc-2s-nps4', count: 100 },
      { source: 'preset:broadwell-2s', count: 20 },
      { source: 'json:a/b.json', count: 1 },
    ]);
  });
  it('rejects bad counts and sources', () => {
    expect(() => parseHostSpec('preset:x*0')).toThrow(HostSpecError);
    expect(() => parseHostSpec('epyc*3')).toThrow(/SOURCE/);
    expect(() => parseHostSpec('')).toThrow(/no host group/);
  });
});

describe('hand-made placements on two broadwell-2s hosts (node 0: 18 free threads after the reserve, node 1: 20)', () => {
  const trace = parseTrace('id,arrival,lifetime,vcpus,memory\na,0,100,10,8G\nb,1,100,10,8G\nc,2,100,30,16G\n', { path: 'hand.csv' });
  const place = (fleet: ReturnType<typeof buildFleet>, name: string, i: number) => {
    const p = fleetPolicy(name);
    if (!p) throw new Error('policy');
    const choice = fleet.decide(toVmRequest(trace.requests[i] as never, i), p.policy, { select: p.select });
    if (!choice.ok) return null;
    fleet.commit(choice.host, allocationOfDecision(choice.decision, 'committed', null));
    return { host: choice.host.id, nodes: choice.decision.nodes, parts: choice.decision.choice.evaluation.parts.map((x) => x.vcpus), latency: choice.key[0] };
  };
  it('host-first-fit: a on host 0 node 0; b does not fit node 0 (8 left) so node 1; c spreads over both nodes of host 1', () => {
    const fleet = buildFleet([group('broadwell-2s', 2)]);
    const a = place(fleet, 'host-first-fit', 0);
    const b = place(fleet, 'host-first-fit', 1);
    const c = place(fleet, 'host-first-fit', 2);
    expect([a?.host, a?.nodes]).toEqual([0, [0]]);
    expect([b?.host, b?.nodes]).toEqual([0, [1]]);
    expect(c?.host).toBe(1);
    expect(c?.nodes).toEqual([0, 1]);
    expect(c?.parts).toEqual([15, 15]);
    // half the vCPUs and half the memory on each node, distance 21: ratio (10 + 21) / 20 = 1.55
    expect(c?.latency).toBeCloseTo(1.55, 6);
  });
  it('host-best-fit: a on the tighter node 0 of host 0', () => {
    const fleet = buildFleet([group('broadwell-2s', 2)]);
    const a = place(fleet, 'host-best-fit', 0);
    expect([a?.host, a?.nodes]).toEqual([0, [0]]);
    expect(fleet.at(0)?.ledger.nodeFree(0).pus).toBe(8);
  });
  it('maps trace requests to engine requests (whole vCPUs, 4K-rounded memory, page size auto)', () => {
    const r = toVmRequest({ id: 'x', arrival: 0, lifetime: 1, vcpus: 1.5, memory: GIB + 1, pageSize: null, devices: [{ class: 'rdma', locality: 'required' }, { class: 'nvme', locality: 'preferred' }], numaPolicy: 'local' }, 7);
    expect(r).toMatchObject({ name: 'vm7', vcpus: 2, memory: GIB + 4096, pageSize: 'auto', numa: 'strict', devices: [{ kind: 'rdma', count: 1, locality: 'required' }] });
  });
});

describe('conservation and determinism', () => {
  const trace = syntheticTrace({ count: 150, seed: 11, rate: forLoad(1.2, 3 * 40 + 384, 600), meanLifetime: 600 });
  const groups = [group('broadwell-2s', 2), group('epyc-2s-nps4', 1)];
  for (const name of ['numaplan', 'interleave', 'first-fit', 'host-first-fit', 'host-best-fit'].filter((n) => fleetPolicyNames().includes(n))) {
    it(`${name}: once every VM has left, the fleet is as free as it started`, () => {
      const fleet = buildFleet(groups);
      const before = fleetFree(fleet);
      const policy = fleetPolicy(name);
      if (!policy) throw new Error(name);
      const run = replayFleet(trace, fleet, policy);
      expect(run.accepted).toBeGreaterThan(0);
      expect(fleetFree(fleet)).toEqual(before);
      for (const h of fleet.hosts()) expect(h.ledger.allocations).toEqual([]);
    });
  }
  it('the same seed gives the same report; another seed another trace', () => {
    const strip = (r: ReturnType<typeof simulateFleet>): unknown => ({ ...r, results: r.results.map((x) => ({ ...x, decisionsPerSecond: 0 })) });
    const a = simulateFleet(trace, groups, { policies: ['numaplan', 'host-best-fit'], seed: 11 });
    const b = simulateFleet(syntheticTrace({ count: 150, seed: 11, rate: forLoad(1.2, 3 * 40 + 384, 600), meanLifetime: 600 }), groups, { policies: ['numaplan', 'host-best-fit'], seed: 11 });
    expect(strip(a)).toEqual(strip(b));
    expect(syntheticTrace({ count: 50, seed: 12 }).requests.map((r) => r.arrival)).not.toEqual(syntheticTrace({ count: 50, seed: 11 }).requests.map((r) => r.arrival));
  });
});

describe('synthetic generator', () => {
  it('Poisson arrivals at the given rate, sizes from the mix, lifetimes with the given mean', () => {
    const t = syntheticTrace({ count: 20000, seed: 3, rate: 2, meanLifetime: 100 });
    const last = t.requests[t.requests.length - 1]?.arrival ?? 0;
    expect(20000 / last).toBeGreaterThan(1.9);
    expect(20000 / last).toBeLessThan(2.1);
    const lt = t.requests.reduce((s, r) => s + (r.lifetime ?? 0), 0) / 20000;
    expect(lt).toBeGreaterThan(95);
    expect(lt).toBeLessThan(105);
    const v = t.requests.reduce((s, r) => s + r.vcpus, 0) / 20000;
    expect(Math.abs(v - meanVcpus(DEFAULT_SIZES)) / meanVcpus()).toBeLessThan(0.05);
    const ln = syntheticTrace({ count: 20000, seed: 3, meanLifetime: 100, lifetime: 'lognormal' });
    const lnMean = ln.requests.reduce((s, r) => s + (r.lifetime ?? 0), 0) / 20000;
    expect(lnMean).toBeGreaterThan(80);
    expect(lnMean).toBeLessThan(120);
  });
});
