/** `numaplan simulate` as a command: JSON contract, CSV, plots, input errors (exit 2). */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './support/cli.js';

const simulate = (args: string[]): Promise<CliResult> => runCli(['simulate', ...args]);

const dir = mkdtempSync(join(tmpdir(), 'numaplan-sim-cli-'));
const tracePath = join(dir, 'trace.csv');
// 12,000 VMs of 4 cores / 8 GB arriving once a second, living 50 s: a 2-server fleet fills up. With
// 24,000 events, start offsets (event rows 1000-9998) always leave thousands of arrivals.
writeFileSync(tracePath, `vmid,cpu,mem,at,lt\n${Array.from({ length: 12000 }, (_, i) => `${i},4,8,${i},50`).join('\n')}\n`);

describe('numaplan simulate', () => {
  it('--json: results with policy and placedBeforeFailure, and the seed', async () => {
    const r = await simulate(['--trace', tracePath, '--mode', 'vmagent', '--scenario', 'fading', '--servers', '2', '--starts', '3', '--seed', '5', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { seed: number; results: { policy: string; placedBeforeFailure: number }[] };
    expect(doc.seed).toBe(5);
    expect(doc.results.map((x) => x.policy)).toEqual(['numaplan', 'first-fit', 'vmagent-best-fit']);
    // 2 servers = 160 cores = 40 VMs of 4 cores; fading never frees any.
    for (const x of doc.results) expect(x.placedBeforeFailure).toBe(40);
  });

  it('table by default (with the seed), CSV with --csv, SVG plots with --plot', async () => {
    const table = await simulate(['--trace', tracePath, '--scenario', 'recovering', '--servers', '1', '--horizon', '2000', '--policies', 'numaplan,first-fit', '--seed', '9']);
    expect(table.code).toBe(0);
    expect(table.out).toContain('seed 9');
    expect(table.out).toMatch(/numaplan\s+\d/);
    const csv = await simulate(['--trace', tracePath, '--scenario', 'recovering', '--servers', '1', '--horizon', '2000', '--csv', '--plot', join(dir, 'plots')]);
    expect(csv.out.split('\n')[0]).toMatch(/^policy,placedBeforeFailure,/);
    expect(csv.out.trim().split('\n')).toHaveLength(4);
    for (const f of ['utilisation.svg', 'placed-before-failure.svg', 'acceptance.svg', 'latency-ratio.svg']) {
      const svg = readFileSync(join(dir, 'plots', f), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    }
  });

  // The workers run the built JavaScript: needs `npm run build` (done by `npm test`; required under CI).
  const built = existsSync(join(import.meta.dirname, '..', 'dist', 'sim-worker', 'fleet-worker.js'));
  it.skipIf(!built && process.env.CI !== 'true')('fleet mode: --workers 2 (and the default, auto) give the same report as this thread', async () => {
    const args = ['--mode', 'fleet', '--synthetic', '600', '--hosts', 'preset:broadwell-2s*2,preset:epyc-2s-nps4*1', '--load', '1.5', '--policies', 'numaplan,first-fit,host-best-fit', '--seed', '3', '--json', '--no-progress'];
    const one = await simulate([...args, '--workers', '0']);
    const auto = await simulate(args);
    const two = await simulate([...args, '--workers', '2']);
    expect([one.code, two.code]).toEqual([0, 0]);
    const strip = (text: string): unknown => {
      const r = JSON.parse(text) as { results: { decisionsPerSecond: number }[] };
      return { ...r, results: r.results.map((x) => ({ ...x, decisionsPerSecond: 0 })) };
    };
    expect(strip(two.out)).toEqual(strip(one.out));
    expect(auto.code).toBe(0);
    expect(strip(auto.out)).toEqual(strip(one.out));
    expect((JSON.parse(one.out) as { results: { accepted: number }[] }).results[0]?.accepted).toBeGreaterThan(0);
  });
  it('input errors exit 2 and name the field', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'vmid,cpu,mem,at,lt\n0,4,16,0,1\n1,4,x,0,1\n');
    const r = await simulate(['--trace', bad, '--scenario', 'fading', '--servers', '2']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('bad.csv:3: mem:');
    const skip = await simulate(['--trace', bad, '--scenario', 'fading', '--servers', '2', '--skip-bad']);
    expect(skip.code).toBe(0);
    expect(skip.err).toContain('skipped 1 bad row');
    expect((await simulate(['--trace', tracePath, '--scenario', 'fading', '--servers', '2', '--policies', 'nope'])).code).toBe(2);
    expect((await simulate(['--trace', tracePath, '--scenario', 'fading'])).err).toContain('--servers');
    expect(existsSync(tracePath)).toBe(true);
  });
});
