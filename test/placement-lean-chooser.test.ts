/**
 * The lean numaplan chooser (no alternatives or notes) decides exactly as the full chooser: same
 * node set, same evaluation, same score terms, on every preset for a spread of request sizes and
 * partly filled hosts.
 */
import { describe, expect, it } from 'vitest';
import { hostCapacity } from '../src/core/placement/capacity.js';
import { makeContext } from '../src/core/placement/context.js';
import { cpuModes, pageSizesFor } from '../src/core/placement/decide.js';
import { getPolicy } from '../src/core/placement/policies/index.js';
import { chooseNumaplan } from '../src/core/placement/policies/numaplan.js';
import { type HostState, allocationOf, createHostState } from '../src/core/placement/state.js';
import type { VmRequest } from '../src/core/placement/request.js';
import { listPresets } from '../src/core/topology/presets/index.js';

const GIB = 1024 ** 3;
const request = (i: number, vcpus: number, gib: number, numa: VmRequest['numa']): VmRequest => ({
  name: `vm${i}`, vcpus, memory: gib * GIB, pageSize: 'auto', cpuPolicy: 'dedicated', smt: 'prefer', emulator: 'share', numa, tier: 'dram', devices: [],
});

describe('chooseNumaplan without detail', () => {
  for (const preset of listPresets()) {
    it(`${preset.name}: same choice as chooseNumaplan`, () => {
      let state: HostState = createHostState(preset.build());
      const policy = getPolicy('numaplan');
      let compared = 0;
      for (let i = 0; i < 40; i++) {
        const req = request(i, [1, 3, 8, 24, 64][i % 5] as number, [2, 6, 30, 100, 300][(i * 3) % 5] as number, i % 7 === 0 ? 'interleave' : 'auto');
        const capacity = hostCapacity(state);
        for (const mode of cpuModes(req)) {
          for (const page of pageSizesFor(req, capacity)) {
            const full = chooseNumaplan(makeContext(req, state, page, mode, capacity));
            const lean = chooseNumaplan(makeContext(req, state, page, mode, capacity), false);
            expect(lean?.evaluation ?? null).toEqual(full?.evaluation ?? null);
            expect(lean?.score ?? null).toEqual(full?.score ?? null);
            compared++;
          }
        }
        const r = policy.place(req, state, { hints: false });
        if (r.ok) state = { ...state, allocations: [...state.allocations, allocationOf(r.placement, req, 'committed', null)] };
      }
      expect(compared).toBeGreaterThan(40);
    });
  }
});
