/**
 * The kernel's fleet (core/fleet): the indexes, the best-fit scan missing no host that fits, the
 * complete search before a refusal, and decisions that are the policy's own decision on the chosen
 * host (the fleet adds host choice, nothing else).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BucketIndex, FLEET_SCAN_LIMIT, Fleet, MaxTree } from '../src/core/fleet/index.js';
import { allocationOfDecision, decide } from '../src/core/placement/decide.js';
import { HostLedger } from '../src/core/placement/ledger.js';
import { getPolicy } from '../src/core/placement/policies/index.js';
import type { VmRequest } from '../src/core/placement/request.js';
import { allocationOf } from '../src/core/placement/state.js';
import { traceEvents } from '../src/core/sim/events.js';
import { type FleetGroup, buildFleet } from '../src/core/sim/fleet/replay.js';
import { toVmRequest } from '../src/core/sim/fleet/request-map.js';
import { makeRng } from '../src/core/sim/rng.js';
import { forLoad, syntheticTrace } from '../src/core/sim/synthetic.js';
import { CREATE, type Trace, type TraceRequest } from '../src/core/sim/trace.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { runSeed } from './support/seed.js';

const GIB = 1024 ** 3;
const group = (name: string, count: number): FleetGroup => {
  const preset = getPreset(name);
  if (!preset) throw new Error(`no preset ${name}`);
  return { spec: `preset:${name}`, count, topology: preset.build() };
};

describe('indexes', () => {
  it('BucketIndex visits tightest bucket first, insertion order inside, and grows', () => {
    const b = new BucketIndex(2);
    b.set(0, 5);
    b.set(1, 3);
    b.set(2, 5);
    b.set(3, 9);
    b.set(1, 7);
    b.set(40, 6);
    b.remove(2);
    const seen: number[] = [];
    b.scan(4, (h) => (seen.push(h), true));
    expect(seen).toEqual([0, 40, 1, 3]);
  });
  it('MaxTree finds the leftmost host reaching both needs, and grows', () => {
    const t = new MaxTree(2);
    [[1, 9], [4, 1], [4, 8], [9, 9], [0, 0]].forEach(([c, m], h) => t.set(h, c as number, m as number));
    expect(t.leftmost(0, 3, 5)).toBe(2);
    expect(t.leftmost(3, 3, 5)).toBe(3);
    expect(t.leftmost(4, 1, 1)).toBe(-1);
    t.set(20, 5, 5);
    expect(t.leftmost(4, 1, 1)).toBe(20);
    t.set(20, -1, -1);
    expect(t.leftmost(4, 1, 1)).toBe(-1);
  });
});

describe('best-fit scan', () => {
  const groups = [group('broadwell-2s', 6), group('epyc-2s-nps4', 6), group('xeon-2s-snc2', 6)];
  it('visits every host with a node whose free PUs and bytes reach the request', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(1000), fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 96 })), { minLength: 10, maxLength: 60 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 400 })), { minLength: 1, maxLength: 8 }),
        (takes, requests) => {
          const fleet = buildFleet(groups);
          const policy = getPolicy('first-fit');
          takes.forEach(([pick, vcpus, gib], i) => {
            // VMs that lean on memory, so that memory runs out before hardware threads on some nodes.
            const host = fleet.hosts()[pick % fleet.size];
            if (!host) return;
            const req = toVmRequest({ id: `t${i}`, arrival: 0, lifetime: 1, vcpus, memory: gib * GIB, pageSize: 4096, devices: [], numaPolicy: 'local' }, i);
            const d = decide(policy, req, host.ledger);
            if (d.ok) fleet.commit(host, allocationOfDecision(d, 'committed', null));
          });
          for (const [cpu, quarterGib] of requests) {
            const mem = quarterGib * 0.25 * GIB;
            const seen = new Set<number>();
            fleet.fitScan(cpu, mem, (h) => {
              seen.add(h);
              return true;
            });
            for (const host of fleet.hosts()) {
              const l = host.ledger;
              let fits = false;
              for (let i = 0; i < l.nodes.length; i++) {
                const f = l.nodeFree(i);
                if (l.isCounted(i) && f.pus >= cpu && f.bytes >= mem) fits = true;
              }
              if (fits) expect(seen.has(host.id)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('hosts to avoid', () => {
  it('are tried after every other candidate, and still taken when no other host takes the VM', () => {
    const fleet = buildFleet([group('broadwell-2s', 6)]);
    const small = toVmRequest({ id: 'a', arrival: 0, lifetime: null, vcpus: 2, memory: 2 * GIB, pageSize: 4096, devices: [], numaPolicy: 'local' }, 0);
    const policy = getPolicy('numaplan');
    // Fill host 0 a little: best fit ranks it first, unless it is avoided.
    const first = fleet.decide(small, policy);
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    fleet.commit(first.host, allocationOfDecision(first.decision, 'committed', null));
    const next = toVmRequest({ id: 'b', arrival: 0, lifetime: null, vcpus: 2, memory: 2 * GIB, pageSize: 4096, devices: [], numaPolicy: 'local' }, 1);
    const plain = fleet.decide(next, policy);
    expect(plain.ok && plain.host.id).toBe(first.host.id);
    const avoiding = fleet.decide(next, policy, { avoid: (h) => h.id === first.host.id });
    expect(avoiding.ok && avoiding.host.id).not.toBe(first.host.id);
    expect(avoiding.ok).toBe(true);
    // Every host avoided: the VM is still placed (on the best of them).
    const all = fleet.decide(next, policy, { avoid: () => true });
    expect(all.ok && all.host.id).toBe(first.host.id);
  });
});

describe('complete search before a refusal', () => {
  it('places a VM that every best-fit candidate refuses on the host that fits', () => {
    // Broadwell nodes hold 8 GiB of 1 GiB pages: a 9 GiB one-node VM on 1 GiB pages fits none of them,
    // though their nodes have room in bytes of every page size. They are tighter than the EPYC host,
    // so best-fit order tries them first.
    const traps = FLEET_SCAN_LIMIT + 4;
    const fleet = buildFleet([group('broadwell-2s', traps), group('epyc-2s-nps1', 1)]);
    const request = toVmRequest({ id: 'big-pages', arrival: 0, lifetime: null, vcpus: 4, memory: 9 * GIB, pageSize: GIB, devices: [], numaPolicy: 'local' }, 0);
    for (const name of ['numaplan', 'first-fit']) {
      const choice = fleet.decide(request, getPolicy(name));
      expect(choice.ok, name).toBe(true);
      if (!choice.ok) continue;
      expect(choice.host.id).toBe(traps);
      expect(choice.decision.nodes).toHaveLength(1);
      expect(choice.considered).toBeGreaterThan(FLEET_SCAN_LIMIT);
    }
  });

  it('refuses only when no host fits, and every decision is the policy\'s own on the chosen host', () => {
    const groups = [group('broadwell-2s', 3), group('epyc-2s-nps4', 1), group('xeon-2s-snc2', 1)];
    const vcpus = 3 * 40 + 384 + 224;
    const rng = makeRng(runSeed());
    const base = syntheticTrace({ count: 1200, seed: runSeed(), rate: forLoad(1.6, vcpus, 900), meanLifetime: 900 });
    // Page sizes and one-node VMs, so that totals and per-node bytes are often not enough.
    const requests = base.requests.map((r): TraceRequest => {
      const x = rng.next();
      return x < 0.2 ? { ...r, pageSize: GIB, memory: Math.ceil(r.memory / GIB) * GIB, numaPolicy: 'local' } : x < 0.4 ? { ...r, pageSize: 2 * 1024 ** 2 } : r;
    });
    const trace: Trace = { ...base, requests };
    const events = traceEvents(trace);
    for (const name of ['numaplan', 'libxl']) {
      const policy = getPolicy(name);
      const fleet = buildFleet(groups);
      const where: ({ host: ReturnType<Fleet['hosts']>[number]; name: string } | undefined)[] = [];
      let refused = 0;
      let placed = 0;
      for (let t = 0; t < events.kind.length; t++) {
        const id = events.req[t] as number;
        if (events.kind[t] !== CREATE) {
          const w = where[id];
          if (w) fleet.release(w.host, w.name);
          where[id] = undefined;
          continue;
        }
        const req: VmRequest = toVmRequest(requests[id] as TraceRequest, id);
        const choice = fleet.decide(req, policy);
        if (choice.ok) {
          placed++;
          const alloc = allocationOfDecision(choice.decision, 'committed', null);
          // The same placement as the policy's own place() on that host's state.
          const own = policy.place(req, choice.host.ledger.state, { hints: false });
          expect(own.ok).toBe(true);
          if (own.ok) expect(alloc).toEqual(allocationOf(own.placement, req, 'committed', null));
          fleet.commit(choice.host, alloc);
          where[id] = { host: choice.host, name: alloc.name };
          continue;
        }
        refused++;
        for (const host of fleet.hosts()) expect(policy.place(req, host.ledger.state, { hints: false }).ok, `${name}: request ${id} refused but ${host.name} fits`).toBe(false);
      }
      expect(refused).toBeGreaterThan(10);
      expect(placed).toBeGreaterThan(400);
      // Conservation: once every VM has left, every host is as free as a fresh one.
      for (const w of where) if (w) fleet.release(w.host, w.name);
      for (const host of fleet.hosts()) {
        expect(host.ledger.allocations).toEqual([]);
        expect(host.ledger.freeSlots).toBe(new HostLedger(host.ledger.topology).freeSlots);
      }
    }
  });
});
