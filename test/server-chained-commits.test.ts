/**
 * Chained group commits (Flush.chained): an instance whose commit on a host is still in flight
 * sends its next ops on that host in the next commit, expected at the generation the first leaves.
 * If the first is left out (another instance moved the host), the second must be left out too, even
 * when the other instance moved the host to exactly the generation it expects: its decisions were
 * made on a ledger holding the first commit's VMs, not the other instance's.
 *
 * Here instance A's first commit on a three-core host is held back until A has sent its second,
 * chained one; meanwhile instance B, on the same store (the same writer thread), places a 2-vCPU VM
 * there, on the very cores A's two VMs took. Written as expected, A's second VM would share a core
 * with B's; the store must hold nothing twice, and every VM answered must be stored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { FleetService } from '../src/server/fleet-service.js';
import type { Flush } from '../src/store/flush.js';
import { checkStore } from '../src/store/invariants.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { FleetStore } from '../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-chained-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const G = 1024 ** 3;
// One node, four cores, no SMT, one core kept for the host: three cores to place on.
const small = syntheticTopology({ source: 'four-cores', packages: 1, nodesPerPackage: 1, coresPerNode: 4, threadsPerCore: 1, memoryPerNode: 8 * G });

/** Waits (event-loop turns, then short sleeps) until `done` holds; the bound only stops a broken test. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 20_000 && !done(); i++) await new Promise((r) => (i < 100 ? setImmediate(r) : setTimeout(r, 5)));
  expect(done()).toBe(true);
}

it("a chained commit whose predecessor was left out is left out too, even at the generation it expects", async () => {
  const store = await openSqliteStore(join(dir, 'fleet.db'));
  expect(store.chainedCommits).toBe(true);
  // A's commits go to the store in the order sent, the first once `release` is called.
  const sent: Flush[] = [];
  let release: () => void = () => undefined;
  let last: Promise<unknown> = new Promise<void>((r) => (release = r));
  const held = new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'commitFlush') {
        return (flush: Flush) => {
          sent.push(flush);
          const mine = last.then(() => target.commitFlush(flush));
          last = mine.catch(() => undefined);
          return mine;
        };
      }
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as FleetStore;
  const b = new FleetService({ store, instance: 'b' });
  const a = new FleetService({ store: held, instance: 'a' });
  try {
    await b.registerHost('h', { format: 'json', topology: small });
    const first = a.place({ host: 'h', vm: 'name=a1,vcpus=1,memory=1G' });
    await until(() => sent.length === 1);
    const second = a.place({ host: 'h', vm: 'name=a2,vcpus=1,memory=1G' });
    await until(() => sent.length === 2);
    expect(sent[1]?.chained).toEqual(['h']);
    expect(sent[1]?.expected.get('h')).toBe((sent[0]?.expected.get('h') as number) + 1);
    // B takes two cores on h, as A's two VMs did: h moves to exactly the generation A's second expects.
    const other = await b.place({ host: 'h', vm: 'name=b1,vcpus=2,memory=1G' });
    expect(other.ok).toBe(true);
    expect((await store.hostRow('h'))?.generation).toBe(sent[1]?.expected.get('h'));
    release();
    const answers = await Promise.all([first, second]);
    // One core was left: one of A's VMs was decided again and placed there, the other refused.
    expect(answers.map((r) => r.ok).sort()).toEqual([false, true]);
    const placed = answers.filter((r) => r.ok).map((r) => ({ name: (r.placement as { name: string }).name, host: 'h', cpus: (r.placement as { cpus: number[] }).cpus }));
    const acked = [{ name: 'b1', host: 'h', cpus: (other.placement as { cpus: number[] }).cpus }, ...placed];
    const report = await checkStore(store, Date.now(), acked);
    expect(report.problems).toEqual([]);
    expect(report.vms).toBe(2);
  } finally {
    await a.close();
    await b.close();
    await store.close();
  }
});
