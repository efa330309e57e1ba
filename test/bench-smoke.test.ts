/**
 * The benchmark runner works: a tiny in-memory suite through the runner and the report, file
 * discovery, option parsing, and the real topology benchmark end to end under --quick.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../bench/lib/cli.js';
import { findBenchFiles, loadSuite } from '../bench/lib/discover.js';
import { renderJson, renderText } from '../bench/lib/report.js';
import { runSuite } from '../bench/lib/runner.js';
import { mad, median, quantile } from '../bench/lib/stats.js';
import type { BenchSuite, SuiteResult } from '../bench/lib/types.js';
import { dataSet, IN_CI, REPO_ROOT } from './support/data.js';
import { tool } from './support/tools.js';

/** A virtual clock: cases "take" exactly the milliseconds they add, whatever the machine is doing. */
let now = 0;
const clock = (): number => now;
const spin = (ms: number): void => {
  now += ms;
};

const work = mkdtempSync(join(tmpdir(), 'numaplan-bench-smoke-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('bench runner', () => {
  it('computes robust statistics', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.95)).toBeCloseTo(4.8);
    expect(mad([1, 1, 2, 2, 4, 6, 9])).toBe(1);
  });

  it('runs a suite: medians, baselines, ratios, unavailable rows, goal, setup and teardown', async () => {
    const events: string[] = [];
    let tmp = '';
    const suite: BenchSuite = {
      name: 'tiny',
      goal: { text: 'fast at least as fast as slow', maxRatio: 1 },
      setup: (ctx) => {
        tmp = ctx.tmpdir();
        events.push('setup');
      },
      cases: () => [
        { name: 'fast', run: () => spin(0.2), baseline: 'slow' },
        { name: 'slow', alias: 'the slow one', run: () => spin(2) },
        {
          name: 'async',
          run: async () => {
            await new Promise((r) => setImmediate(r));
            now += 0.5;
          },
        },
        {
          name: 'broken',
          run: () => {
            throw new Error('reader not built yet');
          },
          baseline: 'slow',
        },
        { name: 'skipped', unavailable: () => 'tool missing', run: () => undefined },
      ],
      teardown: () => {
        events.push('teardown');
      },
    };
    const logs: string[] = [];
    const r = await runSuite(suite, { quick: true, runs: 3, log: (m) => logs.push(m), clock });
    expect(r.status).toBe('ok');
    expect(events).toEqual(['setup', 'teardown']);
    expect(existsSync(tmp)).toBe(false);
    const byName = Object.fromEntries(r.cases.map((c) => [c.name, c]));
    expect(byName.fast?.status).toBe('ok');
    expect(byName.fast?.samples).toBe(3);
    expect(byName.fast?.median).toBeCloseTo(0.2, 9);
    expect(byName.slow?.median).toBeCloseTo(2, 9);
    expect(byName.fast?.batch).toBeGreaterThan(byName.slow?.batch ?? Number.POSITIVE_INFINITY);
    expect(byName.fast?.ratio).toBeCloseTo(0.1, 9);
    expect(byName.async?.status).toBe('ok');
    expect(byName.broken).toMatchObject({ status: 'unavailable', reason: 'reader not built yet' });
    expect(byName.broken?.ratio).toBeUndefined();
    expect(byName.skipped).toMatchObject({ status: 'unavailable', reason: 'tool missing' });
    expect(r.goal).toMatchObject({ met: true, compared: 1, meeting: 1 });
    expect(logs.some((l) => l.startsWith('[tiny] round 3/3'))).toBe(true);

    const text = renderText([r], { quick: true });
    expect(text).toMatch(/^## tiny/);
    expect(text).toMatch(/case\s+median\s+p95\s+MAD\s+runs\s+vs baseline/);
    expect(text).toMatch(/fast .* 0\.10x the slow one/);
    expect(text).toContain('not available: reader not built yet');
    expect(text).toContain('goal: fast at least as fast as slow — met (1/1');
    const json = JSON.parse(renderJson([r], { quick: true })) as { suites: SuiteResult[] };
    expect(json.suites[0]?.cases).toHaveLength(5);
  });

  it('judges absolute goals with a check, and says when a goal has no judge', async () => {
    const quiet = { quick: true, runs: 1, log: () => undefined };
    const cases = [{ name: 'noop', run: () => undefined }];
    const fast = await runSuite({ name: 'abs', goal: { text: 'noop under 1 s', check: (c) => (c[0]?.median ?? 1e9) < 1000 }, cases }, quiet);
    expect(fast.goal).toMatchObject({ met: true, judged: 'check' });
    expect(renderText([fast], { quick: true })).toContain('goal: noop under 1 s — met');
    const plain = await runSuite({ name: 'plain', goal: { text: 'be quick' }, cases }, quiet);
    expect(plain.goal).toMatchObject({ met: null, judged: 'none' });
    expect(renderText([plain], { quick: true })).toContain('goal: be quick — judge from the medians');
  });

  it('reports a failing setup as a failed suite, not a crash', async () => {
    const r = await runSuite(
      {
        name: 'bad',
        setup: () => {
          throw new Error('no data');
        },
        cases: [{ name: 'x', run: () => undefined }],
      },
      { quick: true, log: () => undefined },
    );
    expect(r).toMatchObject({ status: 'failed', reason: 'no data', cases: [] });
    expect(renderText([r], { quick: true })).toContain('suite not run: no data');
  });

  it('discovers *.bench.ts files and loads their suite export', async () => {
    writeFileSync(join(work, 'good.bench.ts'), "export const suite = { name: 'good', cases: [{ name: 'noop', run: () => 1 }] };\n");
    writeFileSync(join(work, 'nosuite.bench.ts'), 'export const other = 1;\n');
    writeFileSync(join(work, 'helper.ts'), 'export const x = 1;\n');
    const files = findBenchFiles(work);
    expect(files.map((f) => f.slice(work.length + 1))).toEqual(['good.bench.ts', 'nosuite.bench.ts']);
    expect((await loadSuite(files[0] as string)).suite?.name).toBe('good');
    expect((await loadSuite(files[1] as string)).error).toMatch(/does not export/);
    expect(findBenchFiles(join(REPO_ROOT, 'bench')).some((f) => f.endsWith('topology.bench.ts'))).toBe(true);
  });

  it('parses its options', () => {
    expect(parseArgs(['--filter', 'topology', '--quick', '--json'])).toEqual({ filter: ['topology'], json: true, quick: true, help: false });
    expect(parseArgs(['--filter=place', '--runs', '7'])).toMatchObject({ filter: ['place'], runs: 7 });
    expect(() => parseArgs(['--runs', '0'])).toThrow(/positive/);
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown option/);
  });
});

describe('npm run bench -- --quick --filter topology', () => {
  const data = dataSet('hwloc/linux');
  const lstopo = tool('lstopo-no-graphics');

  it('runs the topology benchmark end to end and prints JSON', () => {
    const tsx = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
    const r = spawnSync(tsx, ['bench/run.ts', '--quick', '--runs', '2', '--filter', 'topology', '--json'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(r.stderr).toContain('[topology] round 2/2');
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { suites: SuiteResult[] };
    expect(doc.suites.map((s) => s.name)).toEqual(['topology']);
    const s = doc.suites[0] as SuiteResult;
    expect(s.status).toBe('ok');
    expect(s.goal?.text).toBe('numaplan at least as fast as hwloc');
    const generated = s.cases.filter((c) => c.name.startsWith('generated 1024 PU / 64 nodes'));
    expect(generated).toHaveLength(3);
    // In-process reading of the generated tree never depends on tools or data.
    expect(generated[0]).toMatchObject({ status: 'ok', samples: 2 });
    const expectOk = (prefix: string): void => {
      const cases = s.cases.filter((x) => x.name.includes(prefix));
      expect(cases.length, `cases named "${prefix}"`).toBeGreaterThan(0);
      for (const c of cases) expect(c.status, `${c.name}: ${c.reason}`).toBe('ok');
    };
    if (lstopo) expectOk('lstopo');
    if (data) expect(s.cases[0]?.name).toMatch(/^256ppc-8n8s4t: /);
    if (data && lstopo) expect(s.cases[0]?.ratio).toBeGreaterThan(0);
    if (IN_CI || existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'))) expectOk('numaplan topology');
  });
});
