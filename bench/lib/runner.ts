/**
 * Runs benchmark suites. Every case is warmed up once (which also tells whether it is available),
 * then sampled in interleaved rounds — round r runs every case once — so that a burst of load on a
 * shared machine hits all cases alike and their ratios stay fair. Fast in-process calls are batched
 * so that one sample lasts long enough to time; a process is one call per sample. Reported: the
 * median of the samples, p95, MAD.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarizeSamples } from './stats.js';
import type { BenchCase, BenchContext, BenchGoal, BenchSuite, CaseResult, RunOptions, SuiteResult } from './types.js';

/** Samples per case unless the suite or the command line says otherwise. */
export const DEFAULT_RUNS = 11;
/** Samples per case under `--quick`. */
export const QUICK_RUNS = 3;
/** A batched sample of in-process calls lasts at least this long (ms); shorter under --quick. */
const SAMPLE_MS = 20;
const QUICK_SAMPLE_MS = 2;
/** Upper bound on calls per sample, so a near-empty function cannot spin for ages. */
const MAX_BATCH = 100_000;

const stderr = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

/** Runs one suite and returns its results; never throws for a failing suite or case. */
export async function runSuite(suite: BenchSuite, options: RunOptions, file?: string): Promise<SuiteResult> {
  const log = options.log ?? stderr;
  const dirs: string[] = [];
  const ctx: BenchContext = {
    quick: options.quick,
    tmpdir: (prefix = 'numaplan-bench-') => {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    log: (m) => log(`[${suite.name}] ${m}`),
  };
  const base: SuiteResult = {
    name: suite.name,
    ...(suite.description === undefined ? {} : { description: suite.description }),
    ...(file === undefined ? {} : { file }),
    status: 'ok',
    cases: [],
  };
  try {
    if (suite.setup) {
      ctx.log('setup');
      await suite.setup(ctx);
    }
    base.cases = await measureCases(suite, options, ctx);
  } catch (err) {
    base.status = 'failed';
    base.reason = message(err);
    ctx.log(`failed: ${base.reason}`);
  } finally {
    try {
      await suite.teardown?.();
    } catch (err) {
      ctx.log(`teardown failed: ${message(err)}`);
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  if (suite.goal) base.goal = judge(suite.goal, base);
  if (suite.notes && base.status === 'ok') {
    try {
      base.notes = suite.notes(base.cases);
    } catch (err) {
      base.notes = [`notes failed: ${message(err)}`];
    }
  }
  return base;
}

/** Whether a suite met its goal: by its own check, else every ratio at or below maxRatio. */
function judge(goal: BenchGoal, result: SuiteResult): NonNullable<SuiteResult['goal']> {
  const { check, ...text } = goal;
  const compared = result.cases.filter((c) => c.ratio !== undefined);
  const max = goal.maxRatio ?? 1;
  const meeting = compared.filter((c) => (c.ratio as number) <= max).length;
  let met: boolean | null = compared.length === 0 ? null : meeting === compared.length;
  if (result.status !== 'ok') met = null;
  else if (check) {
    try {
      met = check(result.cases);
    } catch {
      met = null;
    }
  }
  return { ...text, met, compared: compared.length, meeting, judged: check ? 'check' : compared.length > 0 ? 'ratios' : 'none' };
}

interface Live {
  bench: BenchCase;
  batch: number;
  samples: number[];
  result: CaseResult;
}

async function measureCases(suite: BenchSuite, options: RunOptions, ctx: BenchContext): Promise<CaseResult[]> {
  const cases = typeof suite.cases === 'function' ? suite.cases() : suite.cases;
  const runs = Math.max(1, options.runs ?? (options.quick ? Math.min(QUICK_RUNS, suite.runs ?? QUICK_RUNS) : (suite.runs ?? DEFAULT_RUNS)));
  const sampleMs = options.quick ? QUICK_SAMPLE_MS : SAMPLE_MS;
  const clock = options.clock ?? hrMs;
  const names = new Set<string>();
  const live: Live[] = [];
  const results: CaseResult[] = [];
  for (const bench of cases) {
    if (names.has(bench.name)) throw new Error(`case "${bench.name}" is defined twice`);
    names.add(bench.name);
    const result: CaseResult = { name: bench.name, status: 'ok', ...(bench.baseline === undefined ? {} : { baseline: bench.baseline }) };
    results.push(result);
    const reason = bench.unavailable?.();
    if (reason) {
      unavailable(result, reason, ctx);
      continue;
    }
    let batch = 1;
    if (bench.noWarmup) {
      live.push({ bench, batch, samples: [], result });
      continue;
    }
    ctx.log(`warm-up: ${bench.name}`);
    try {
      if (bench.selfTimed) {
        ownDurations(await bench.run());
        live.push({ bench, batch, samples: [], result });
        continue;
      }
      let perCall = await timeCalls(bench, 1, clock);
      // Calibrate: double the batch while the fastest per-call time seen says a sample would be
      // shorter than sampleMs. The minimum, because a loaded machine only ever adds time.
      while (!bench.process && perCall * batch < sampleMs && batch < MAX_BATCH) {
        batch = Math.min(MAX_BATCH, batch * 2);
        perCall = Math.min(perCall, (await timeCalls(bench, batch, clock)) / batch);
      }
      if (!bench.process) batch = Math.min(MAX_BATCH, Math.max(1, Math.ceil(sampleMs / Math.max(perCall, 1e-6))));
    } catch (err) {
      unavailable(result, message(err), ctx);
      continue;
    }
    live.push({ bench, batch, samples: [], result });
  }
  for (let round = 0; round < runs; round++) {
    ctx.log(`round ${round + 1}/${runs}`);
    for (const c of live) {
      if (c.result.status !== 'ok') continue;
      try {
        if (c.bench.selfTimed) c.samples.push(...ownDurations(await c.bench.run()));
        else c.samples.push((await timeCalls(c.bench, c.batch, clock)) / c.batch);
      } catch (err) {
        unavailable(c.result, `failed in round ${round + 1}: ${message(err)}`, ctx);
      }
    }
  }
  for (const c of live) {
    if (c.result.status !== 'ok') continue;
    Object.assign(c.result, summarizeSamples(c.samples), { samples: c.samples.length, batch: c.batch });
  }
  for (const r of results) {
    if (r.baseline === undefined) continue;
    const b = results.find((x) => x.name === r.baseline);
    if (!b) throw new Error(`case "${r.name}" names baseline "${r.baseline}", which is not a case of this suite`);
    r.baselineLabel = cases.find((x) => x.name === r.baseline)?.alias ?? r.baseline;
    if (r.median !== undefined && b.median !== undefined && b.median > 0) r.ratio = r.median / b.median;
  }
  return results;
}

/** The durations a self-timed case returned, checked. */
function ownDurations(out: unknown): number[] {
  if (!Array.isArray(out) || out.length === 0 || out.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0)) {
    throw new Error('a selfTimed case must return a non-empty array of durations in ms');
  }
  return out as number[];
}

/** Total milliseconds of `n` consecutive calls. */
async function timeCalls(bench: BenchCase, n: number, clock: () => number): Promise<number> {
  const start = clock();
  for (let i = 0; i < n; i++) {
    const out = bench.run();
    if (out instanceof Promise) await out;
  }
  return clock() - start;
}

/** The monotonic high-resolution clock, in milliseconds. */
function hrMs(): number {
  return performance.now();
}

function unavailable(result: CaseResult, reason: string, ctx: BenchContext): void {
  result.status = 'unavailable';
  result.reason = reason;
  ctx.log(`not available: ${result.name}: ${reason}`);
}

function message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}
