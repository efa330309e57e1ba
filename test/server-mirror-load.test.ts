/**
 * A service instance that loads its fleet while another instance writes must not end up with a host
 * whose generation is newer than its VMs: it would hand the other instance's CPUs out again, and
 * its write at that generation would pass. Here the other instance places a VM between the two reads
 * of the load (whichever comes first), on a host with room for one VM only; the loading instance then
 * places a VM of its own there, which must be refused, and the store must hold no CPU twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { FleetService } from '../src/server/fleet-service.js';
import { checkStore } from '../src/store/invariants.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { FleetStore } from '../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-mirror-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const G = 1024 ** 3;
// One node, four cores, no SMT, one core kept for the host: room for one 3-vCPU VM, then nothing.
const small = syntheticTopology({ source: 'four-cores', packages: 1, nodesPerPackage: 1, coresPerNode: 4, threadsPerCore: 1, memoryPerNode: 8 * G });

it('an instance loading its fleet while another places does not hand the new VM out again', async () => {
  const store = await openSqliteStore(join(dir, 'fleet.db'));
  const a = new FleetService({ store, instance: 'writer' });
  await a.registerHost('h', { format: 'json', topology: small });
  // The loading instance's store: after its first read of the load (hosts or VMs), the other
  // instance places a VM that takes the whole host.
  let interleaved = false;
  const reads = new Set(['loadHosts', 'loadVms']);
  const seen = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (!reads.has(String(key))) return (value as (...args: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        const out = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (!interleaved) {
          interleaved = true;
          const r = await a.place({ vm: 'name=first,vcpus=3,memory=1G' });
          expect(r.ok).toBe(true);
        }
        return out;
      };
    },
  }) as FleetStore;
  const b = new FleetService({ store: seen, instance: 'loader' });
  try {
    const r = await b.place({ vm: 'name=second,vcpus=1,memory=1G' });
    expect(interleaved).toBe(true);
    expect(r.ok).toBe(false);
    const report = await checkStore(store, Date.now(), []);
    expect(report.problems).toEqual([]);
    expect(report.vms).toBe(1);
  } finally {
    await b.close();
    await a.close();
    await store.close();
  }
});
