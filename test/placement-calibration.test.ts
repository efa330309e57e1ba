/**
 * `--calibration FILE`: a probe's measured latency matrix replaces SLIT ratios and the published
 * local figure in the cost model's predictions (place, explain, a state file keeping it), and a file
 * that does not belong to the host is refused. The built CLI, as a user runs it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';

const CLI = join(REPO_ROOT, 'bin', 'numaplan.js');
const dir = mkdtempSync(join(tmpdir(), 'numaplan-calibration-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** A probe result for a two-node host: asymmetric, and not what SLIT 10/21 would say. */
const LATENCY = [
  [90, 150],
  [155, 88],
];
function probeFile(name: string, overrides: Record<string, unknown> = {}): string {
  const doc = {
    schema: 'numaplan.probe/v1',
    hostname: 'bench-host',
    measuredAt: '2025-01-01T00:00:00.000Z',
    method: 'test matrix',
    quick: false,
    nodes: [0, 1],
    cpus: { '0': 9, '1': 19 },
    bufferBytes: 1 << 30,
    llcBytes: 25 << 20,
    latency: LATENCY,
    bandwidth: [
      [11000, 7000],
      [6900, 11200],
    ],
    latencyRatio: [
      [1, 1.667],
      [1.761, 1],
    ],
    distances: [
      [10, 21],
      [21, 10],
    ],
    pairs: [],
    verified: true,
    timing: { wallMs: 1, helperStartMs: 1, setupMs: 0, measureMs: 0, overheadMs: 1 },
    warnings: [],
    ...overrides,
  };
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

interface Cost {
  relativeLatency: number;
  expectedLatencyNs: number;
  remoteAccessFraction: number;
  model: string;
  calibration?: { source: string; label: string };
  vnumaAware: { relativeLatency: number; expectedLatencyNs: number };
}

const costOf = (out: string): Cost => (JSON.parse(out) as { placements: { explanation: { cost: Cost } }[] }).placements[0]?.explanation.cost as Cost;

describe.skipIf(!existsSync(join(REPO_ROOT, 'dist')))('place --calibration FILE', () => {
  // 12 vCPUs and 32 GiB on the Broadwell preset: 6+6 vCPUs and 16+16 GiB over nodes 0 and 1.
  const vm = 'name=wide,vcpus=12,memory=32G';

  it('predicts latency from the measured matrix instead of SLIT ratios, and says so', () => {
    const slit = run('place', '--host', 'preset:broadwell-2s', '--vm', vm, '--json');
    expect(slit.code, slit.err).toBe(0);
    const before = costOf(slit.out);
    // SLIT: a quarter of the accesses each way at 21/10, local 80 ns published.
    expect({ ratio: before.relativeLatency, ns: before.expectedLatencyNs, calibrated: 'calibration' in before }).toEqual({ ratio: 1.55, ns: 124, calibrated: false });

    const file = probeFile('two-node.json');
    const cal = run('place', '--host', 'preset:broadwell-2s', '--calibration', file, '--vm', vm, '--json');
    expect(cal.code, cal.err).toBe(0);
    const after = costOf(cal.out);
    // Each vCPU node reads each memory node a quarter of the time: the measured ns, and each
    // access's ratio to its own node's local latency.
    const ns = (LATENCY[0]![0]! + LATENCY[0]![1]! + LATENCY[1]![0]! + LATENCY[1]![1]!) / 4;
    const ratio = (1 + LATENCY[0]![1]! / LATENCY[0]![0]! + LATENCY[1]![0]! / LATENCY[1]![1]! + 1) / 4;
    // (the model rounds ns to 0.1 and ratios to 4 decimals)
    expect(after.expectedLatencyNs).toBe(Math.round(ns * 10) / 10);
    expect(after.relativeLatency).toBe(Math.round(ratio * 1e4) / 1e4);
    // A guest using its vNUMA stays on its own node: the two local latencies, half the vCPUs each.
    expect(after.vnumaAware.expectedLatencyNs).toBe((LATENCY[0]![0]! + LATENCY[1]![1]!) / 2);
    expect(after.vnumaAware.relativeLatency).toBe(1);
    expect(after.remoteAccessFraction).toBe(before.remoteAccessFraction);
    expect(after.calibration).toEqual({ source: 'measured', label: 'measured by numaplan probe on bench-host at 2025-01-01T00:00:00.000Z' });
    expect(after.model).toMatch(/measured matrix/);

    const text = run('place', '--host', 'preset:broadwell-2s', '--calibration', file, '--vm', vm);
    expect(text.out).toContain(`latency x${after.relativeLatency} (~${after.expectedLatencyNs} ns)`);
    expect(text.out).toContain('latency source: measured by numaplan probe on bench-host');
  });

  it('keeps the calibration in a state file, and explain uses it', () => {
    const state = join(dir, 'state.json');
    const file = probeFile('kept.json');
    const first = run('place', '--host', 'preset:broadwell-2s', '--state', state, '--calibration', file, '--vm', 'name=a,vcpus=2,memory=4G', '--json');
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(readFileSync(state, 'utf8')).topology.calibration.latency).toEqual(LATENCY);
    const second = run('place', '--state', state, '--vm', vm, '--json');
    expect(second.code, second.err).toBe(0);
    expect(costOf(second.out).calibration?.source).toBe('measured');
    const explained = run('explain', '--state', state, '--name', 'wide', '--json');
    expect(explained.code, explained.err).toBe(0);
    const cost = (JSON.parse(explained.out) as { cost: Cost }).cost;
    expect(cost.calibration?.source).toBe('measured');
    expect(cost.expectedLatencyNs).toBe(costOf(second.out).expectedLatencyNs);
  });

  it('refuses a calibration of other nodes, a probe whose bindings were not verified, and a file that is no probe (exit 2)', () => {
    const four = run('place', '--host', 'preset:xeon-2s-snc2', '--calibration', probeFile('other.json'), '--vm', vm, '--json');
    expect(four.code).toBe(2);
    expect(JSON.parse(four.out).error).toMatchObject({ code: 'ERR_CALIBRATION', path: 'calibration.nodes' });
    const unverified = run('place', '--host', 'preset:broadwell-2s', '--calibration', probeFile('unverified.json', { verified: false }), '--vm', vm);
    expect(unverified.code).toBe(2);
    expect(unverified.err).toMatch(/unverified\.json: verified: the probe could not confirm/);
    const bad = run('place', '--host', 'preset:broadwell-2s', '--calibration', probeFile('bad.json', { latency: [[90, -1], [155, 88]] }), '--vm', vm);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/bad\.json: calibration\.latency\[0\]\[1\]: expected a positive number/);
    const missing = run('place', '--host', 'preset:broadwell-2s', '--calibration', join(dir, 'nope.json'), '--vm', vm);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--calibration: cannot read .*nope\.json \(ENOENT\)/);
  });
});
