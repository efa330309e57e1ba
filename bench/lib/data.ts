/**
 * Where benchmarks find the real data sets: `NUMAPLAN_DATA` if set, else `../shared/data` beside
 * the repository (the same setting the test suites use).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The data folder in use. */
export const DATA_DIR = resolve(process.env.NUMAPLAN_DATA ?? join(REPO_ROOT, '..', 'shared', 'data'));

/** The path of a data set, or throws an Error saying why it is missing (the runner shows it). */
export function requireDataSet(relative: string): string {
  const path = join(DATA_DIR, relative);
  if (!existsSync(path)) throw new Error(`data set "${relative}" not found under ${DATA_DIR} (set NUMAPLAN_DATA)`);
  return path;
}
