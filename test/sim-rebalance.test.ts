/** Rebalancing in the simulator's fleet mode: the planner at every tick of simulated time, against the same replay without it. */
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../src/adapters/source.js';
import { simulateFleet } from '../src/core/sim/fleet/replay.js';
import type { Trace, TraceRequest } from '../src/core/sim/trace.js';
import { runCli } from './support/cli.js';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const G = 1024 ** 3;
const vm = (id: string, arrival: number, lifetime: number | null, vcpus: number, memGiB: number): TraceRequest => ({
  id, arrival, lifetime, vcpus, memory: memGiB * G, pageSize: 4096, devices: [], numaPolicy: 'auto',
});

/**
 * One broadwell-2s host (20 PUs per node, CPU 0's core reserved): `a` and `b` fill most of each
 * node, `w` arrives and spreads over both, `a` leaves at t=100; a late arrival moves the clock past
 * the ticks.
 */
const trace: Trace = {
  source: 'hand-made',
  format: 'jsonl',
  skipped: 0,
  requests: [vm('a', 0, 100, 16, 8), vm('b', 0, null, 16, 8), vm('w', 1, null, 6, 8), vm('late', 20_000, null, 1, 1)],
};

describe('simulate --rebalance (fleet mode)', () => {
  it('moves the spread VM home once, never within its cool-down, and the locality over time improves against the same replay without it', async () => {
    const topology = await loadTopology('preset:broadwell-2s');
    const report = simulateFleet(trace, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, rebalance: { everySec: 3600 } });
    expect(report.results.map((r) => r.policy)).toEqual(['numaplan', 'numaplan+rebalance']);
    const [plain, moved] = report.results.map((r) => r.rebalance);
    expect(plain).toMatchObject({ rebalanced: false, moves: 0, ticks: 5 });
    expect(moved).toMatchObject({ rebalanced: true, moves: 1, vmsMoved: 1, vmsMovedMoreThanOnce: 0, movesWithinCooldown: 0, ticks: 5 });
    // The part of w's 8 GiB that was not on its new node.
    expect(moved?.bytesGiB).toBeGreaterThan(0);
    expect(moved?.bytesGiB).toBeLessThan(8);
    expect(moved?.oneNodeOverTime).toBe(1);
    expect(plain?.oneNodeOverTime).toBeLessThan(1);
    expect(moved?.latencyMeanOverTime).toBeLessThan(plain?.latencyMeanOverTime as number);
    expect(moved?.movesPerHostHour).toBeGreaterThan(0);
  });

  it('the command prints the rebalancing table and refuses a bad interval (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'numaplan-simrb-'));
    try {
      const file = join(dir, 't.csv');
      // Huawei lifetime format: vmid,cpu,mem(GB),at,lt
      writeFileSync(file, 'vmid,cpu,mem,at,lt\n1,16,8,0,100\n2,16,8,0,100000\n3,6,8,1,100000\n4,1,1,20000,100000\n');
      const r = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--policies', 'numaplan', '--rebalance', '1h', '--no-progress', '--workers', '0']);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/rebalancing every 3600 s of simulated time/);
      expect(r.out).toMatch(/numaplan\+rebalance +1 /);
      const bad = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--rebalance', 'often', '--json']);
      expect(bad.code).toBe(2);
      expect(JSON.parse(bad.out).error.path).toBe('--rebalance');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
