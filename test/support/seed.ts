/**
 * One seed per test file for everything random in the suites: fast-check properties (set as
 * fast-check's global seed) and the suites' own seeded generators (`runSeed()`).
 *
 * Every run draws a fresh seed unless NUMAPLAN_SEED is set; a failing test is reported with the seed
 * of its file and the command that replays it exactly (see the summary reporter). A failure is a bug to
 * fix, not a seed to pin.
 */
import fc from 'fast-check';
import { beforeEach } from 'vitest';

function parseSeed(raw: string | undefined): number | null {
  if (raw === undefined || raw === '') return null;
  if (!/^-?\d+$/.test(raw.trim())) throw new Error(`NUMAPLAN_SEED: expected an integer, got "${raw}"`);
  return Number(raw.trim()) | 0;
}

const fromEnv = parseSeed(process.env.NUMAPLAN_SEED);
const SEED = fromEnv ?? (Math.floor(Math.random() * 2 ** 31) | 0);

/** The seed of this test file's run (NUMAPLAN_SEED, or a fresh one). */
export function runSeed(): number {
  return SEED;
}

fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: SEED });

// The reporter prints, for each failed test, the seed of its file and how to replay it.
beforeEach((ctx) => {
  (ctx.task.meta as { seed?: number }).seed = SEED;
});
