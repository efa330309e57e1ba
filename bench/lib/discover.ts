/** Finds benchmark files (`*.bench.ts` beside the runner) and loads their `suite` export. */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchSuite } from './types.js';

/** A benchmark file and what it exports. */
export interface LoadedSuite {
  file: string;
  suite: BenchSuite | null;
  /** Why the file could not be loaded. */
  error?: string;
}

/** The `*.bench.ts` files of `dir`, sorted by name. */
export function findBenchFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort()
    .map((f) => join(dir, f));
}

/** The suite name a file would get when it fails to load: its name without `.bench.ts`. */
export function suiteNameOf(file: string): string {
  return basename(file).replace(/\.bench\.ts$/, '');
}

/** Imports a benchmark file; a missing or malformed `suite` export becomes an error, not a throw. */
export async function loadSuite(file: string): Promise<LoadedSuite> {
  try {
    const mod = (await import(pathToFileURL(file).href)) as { suite?: unknown };
    const s = mod.suite as BenchSuite | undefined;
    if (!s || typeof s.name !== 'string' || !(Array.isArray(s.cases) || typeof s.cases === 'function')) {
      return { file, suite: null, error: 'does not export `suite: BenchSuite` (name and cases)' };
    }
    return { file, suite: s };
  } catch (err) {
    return { file, suite: null, error: err instanceof Error ? err.message : String(err) };
  }
}
