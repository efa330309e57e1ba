/**
 * The memory-aware best-fit scan (`FleetState.fitScan`) misses no host: after random takes and
 * returns of node resources, a scan that never stops visits every host with one node whose free
 * slots and bytes both reach the request, for requests at, above and below every index ratio (takes
 * lean on memory, as in fleets where memory runs out before hardware threads).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type FleetGroup, FleetState } from '../src/core/sim/fleet/fleet-state.js';
import { getPreset } from '../src/core/topology/presets/index.js';

const GIB = 1024 ** 3;
const group = (name: string, count: number): FleetGroup => ({ spec: `preset:${name}`, count, topology: (getPreset(name) ?? { build: () => { throw new Error(name); } }).build() });
const groups = [group('broadwell-2s', 6), group('epyc-2s-nps4', 6), group('xeon-2s-snc2', 6)];

describe('fleet fit scan', () => {
  it('visits every host with a node that fits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(1000), fc.double({ min: 0, max: 0.6, noNaN: true }), fc.double({ min: 0.5, max: 1, noNaN: true })), { minLength: 10, maxLength: 80 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 400 })), { minLength: 1, maxLength: 8 }),
        (takes, requests) => {
          const fleet = new FleetState(groups);
          for (const [pick, fc1, fm] of takes) {
            const node = pick % fleet.freeCpu.length;
            const host = fleet.hostOfNode[node] as number;
            const cpu = Math.floor((fleet.freeCpu[node] as number) * fc1);
            const mem = Math.floor(((fleet.freeMem[node] as number) * fm) / 4096) * 4096;
            fleet.apply({ host, nodes: [node], cpu: [cpu], mem: [mem], engineName: null }, -1);
          }
          for (const [cpu, quarterGib] of requests) {
            const mem = quarterGib * 0.25 * GIB;
            const seen = new Set<number>();
            fleet.fitScan(cpu, mem, (h) => {
              seen.add(h);
              return true;
            });
            for (let h = 0; h < fleet.hosts; h++) {
              const base = fleet.nodeBase[h] as number;
              let fits = false;
              for (let i = 0; i < (fleet.nodeCount[h] as number); i++) {
                if ((fleet.freeCpu[base + i] as number) >= cpu && (fleet.freeMem[base + i] as number) >= mem) fits = true;
              }
              if (fits) expect(seen.has(h)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
