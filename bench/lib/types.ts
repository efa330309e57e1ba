/**
 * The interface a benchmark file implements. A benchmark is a file `bench/<name>.bench.ts` that
 * exports `suite`:
 *
 * ```ts
 * import type { BenchSuite } from './lib/types.js';
 * export const suite: BenchSuite = {
 *   name: 'placement',
 *   goal: { text: 'numaplan places a VM in under 1 ms on a 64-node host', maxRatio: 1 },
 *   setup: async (ctx) => { ... },              // optional: build fixtures (ctx.tmpdir() for files)
 *   cases: [
 *     { name: 'ours', run: () => place(...), baseline: 'peer' },
 *     { name: 'peer', run: () => peerPlace(...) },
 *   ],
 *   teardown: async () => { ... },              // optional
 * };
 * ```
 *
 * `npm run bench` finds every such file, runs the cases and prints one table per suite; nothing
 * else has to be registered anywhere.
 */

/** One timed operation. */
export interface BenchCase {
  /** Row label, unique within the suite. */
  name: string;
  /**
   * The operation; called once per iteration (a returned promise is awaited). Throwing on the
   * first call marks the case "not available" with the error's message, so a missing tool or an
   * unfinished feature shows as a row, not a crash.
   */
  run: () => unknown;
  /**
   * Name of another case of the same suite to compare with: the table shows this case's median
   * divided by the baseline's ("0.42x lstopo"), so below 1 means faster than the baseline.
   */
  baseline?: string;
  /** Short name other rows use when they compare with this one ("0.42x lstopo"); default: `name`. */
  alias?: string;
  /** Called after setup: a reason string makes the case "not available" without running it. */
  unavailable?: () => string | null | undefined;
  /**
   * True when one call is a whole external process (or otherwise long enough to time alone):
   * every sample is then a single call, never a batch.
   */
  process?: boolean;
  /**
   * True when `run()` times its own operations and returns (or resolves to) their durations in
   * milliseconds, e.g. 100 back-to-back round trips as latency tools measure them. Every returned
   * duration is one sample; the table reports their median and p95.
   */
  selfTimed?: boolean;
  /**
   * Skip the warm-up call (for cases that take minutes: their first timed call is also the check
   * that they run). Implies one call per sample.
   */
  noWarmup?: boolean;
}

/** What a suite is judged by: a sentence, and the ratio every compared case must stay under. */
export interface BenchGoal {
  /** E.g. "numaplan at least as fast as hwloc". */
  text: string;
  /** Every case with a baseline meets the goal when its ratio is at most this (default 1). */
  maxRatio?: number;
  /**
   * A custom judge for goals that are not ratios (e.g. "under 1 ms at 256 nodes"): true met,
   * false not met, null cannot tell (a case did not run). Replaces the ratio rule when given.
   */
  check?: (cases: readonly CaseResult[]) => boolean | null;
}

/** Helpers a suite's setup receives. */
export interface BenchContext {
  /** True under `--quick` (smoke tests): fixtures may be made smaller. */
  quick: boolean;
  /** A fresh temporary directory, removed after the suite's teardown. */
  tmpdir(prefix?: string): string;
  /** Progress message on stderr. */
  log(message: string): void;
}

/** A benchmark file's export. */
export interface BenchSuite {
  /** Short name, used by `--filter`. */
  name: string;
  /** One line saying what is measured. */
  description?: string;
  goal?: BenchGoal;
  /** Builds fixtures before any case runs. Throwing skips the suite with the message. */
  setup?: (ctx: BenchContext) => void | Promise<void>;
  /** The cases, or a function returning them after setup (when names depend on the fixtures). */
  cases: readonly BenchCase[] | (() => readonly BenchCase[]);
  teardown?: () => void | Promise<void>;
  /** Minimum samples per case (default 11; `--quick`: 3). The median of these is reported. */
  runs?: number;
  /** Lines printed under the table once the cases ran (figures the table's times do not show). */
  notes?: (cases: readonly CaseResult[]) => string[];
}

/** Statistics of one case. Times are milliseconds per call. */
export interface CaseResult {
  name: string;
  status: 'ok' | 'unavailable';
  /** Why the case did not run. */
  reason?: string;
  median?: number;
  p95?: number;
  /** Median absolute deviation from the median. */
  mad?: number;
  min?: number;
  /** Number of samples (the median is taken over these). */
  samples?: number;
  /** Calls per sample (1 for processes; more for fast in-process calls). */
  batch?: number;
  baseline?: string;
  /** The baseline's alias, for display. */
  baselineLabel?: string;
  /** median / baseline median, when both ran. */
  ratio?: number;
}

/** Results of one suite. */
export interface SuiteResult {
  name: string;
  description?: string;
  file?: string;
  status: 'ok' | 'failed';
  reason?: string;
  cases: CaseResult[];
  /** The suite's notes (see BenchSuite.notes). */
  notes?: string[];
  /** The goal and the verdict; `judged` says how: by the suite's check, by ratios, or not at all. */
  goal?: Omit<BenchGoal, 'check'> & { met: boolean | null; compared: number; meeting: number; judged: 'check' | 'ratios' | 'none' };
}

/** How to run. */
export interface RunOptions {
  quick: boolean;
  /** Samples per case, overriding the suite's and the defaults. */
  runs?: number;
  /** Progress sink (stderr by default). */
  log?: (message: string) => void;
  /** Milliseconds since an arbitrary origin (default: the monotonic high-resolution clock); tests give a virtual one. */
  clock?: () => number;
}
