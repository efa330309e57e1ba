import { describe, expect, it } from 'vitest';
import { makeTopology } from '../topology/build.js';
import { getPreset } from '../topology/presets/index.js';
import { judgePair, type PairReport, parseCalibration, planProbe, probeDocument } from './plan.js';

const M = 1 << 20;

/** Two nodes with CPUs 0-3 / 4-7, a CPU-less node 2; `free` per node; an LLC of `llc` bytes. */
function host(free: number[], llc = 32 * M) {
  return makeTopology({
    source: 'test',
    hostname: 'h',
    nodes: [
      { id: 0, cpus: [0, 1, 2, 3], memory: { total: 8 * 1024 * M, free: free[0] } },
      { id: 1, cpus: [4, 5, 6, 7], memory: { total: 8 * 1024 * M, free: free[1] } },
      { id: 2, cpus: [], memory: { total: 4 * 1024 * M, free: free[2] } },
    ],
    distances: [
      [10, 21, 14],
      [21, 10, 24],
      [14, 24, 10],
    ],
    pus: [0, 1, 2, 3, 4, 5, 6, 7].map((os) => ({ os, package: os < 4 ? 0 : 1, core: os })),
    caches: [
      { level: 3, type: 'unified', size: llc, lineSize: 64, ways: 16, cpus: [0, 1, 2, 3] },
      { level: 3, type: 'unified', size: llc, lineSize: 64, ways: 16, cpus: [4, 5, 6, 7] },
    ],
  });
}

const report = (over: Partial<PairReport> = {}): PairReport => ({
  initiator: 0, cpu: 3, target: 1, latencyNs: 150, loads: 1 << 20, bandwidthMBps: 8000, passes: 3, pairMs: 70, setupMs: 20, thpBytes: 64 * M,
  cpuBefore: 3, cpuAfter: 3, affinity: [3], policy: 2, policyNodes: [1], pages: 16384, pagesMissing: 0, pagesByNode: { '1': 16384 },
  procStatus: 'Cpus_allowed_list:\t3', procNumaMaps: '7f0000000000 bind:1 anon=16384 dirty=16384 N1=16384 kernelpagesize_kB=4', ...over,
});

describe('probe plan', () => {
  it('measures from the highest usable CPU of every node with CPUs, to every node with memory', () => {
    const p = planProbe(host([4096 * M, 4096 * M, 2048 * M]), { quick: true });
    expect(p.initiators).toEqual([{ node: 0, cpu: 3 }, { node: 1, cpu: 7 }]);
    expect(p.targets).toEqual([0, 1, 2]);
    expect(p.nodes).toEqual([0, 1, 2]);
    expect(p.bufferBytes).toBe(64 * M);
    expect(planProbe(host([4096 * M, 4096 * M, 2048 * M])).bufferBytes).toBe(256 * M);
    expect(planProbe(host([4096 * M, 4096 * M, 4096 * M], 200 * M)).bufferBytes).toBe(800 * M);
  });

  it('keeps the buffer within a quarter of the smallest free memory, warns, and refuses when that is too little', () => {
    const p = planProbe(host([4096 * M, 4096 * M, 600 * M]));
    expect(p.bufferBytes).toBe(150 * M);
    expect(p.warnings.join(' ')).toMatch(/cut to 150 MiB/);
    expect(() => planProbe(host([4096 * M, 4096 * M, 40 * M]))).toThrow(/below the 16 MiB/);
  });

  it('judges a pair by its affinity, CPU, policy and the node of every page', () => {
    expect(judgePair(report())).toEqual([]);
    expect(judgePair(report({ affinity: [2, 3] }))[0]).toMatch(/affinity is CPUs 2,3/);
    expect(judgePair(report({ cpuAfter: 2 }))[0]).toMatch(/ran on CPU 3 then 2/);
    expect(judgePair(report({ policy: 1, policyNodes: [1] }))[0]).toMatch(/mode 1/);
    expect(judgePair(report({ pagesByNode: { '1': 16000, '0': 384 } })).join(' ')).toMatch(/384 on node 0/);
  });

  it('builds the matrices over every node (null where a node has no CPU), and a calibration from them', () => {
    const topo = host([4096 * M, 4096 * M, 2048 * M]);
    const plan = planProbe(topo, { quick: true });
    const reports = plan.initiators.flatMap((i) =>
      plan.targets.map((t) => report({ initiator: i.node, cpu: i.cpu, target: t, affinity: [i.cpu], cpuBefore: i.cpu, cpuAfter: i.cpu, policyNodes: [t], pagesByNode: { [t]: 16384 }, latencyNs: i.node === t ? 100 : 100 + 10 * (i.node + t) })),
    );
    const doc = probeDocument(topo, plan, reports, { measuredAt: '2025-01-01T00:00:00Z', wallMs: 1000, helperStartMs: 5 });
    expect(doc.latency).toEqual([[100, 110, 120], [110, 100, 130], [null, null, null]]);
    expect(doc.latencyRatio[0]).toEqual([1, 1.1, 1.2]);
    expect(doc.cpus).toEqual({ '0': 3, '1': 7, '2': null });
    expect(doc.verified).toBe(true);
    const cal = parseCalibration(JSON.stringify(doc), 'p.json');
    expect(cal.latency).toEqual(doc.latency);
    const bad = probeDocument(topo, plan, reports.slice(1), { measuredAt: 'x', wallMs: 1, helperStartMs: 1 });
    expect(bad.verified).toBe(false);
    expect(bad.warnings).toContain('5 of 6 pairs measured');
  });

  it('has nothing to measure on a host without usable CPUs', () => {
    const t = getPreset('broadwell-2s')?.build();
    expect(t && planProbe(t).initiators.length).toBe(2);
  });
});
