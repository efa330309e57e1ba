/**
 * Fleet mode's fast path against the reference: the incremental host ledger equals the engine's
 * capacity view built from scratch after any sequence of placements and releases, and a replay with
 * the cheap host judgement (chooser + assignment on the ledger) gives exactly the slow path's
 * results (full `place()` on every candidate host) for every engine policy on small traces.
 */
import { describe, expect, it } from 'vitest';
import { hostCapacity } from '../src/core/placement/capacity.js';
import { getPolicy } from '../src/core/placement/policies/index.js';
import { vcpusOnNodesOf } from '../src/core/placement/policies/baselines/libxl.js';
import { allocationOf } from '../src/core/placement/state.js';
import { HostLedger } from '../src/core/placement/ledger.js';
import { type FleetGroup, FleetState } from '../src/core/sim/fleet/fleet-state.js';
import { fleetPolicy, fleetPolicyNames } from '../src/core/sim/fleet/policies.js';
import { replayFleet } from '../src/core/sim/fleet/replay.js';
import { toVmRequest } from '../src/core/sim/fleet/request-map.js';
import { forLoad, syntheticTrace } from '../src/core/sim/synthetic.js';
import { makeRng } from '../src/core/sim/rng.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import type { HostCapacity } from '../src/core/placement/capacity.js';

const group = (name: string, count: number): FleetGroup => ({ spec: `preset:${name}`, count, topology: (getPreset(name) ?? { build: () => { throw new Error(name); } }).build() });

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

/** The ledger's running totals as the capacity view gives them: free PUs over DRAM nodes with CPUs, free bytes per page size over those that have a free PU. */
function totals(c: HostCapacity, pageSizes: readonly number[]): { slots: number; pages: number[]; live: number[] } {
  const nodes = c.nodes.filter((n) => n.totalPus > 0 && n.tier === 'dram');
  const live = nodes.filter((n) => n.freePus.length > 0);
  const sum = (list: typeof nodes, p: number): number => list.reduce((s, n) => s + (n.memory.get(p) ?? 0), 0);
  return { slots: nodes.reduce((s, n) => s + n.freePus.length, 0), pages: pageSizes.map((p) => sum(nodes, p)), live: pageSizes.map((p) => sum(live, p)) };
}

describe('host ledger', () => {
  for (const preset of ['broadwell-2s', 'epyc-2s-nps4', 'xeon-2s-snc2']) {
    it(`${preset}: equals hostCapacity(state) after random placements and releases`, () => {
      const topology = group(preset, 1).topology;
      const ledger = new HostLedger(topology);
      const rng = makeRng(5);
      const live: string[] = [];
      const policy = getPolicy('numaplan');
      const interleave = getPolicy('interleave');
      const probes: boolean[] = [];
      expect(view(ledger.capacity())).toEqual(view(hostCapacity(ledger.state)));
      for (let i = 0; i < 120; i++) {
        if (live.length > 0 && rng.next() < 0.4) {
          const k = Math.floor(rng.next() * live.length);
          ledger.release(live.splice(k, 1)[0] as string);
        } else {
          const vcpus = 1 + Math.floor(rng.next() * 24);
          const req = toVmRequest({ id: String(i), arrival: i, lifetime: 1, vcpus, memory: vcpus * 2 * 1024 ** 3, pageSize: null, devices: [], numaPolicy: 'auto' }, i);
          const r = policy.place(req, ledger.state, { hints: false });
          if (r.ok) {
            ledger.add(allocationOf(r.placement, req, 'committed', null));
            live.push(req.name);
          }
        }
        expect(view(ledger.capacity())).toEqual(view(hostCapacity(ledger.state)));
        // libxl's per-node vCPU count, kept incrementally, equals the count over the allocations.
        const nonZero = (m: ReadonlyMap<number, number>): [number, number][] => [...m].filter(([, v]) => v !== 0).sort((a, b) => a[0] - b[0]);
        expect(nonZero(ledger.vcpusByNode)).toEqual(nonZero(vcpusOnNodesOf(ledger.state)));
        expect({ slots: ledger.freeSlots, pages: Array.from(ledger.pageFree), live: Array.from(ledger.liveFree) }).toEqual(totals(hostCapacity(ledger.state), ledger.pageSizes));
        // mayHold is a necessary condition: whenever it says no, the engine refuses (numaplan with
        // node sets; interleave, whose memory goes to every node, with the plain totals).
        for (const [vcpus, gib] of [[1, 2], [2, 4], [4, 8], [8, 16], [16, 32], [32, 64], [2, 7], [6, 40]] as const) {
          const req = toVmRequest({ id: 'probe', arrival: 0, lifetime: 1, vcpus, memory: gib * 1024 ** 3, pageSize: null, devices: [], numaPolicy: 'auto' }, 1e6);
          if (!ledger.mayHold(req.vcpus, req.memory, req.pageSize, true)) probes.push(policy.place(req, ledger.state, { hints: false }).ok);
          if (!ledger.mayHold(req.vcpus, req.memory, req.pageSize, false)) probes.push(interleave.place(req, ledger.state, { hints: false }).ok);
        }
      }
      expect(probes.length).toBeGreaterThan(0);
      expect(probes.every((ok) => !ok)).toBe(true);
    });
  }
});

describe('fast path equals the slow path', () => {
  const trace = syntheticTrace({ count: 400, seed: 4, rate: forLoad(3, 2 * 40 + 384 + 2 * 44, 600), meanLifetime: 600 });
  const groups = [group('broadwell-2s', 2), group('epyc-2s-nps4', 1), group('xeon-2s-snc2', 1)];
  for (const name of fleetPolicyNames().filter((n) => !n.startsWith('host-'))) {
    it(`${name}: same decisions, latencies and final state`, () => {
      const fast = replayFleet(trace, new FleetState(groups), fleetPolicy(name) as never, { samples: 50 });
      const slow = replayFleet(trace, new FleetState(groups), fleetPolicy(name, { slow: true }) as never, { samples: 50 });
      expect(fast.accepted).toBeGreaterThan(0);
      expect(fast.arrivals - fast.accepted).toBeGreaterThan(0);
      expect([fast.accepted, fast.placedBeforeFailure, fast.singleNode, fast.deviceMisses]).toEqual([slow.accepted, slow.placedBeforeFailure, slow.singleNode, slow.deviceMisses]);
      expect(Array.from(fast.latency)).toEqual(Array.from(slow.latency));
      expect(fast.samples).toEqual(slow.samples);
      expect(Array.from(fast.fleet.freeCpu)).toEqual(Array.from(slow.fleet.freeCpu));
      expect(Array.from(fast.fleet.freeMem)).toEqual(Array.from(slow.fleet.freeMem));
    });
  }
});
