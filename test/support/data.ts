/**
 * Where the real data sets live (hwloc captures, numactl outputs, traces, packet captures).
 *
 * Default: `../shared/data` beside the repository; override with NUMAPLAN_DATA=/path/to/data.
 * Suites that need a data set call `dataSet(name)`: when the folder is missing they are skipped with
 * the reason printed, except under CI=true, where a missing data set is a failure.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The data folder in use. */
export const DATA_DIR = resolve(process.env.NUMAPLAN_DATA ?? join(repoRoot, '..', 'shared', 'data'));

/** The repository root (for tests that run the CLI). */
export const REPO_ROOT = repoRoot;

/** True under CI, where nothing may be skipped for want of data or tools. */
export const IN_CI = process.env.CI === 'true';

/**
 * Resolves a data set folder or file, e.g. dataSet('hwloc/linux'). Returns null (and says why) when
 * absent outside CI; throws under CI=true.
 */
export function dataSet(relative: string): string | null {
  const path = join(DATA_DIR, relative);
  if (existsSync(path)) return path;
  const why = `data set "${relative}" not found under ${DATA_DIR} (set NUMAPLAN_DATA to its folder)`;
  if (IN_CI) throw new Error(`${why}; CI=true requires it`);
  console.warn(`SKIPPED: ${why}`);
  return null;
}
