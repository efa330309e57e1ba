/**
 * `simulate --mode fleet --calibration FILE`: the latency ratios of calibrated host groups come from
 * the probe's measured matrix. Metamorphic: a matrix whose ratios equal SLIT's gives the very same
 * report as no calibration; a slower remote node raises interleave's ratios; the worker threads
 * receive the calibration too. The built CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';

const CLI = join(REPO_ROOT, 'bin', 'numaplan.js');
const dir = mkdtempSync(join(tmpdir(), 'numaplan-simcal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function probe(name: string, latency: number[][]): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ schema: 'numaplan.probe/v1', hostname: 'x', measuredAt: '2025-01-01T00:00:00Z', method: 'test', nodes: [0, 1], latency, bandwidth: [[1, 1], [1, 1]], verified: true }));
  return path;
}

interface Report {
  fleet: { groups: { spec: string; calibration?: string }[] };
  results: { policy: string; latencyRatioMean: number; latencyRatioP95: number; accepted: number; latencyHistogram: unknown }[];
}

function simulate(workers: string, ...extra: string[]): Report {
  const r = spawnSync(
    process.execPath,
    [CLI, 'simulate', '--mode', 'fleet', '--synthetic', '1500', '--seed', '5', '--hosts', 'preset:broadwell-2s*3,preset:xeon-2s-snc2*1', '--policies', 'numaplan,interleave', '--workers', workers, '--no-progress', '--json', ...extra],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

const figures = (r: Report) => r.results.map((x) => ({ policy: x.policy, mean: x.latencyRatioMean, p95: x.latencyRatioP95, accepted: x.accepted, histogram: x.latencyHistogram }));

describe.skipIf(!existsSync(join(REPO_ROOT, 'dist')))('simulate --calibration', () => {
  it('a matrix with SLIT ratios changes nothing; a slower remote node raises interleave latency; workers get it too', () => {
    const plain = simulate('0');
    const same = simulate('0', '--calibration', probe('same.json', [[100, 210], [210, 100]]));
    expect(same.fleet.groups.map((g) => g.calibration !== undefined)).toEqual([true, false]);
    expect(figures(same)).toEqual(figures(plain));
    const slow = simulate('0', '--calibration', probe('slow.json', [[100, 400], [400, 100]]));
    const il = (r: Report) => r.results.find((x) => x.policy === 'interleave')?.latencyRatioMean as number;
    expect(il(slow)).toBeGreaterThan(il(plain));
    expect(figures(simulate('2', '--calibration', probe('slow2.json', [[100, 400], [400, 100]])))).toEqual(figures(slow));
  });

  it('refuses a calibration no host group can take, and in vmagent mode (exit 2)', () => {
    const r = spawnSync(process.execPath, [CLI, 'simulate', '--mode', 'fleet', '--synthetic', '10', '--hosts', 'preset:xeon-2s-snc2*1', '--calibration', probe('two.json', [[1, 2], [2, 1]])], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--calibration: measured on nodes 0,1; no host group/);
    const v = spawnSync(process.execPath, [CLI, 'simulate', '--trace', 'x.csv', '--scenario', 'fading', '--servers', '2', '--calibration', probe('v.json', [[1, 2], [2, 1]])], { encoding: 'utf8' });
    expect(v.status).toBe(2);
    expect(v.stderr).toMatch(/fleet mode only/);
  });
});
