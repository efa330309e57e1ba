/**
 * Fleet mode's direct single-node judgement (direct-judge.ts) against the engine's own: on random
 * host states of several presets (huge-page pools, 2 to 8 nodes, hosts filling up and emptying) and
 * random plain requests (sizes from 1 vCPU to most of a host, page size auto or explicit, NUMA auto
 * or strict, a node cap), whenever the direct judgement settles a host (a choice or a refusal) it
 * equals what the numaplan chooser decides in a placement context: the same refusal, or the same
 * node, page size and rank key, bit for bit. And the committed placement (the chosen node evaluated
 * in full, then assigned) is the one the full engine places.
 */
import { describe, expect, it } from 'vitest';
import { getPolicy } from '../src/core/placement/policies/index.js';
import type { VmRequest } from '../src/core/placement/request.js';
import { allocationOf } from '../src/core/placement/state.js';
import { GENERAL, directEligible, numaplanDirect } from '../src/core/sim/fleet/direct-judge.js';
import { engineChooser } from '../src/core/sim/fleet/choosers.js';
import { HostLedger } from '../src/core/placement/ledger.js';
import { judgeHost, revive } from '../src/core/sim/fleet/judge.js';
import { toVmRequest } from '../src/core/sim/fleet/request-map.js';
import { makeRng } from '../src/core/sim/rng.js';
import { getPreset } from '../src/core/topology/presets/index.js';

const GIB = 1024 ** 3;

function topologyOf(name: string) {
  const preset = getPreset(name);
  if (!preset) throw new Error(name);
  return preset.build();
}

describe('direct single-node judgement', () => {
  const chooser = engineChooser('numaplan');
  if (!chooser) throw new Error('numaplan has no chooser');
  const policy = getPolicy('numaplan');

  for (const preset of ['broadwell-2s', 'epyc-2s-nps4', 'xeon-2s-snc2', 'epyc-2s-nps1', 'ring-4s']) {
    it(`${preset}: settles hosts exactly as the numaplan chooser does`, () => {
      const ledger = new HostLedger(topologyOf(preset));
      const rng = makeRng(11);
      const live: string[] = [];
      const counts = { settled: 0, refused: 0, general: 0 };
      for (let step = 0; step < 160; step++) {
        // Move the host: fill it up most of the time, empty it now and then.
        if (live.length > 0 && rng.next() < (step % 50 < 35 ? 0.3 : 0.8)) {
          ledger.release(live.splice(Math.floor(rng.next() * live.length), 1)[0] as string);
        } else {
          const vcpus = 1 + Math.floor(rng.next() * 16);
          const fill = toVmRequest({ id: `f${step}`, arrival: 0, lifetime: 1, vcpus, memory: vcpus * (1 + Math.floor(rng.next() * 8)) * GIB, pageSize: null, devices: [], numaPolicy: 'auto' }, step);
          const r = policy.place(fill, ledger.state, { hints: false });
          if (r.ok) {
            ledger.add(allocationOf(r.placement, fill, 'committed', null));
            live.push(fill.name);
          }
        }
        for (let probe = 0; probe < 6; probe++) {
          const vcpus = 1 + Math.floor(rng.next() ** 2 * 48);
          const pages = [null, null, 4096, 2 * 1024 ** 2, GIB] as const;
          const pageSize = pages[Math.floor(rng.next() * pages.length)] ?? null;
          const gib = Math.max(1, Math.floor(vcpus * (0.5 + rng.next() * 6)));
          const base = toVmRequest({ id: 'p', arrival: 0, lifetime: 1, vcpus, memory: gib * GIB, pageSize, devices: [], numaPolicy: rng.next() < 0.2 ? 'local' : 'auto' }, 1e6 + probe);
          const req: VmRequest = rng.next() < 0.15 && base.numa !== 'strict' ? { ...base, maxNodes: 1 + Math.floor(rng.next() * 3) } : base;
          expect(directEligible(req)).toBe(true);
          const capacity = ledger.capacity();
          const direct = numaplanDirect(req, ledger.state, capacity);
          if (direct === GENERAL) {
            counts.general++;
            continue;
          }
          const engine = judgeHost(chooser, req, ledger.state, capacity);
          if (direct === null) {
            counts.refused++;
            expect(engine).toBeNull();
            continue;
          }
          counts.settled++;
          expect(engine).not.toBeNull();
          if (!engine) continue;
          expect(engine.choice.evaluation.nodes).toEqual([direct.node]);
          expect(engine.ctx.pageSize).toBe(direct.pageSize);
          expect(direct.key).toEqual(engine.key);
          // Committing the direct judgement places what the full engine places.
          const revived = revive(direct, req, ledger.state, capacity);
          expect(revived.choice.evaluation).toEqual(engine.choice.evaluation);
          const full = policy.place({ ...req, name: 'full' }, ledger.state, { hints: false });
          expect(full.ok).toBe(true);
          if (full.ok) {
            expect(full.placement.nodes).toEqual([direct.node]);
            expect(full.placement.memory.map((m) => m.pageSize)).toEqual([direct.pageSize]);
          }
        }
      }
      // The probes cover all three outcomes on the hosts where they can occur.
      expect(counts.settled).toBeGreaterThan(100);
      expect(counts.refused).toBeGreaterThan(20);
      expect(counts.general).toBeGreaterThan(20);
      expect(counts.settled + counts.refused + counts.general).toBe(160 * 6);
    });
  }

  it('accepts only the requests whose judgement it can read off the capacity view', () => {
    const base = toVmRequest({ id: 'x', arrival: 0, lifetime: 1, vcpus: 4, memory: 8 * GIB, pageSize: null, devices: [], numaPolicy: 'auto' }, 1);
    expect(directEligible(base)).toBe(true);
    expect(directEligible({ ...base, numa: 'interleave' })).toBe(false);
    expect(directEligible({ ...base, devices: [{ kind: 'rdma', count: 1, locality: 'preferred' }] })).toBe(false);
    expect(directEligible({ ...base, nodes: [0] })).toBe(false);
    expect(directEligible({ ...base, smt: 'auto' })).toBe(false);
    expect(directEligible({ ...base, emulator: 1 })).toBe(false);
    expect(directEligible({ ...base, tier: 'cxl' })).toBe(false);
  });
});
