/**
 * The host ledger, kept incrementally, against the capacity view computed from scratch: after any
 * sequence of placements (dedicated and shared vCPUs, held siblings, emulator pCPUs, devices and VFs,
 * every page size), claims, commits, expiries, releases and displacement marks, the ledger's view
 * equals the reference built in one pass over the state's allocations, field for field, and equals
 * a fresh ledger of the same state; its running totals equal the view's sums; and `mayHold` never
 * says no where the engine places the request.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HostCapacity } from '../src/core/placement/capacity.js';
import { HostLedger } from '../src/core/placement/ledger.js';
import { getPolicy } from '../src/core/placement/policies/index.js';
import { parseVmRequest } from '../src/core/placement/request.js';
import { allocationOf, createHostState } from '../src/core/placement/state.js';
import { vcpusOnNodesOf } from '../src/core/placement/policies/baselines/libxl.js';
import { hostArb, requestArb } from './placement-arbitraries.js';
import { referenceCapacity } from './support/capacity-reference.js';
import { runSeed } from './support/seed.js';

/** At most this many rounds of the property, for every kind of change to be exercised at least once. */
const COVERAGE_ROUNDS = 5;

function view(c: HostCapacity): unknown {
  return {
    nodes: c.nodes.map((n) => ({
      id: n.id, kind: n.kind, tier: n.tier, package: n.package, totalPus: n.totalPus, totalCores: n.totalCores, totalMemory: n.totalMemory,
      wholeCores: n.wholeCores, freePus: n.freePus, sharedPus: n.sharedPus, memory: [...n.memory], devices: n.devices.map((d) => d.address),
    })),
    ids: [...c.byId.keys()],
    index: [...c.index],
    unplaced: c.unplacedDevices.map((d) => d.address),
    free: [...c.freeDevices.keys()],
    packageLoad: [...c.packageLoad],
    pageSizes: c.pageSizes,
    owner: [...c.cpuOwner].sort((a, b) => a[0] - b[0]),
  };
}

/** The running totals as the view gives them. */
function totals(c: HostCapacity, pageSizes: readonly number[]): { slots: number; pages: number[]; live: number[] } {
  const nodes = c.nodes.filter((n) => n.totalPus > 0 && n.tier === 'dram');
  const live = nodes.filter((n) => n.freePus.length > 0);
  const sum = (list: typeof nodes, p: number): number => list.reduce((s, n) => s + (n.memory.get(p) ?? 0), 0);
  return { slots: nodes.reduce((s, n) => s + n.freePus.length, 0), pages: pageSizes.map((p) => sum(nodes, p)), live: pageSizes.map((p) => sum(live, p)) };
}

const nonZero = (m: ReadonlyMap<number, number>): [number, number][] => [...m].filter(([, v]) => v !== 0).sort((a, b) => a[0] - b[0]);

describe('host ledger', () => {
  it('equals the capacity view from scratch after any sequence of changes', () => {
    const seen = { placed: 0, shared: 0, claims: 0, expired: 0, released: 0, devices: 0, emulator: 0, held: 0 };
    const op = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('place' as const), request: requestArb, claim: fc.boolean() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('commit' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('displace' as const), pick: fc.nat() }) },
    );
    const property = fc.property(hostArb(8), fc.array(op, { minLength: 1, maxLength: 30 }), (topology, ops) => {
      const ledger = new HostLedger(topology, createHostState(topology).reserve);
      const policy = getPolicy('numaplan');
      ops.forEach((o, i) => {
        const names = ledger.allocations.map((a) => a.name);
        const picked = names.length > 0 && 'pick' in o ? (names[o.pick % names.length] as string) : null;
        if (o.kind === 'place') {
          const req = parseVmRequest({ ...o.request, name: `vm${i}` });
          const r = policy.place(req, ledger.state, { hints: false });
          if (r.ok) {
            ledger.add(allocationOf(r.placement, req, o.claim ? 'claimed' : 'committed', o.claim ? 10 + i * 3 : null));
            seen.placed++;
            if (req.cpuPolicy === 'shared') seen.shared++;
            if (o.claim) seen.claims++;
            if (r.placement.devices.length > 0) seen.devices++;
            if (r.placement.emulatorCpus.length > 0) seen.emulator++;
            if (r.placement.heldCpus.length > 0) seen.held++;
          }
        } else if (o.kind === 'release' && picked) {
          ledger.release(picked);
          seen.released++;
        } else if (o.kind === 'commit' && picked) {
          const a = ledger.get(picked);
          if (a && a.status === 'claimed') ledger.replace({ ...a, status: 'committed', expiresAt: null });
        } else if (o.kind === 'expire') {
          // At the expiry of one of the claims (so that some lapse), or at a time none has reached.
          const claims = ledger.allocations.filter((a) => a.status === 'claimed');
          const at = claims.length > 0 ? ((claims[o.pick % claims.length] as (typeof claims)[number]).expiresAt as number) : o.pick % 10;
          seen.expired += ledger.expire(at).length;
        } else if (o.kind === 'displace' && picked) {
          const a = ledger.get(picked);
          if (a) ledger.replace({ ...a, displaced: { since: i, reasons: [] } });
        }
        const cap = ledger.capacity();
        expect(view(cap)).toEqual(view(referenceCapacity(ledger.state)));
        expect(view(cap)).toEqual(view(HostLedger.of(ledger.state).capacity()));
        expect(nonZero(ledger.vcpusByNode)).toEqual(nonZero(vcpusOnNodesOf(ledger.state)));
        expect({ slots: ledger.freeSlots, pages: Array.from(ledger.pageFree), live: Array.from(ledger.liveFree) }).toEqual(totals(cap, ledger.pageSizes));
      });
    });
    // Rounds of 60 runs until every kind of allocation and change was exercised (the first round
    // almost always suffices), each round's seed derived from the file's, so a replay is exact.
    for (let round = 0; round < COVERAGE_ROUNDS && (round === 0 || Object.values(seen).some((v) => v === 0)); round++) {
      fc.assert(property, { numRuns: 60, seed: (runSeed() + round * 0x9e3779b9) | 0 });
    }
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });

  it('mayHold is a necessary condition: when it says no, the engine refuses', () => {
    let probes = 0;
    fc.assert(
      fc.property(hostArb(8), fc.array(requestArb, { minLength: 1, maxLength: 12 }), (topology, requests) => {
        const ledger = new HostLedger(topology);
        const numaplan = getPolicy('numaplan');
        const interleave = getPolicy('interleave');
        requests.forEach((input, i) => {
          const req = parseVmRequest({ ...input, name: `vm${i}`, cpuPolicy: 'dedicated', smt: 'prefer', emulator: 'share', devices: [] });
          if (!ledger.mayHold(req.vcpus, req.memory, req.pageSize, true)) {
            probes++;
            expect(numaplan.place(req, ledger.state, { hints: false }).ok).toBe(false);
          }
          if (!ledger.mayHold(req.vcpus, req.memory, req.pageSize, false)) expect(interleave.place(req, ledger.state, { hints: false }).ok).toBe(false);
          const r = numaplan.place(req, ledger.state, { hints: false });
          if (r.ok) ledger.add(allocationOf(r.placement, req, 'committed', null));
        });
      }),
      { numRuns: 80 },
    );
    expect(probes).toBeGreaterThan(0);
  });
});
