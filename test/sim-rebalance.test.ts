/** Rebalancing in the simulator's fleet mode: the planner at every tick of simulated time, against the same replay without it. */
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../src/adapters/source.js';
import { simulateFleet, traceWindow } from '../src/core/sim/fleet/replay.js';
import { traceEvents } from '../src/core/sim/events.js';
import type { Trace, TraceRequest } from '../src/core/sim/trace.js';
import { runCli } from './support/cli.js';
import { placeMany } from '../src/core/placement/place.js';
import { parseVmSpec } from '../src/core/placement/request.js';
import { createHostState } from '../src/core/placement/state.js';
import { esxiMove } from '../src/core/rebalance/index.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    expect(report.results.map((r) => r.policy)).toEqual(['numaplan', 'numaplan+rebalance', 'numaplan+esxi-rule', 'numaplan+numad-rule']);
    const [plain, moved] = report.results.map((r) => r.rebalance);
    expect(plain).toMatchObject({ rule: 'none', moves: 0, ticks: 5 });
    expect(moved).toMatchObject({ rule: 'numaplan', moves: 1, vmsMoved: 1, vmsMovedMoreThanOnce: 0, movesWithinCooldown: 0, returns: 0, ticks: 5 });
    // The part of w's 8 GiB that was not on its new node.
    expect(moved?.bytesGiB).toBeGreaterThan(0);
    expect(moved?.bytesGiB).toBeLessThan(8);
    expect(moved?.oneNodeOverTime).toBe(1);
    expect(plain?.oneNodeOverTime).toBeLessThan(1);
    expect(moved?.latencyMeanOverTime).toBeLessThan(plain?.latencyMeanOverTime as number);
    expect(moved?.movesPerHostHour).toBeGreaterThan(0);
    expect(moved?.overTime).toHaveLength(5);
    expect(moved?.overTime.at(-1)?.movedGiB).toBe(moved?.bytesGiB);
  });

  it('lets in an arrival the host refuses by making room (defragmentation), only in the planner\'s run', async () => {
    const topology = await loadTopology('preset:broadwell-2s');
    const local = (id: string, arrival: number, vcpus: number, memGiB: number): TraceRequest => ({ ...vm(id, arrival, null, vcpus, memGiB), numaPolicy: 'local' });
    // a and s take most of one node's PUs; m (one node, 40 GiB) then finds PUs on one node and memory on the other.
    const t: Trace = { source: 'hand-made', format: 'jsonl', skipped: 0, requests: [local('a', 0, 16, 2), local('s', 1, 1, 1), local('m', 2, 2, 40), vm('late', 20_000, null, 1, 1)] };
    const report = simulateFleet(t, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, rebalance: { everySec: 3600 } });
    const [plain, moved, esxi, numad] = report.results;
    expect(plain?.placedBeforeFailure).toBe(2);
    expect(plain?.rebalance).toMatchObject({ admitted: 0, roomMoves: 0, moves: 0 });
    expect(moved?.placedBeforeFailure).toBe(4); // every arrival placed
    expect(moved?.accepted).toBe((plain?.accepted as number) + 1);
    expect(moved?.rebalance).toMatchObject({ admitted: 1, roomMoves: 1, movesWithinCooldown: 0, vmsMovedMoreThanOnce: 0 });
    expect(moved?.rebalance?.bytesGiB).toBeGreaterThan(0);
    expect(moved?.rebalance?.bytesGiB).toBeLessThan(40);
    // vCPU-hours within the window (t = 0 to 20,000 s): a 16 x 20000, s 1 x 19999, m 2 x 19998, late 0.
    const requested = 16 * 20_000 + 19_999 + 2 * 19_998;
    expect(plain?.rebalance?.vcpuHoursAccepted).toBeCloseTo((16 * 20_000 + 19_999) / requested, 4);
    expect(moved?.rebalance?.vcpuHoursAccepted).toBe(1);
    // The peers' rules do not search for room.
    expect(esxi?.rebalance?.admitted).toBe(0);
    expect(numad?.rebalance?.admitted).toBe(0);
  });

  it('the ESXi-like rule balances load, not locality: moving b would only flip the gap, so w stays spread', async () => {
    const topology = await loadTopology('preset:broadwell-2s');
    const report = simulateFleet(trace, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, rebalance: { everySec: 3600 } });
    const [plain, , esxi] = report.results.map((r) => r.rebalance);
    expect(esxi).toMatchObject({ rule: 'esxi', everySec: 2, moves: 0 });
    expect(esxi?.oneNodeOverTime).toBe(plain?.oneNodeOverTime);
    expect(esxi?.latencyMeanOverTime).toBe(plain?.latencyMeanOverTime);
  });

  it('the ESXi-like rule moves a VM from the busiest to the idlest node when the gap is 10% or more, and only then', async () => {
    const topology = await loadTopology('preset:broadwell-2s');
    // Best fit packs x1 and x2 on one node: 18 of 20 PUs (the reserve's 2 included) against 0.
    const s = placeMany(['name=x1,vcpus=8,memory=4G,smt=prefer', 'name=x2,vcpus=8,memory=4G,smt=prefer'].map((x) => parseVmSpec(x)), createHostState(topology)).state;
    expect(s.allocations[0]?.nodes).toEqual(s.allocations[1]?.nodes);
    const m = esxiMove(s, 0, { imbalance: 0.1, rateBytesPerSec: G });
    expect(m?.vms).toHaveLength(1);
    const v = m?.vms[0];
    expect(v?.after.nodes).not.toEqual(v?.before.nodes);
    expect(m?.cost.bytes).toBe(4 * G);
    expect(esxiMove(s, 0, { imbalance: 0.95, rateBytesPerSec: G })).toBeNull();
  });

  it('the numad-like rule moves the spread VM whatever the cost, every 15 s', async () => {
    const topology = await loadTopology('preset:broadwell-2s');
    const report = simulateFleet(trace, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, rebalance: { everySec: 3600, plan: { rateBytesPerSec: 1024 } } });
    const byRule = new Map(report.results.map((r) => [r.rebalance?.rule, r.rebalance]));
    // At 1 KiB/s no planner move pays; numad does not weigh the cost.
    expect(byRule.get('numaplan')?.moves).toBe(0);
    expect(byRule.get('numad')).toMatchObject({ everySec: 15, moves: 1, vmsMoved: 1, oneNodeOverTime: 1 });
  });

  it('places an arrival on one node instead of splitting it when make-room moves worth the latency it avoids free one', async () => {
    const topology = await loadTopology('preset:broadwell-2s');
    const local = (id: string, arrival: number, vcpus: number, memGiB: number): TraceRequest => ({ ...vm(id, arrival, null, vcpus, memGiB), numaPolicy: 'local' });
    // As above, but m may span nodes: without rebalancing it is split (PUs on one node, memory on both).
    const t: Trace = { source: 'hand-made', format: 'jsonl', skipped: 0, requests: [local('a', 0, 16, 2), local('s', 1, 1, 1), vm('m', 2, null, 2, 40), vm('late', 20_000, null, 1, 1)] };
    const report = simulateFleet(t, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, rebalance: { everySec: 3600 } });
    const [plain, moved, esxi] = report.results;
    expect(plain?.accepted).toBe(4);
    expect(plain?.singleNodeFraction).toBe(0.75);
    expect(plain?.rebalance?.latencyMeanOverTime).toBeGreaterThan(1);
    expect(moved?.singleNodeFraction).toBe(1);
    expect(moved?.rebalance).toMatchObject({ admitted: 0, unsplit: 1, roomMoves: 1, moves: 1, vmsMoved: 2, movesWithinCooldown: 0, latencyMeanOverTime: 1 });
    // a and s leave node 0 for node 1: their 3 GiB, not m's 40.
    expect(moved?.rebalance?.bytesGiB).toBe(3);
    expect(esxi?.rebalance?.unsplit).toBe(0);
    // Slow enough migration that the avoided latency does not pay for the bytes: m stays split.
    const slow = simulateFleet(t, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, rebalance: { everySec: 3600, plan: { rateBytesPerSec: 16 * 1024 ** 2 } } });
    expect(slow.results[1]?.rebalance?.unsplit).toBe(0);
    expect(slow.results[1]?.singleNodeFraction).toBe(0.75);
  });

  it('compares the four runs on several windows of the trace, the first being the main results', async () => {
    const topology = await loadTopology('preset:broadwell-2s');
    const report = simulateFleet(trace, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, horizon: 2, rebalance: { everySec: 3600, windows: 3 } });
    const w = report.rebalanceWindows ?? [];
    // 4 requests, windows of 2: starting at request 0, then evenly spaced to the end (1, 2).
    expect(w.map((x) => x.offset)).toEqual([0, 1, 2]);
    for (const x of w) {
      expect(x.runs.map((r) => r.policy)).toEqual(['numaplan', 'numaplan+rebalance', 'numaplan+esxi-rule', 'numaplan+numad-rule']);
      for (const r of x.runs) expect(r.arrivals).toBe(2);
    }
    report.results.forEach((r, i) => {
      expect(w[0]?.runs[i]).toMatchObject({ policy: r.policy, accepted: r.accepted, acceptanceRate: r.acceptanceRate, moves: r.rebalance?.moves, vcpuHoursAccepted: r.rebalance?.vcpuHoursAccepted });
    });
    // Window 2 is w and late alone on an empty host: both placed, nothing to rebalance.
    expect(w[2]?.runs[1]).toMatchObject({ accepted: 2, moves: 0 });
    // A window's events are its own requests' (the whole trace's are cached on its object by now).
    const cached = { ...trace };
    traceEvents(cached);
    const fresh: Trace = { source: 'hand-made', format: 'jsonl', skipped: 0, requests: trace.requests.slice(1, 3) };
    expect(traceWindow(cached, 1, 2).events).toEqual(traceEvents(fresh));
    expect(traceWindow(cached, 1, 2).requests).toEqual(fresh.requests);
    // Window 1 replays b and w exactly as a trace of those two alone does (not the whole trace's events).
    const alone = simulateFleet({ source: 'hand-made', format: 'jsonl', skipped: 0, requests: [trace.requests[1] as TraceRequest, trace.requests[2] as TraceRequest] }, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, horizon: 2, rebalance: { everySec: 3600 } });
    alone.results.forEach((r, i) => expect(w[1]?.runs[i]).toMatchObject({ accepted: r.accepted, moves: r.rebalance?.moves, latencyMeanOverTime: r.rebalance?.latencyMeanOverTime, vcpuHoursAccepted: r.rebalance?.vcpuHoursAccepted }));
    expect(simulateFleet(trace, [{ spec: 'preset:broadwell-2s', count: 1, topology }], { policies: ['numaplan'], seed: 1, horizon: 2, rebalance: { everySec: 3600 } }).rebalanceWindows).toBeUndefined();
  });

  it('the command prints the rebalancing table and refuses a bad interval (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'numaplan-simrb-'));
    try {
      const file = join(dir, 't.csv');
      // Huawei lifetime format: vmid,cpu,mem(GB),at,lt
      writeFileSync(file, 'vmid,cpu,mem,at,lt\n1,16,8,0,100\n2,16,8,0,100000\n3,6,8,1,100000\n4,1,1,20000,100000\n');
      const r = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--policies', 'numaplan', '--rebalance', '1h', '--no-progress', '--workers', '0', '--plot', join(dir, 'plots')]);
      expect(r.code, r.err).toBe(0);
      for (const f of ['rebalance-latency.svg', 'rebalance-p95.svg', 'rebalance-bytes.svg']) expect(readFileSync(join(dir, 'plots', f), 'utf8')).toMatch(/numaplan\+rebalance/);
      expect(r.out).toMatch(/numaplan's planner every 3600 s of simulated time/);
      expect(r.out).toMatch(/numaplan\+esxi-rule /);
      expect(r.out).toMatch(/numaplan\+rebalance +1 /);
      const bad = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--rebalance', 'often', '--json']);
      expect(bad.code).toBe(2);
      expect(JSON.parse(bad.out).error.path).toBe('--rebalance');
      for (const [flag, value] of [['--rebalance-horizon', 'soon'], ['--rebalance-threshold', '-1'], ['--rebalance-rate', 'fast'], ['--rebalance-cooldown', 'x']]) {
        const r2 = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--rebalance', '1h', flag as string, value as string, '--json']);
        expect(r2.code).toBe(2);
        expect(JSON.parse(r2.out).error.path).toBe(flag);
      }
      const windows = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--policies', 'numaplan', '--rebalance', '1h', '--horizon', '2', '--rebalance-windows', '2', '--no-progress', '--workers', '0']);
      expect(windows.code, windows.err).toBe(0);
      expect(windows.out).toMatch(/rebalancing over 2 windows of 2 arrivals/);
      expect(windows.out).toMatch(/\nmean +numaplan\+rebalance /);
      const noHorizon = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--rebalance', '1h', '--rebalance-windows', '2', '--json']);
      expect(noHorizon.code).toBe(2);
      expect(JSON.parse(noHorizon.out).error.path).toBe('--rebalance-windows');
      const lonely = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--rebalance-horizon', '1h', '--json']);
      expect(JSON.parse(lonely.out).error.path).toBe('--rebalance');
      // At 1 KiB/s nothing the planner could do pays.
      const slow = await runCli(['simulate', '--mode', 'fleet', '--trace', file, '--hosts', 'preset:broadwell-2s*1', '--policies', 'numaplan', '--rebalance', '1h', '--rebalance-rate', '1K/s', '--workers', '0', '--json']);
      expect(JSON.parse(slow.out).results.find((x: { policy: string }) => x.policy === 'numaplan+rebalance').rebalance.moves).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
