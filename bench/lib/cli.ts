/** The benchmark runner's command line: options, discovery, running, output. */
import { basename } from 'node:path';
import { findBenchFiles, loadSuite, suiteNameOf } from './discover.js';
import { renderJson, renderSuite, renderText } from './report.js';
import { runSuite } from './runner.js';
import type { SuiteResult } from './types.js';

/** Parsed options of `npm run bench -- ...`. */
export interface BenchArgs {
  filter: string[];
  json: boolean;
  quick: boolean;
  runs?: number;
  help: boolean;
}

/** Usage text. */
export const USAGE = `usage: npm run bench -- [--filter NAME]... [--quick] [--runs N] [--json]

Runs every bench/*.bench.ts (each exports \`suite: BenchSuite\`, see bench/lib/types.ts) and prints
one table per suite: median, p95 and MAD per call over interleaved runs, and the ratio to a named
baseline. Progress goes to stderr, results to stdout.

  --filter NAME  only suites whose file name contains NAME (repeatable)
  --quick        few runs and small samples (smoke tests); numbers are indicative only
  --runs N       samples per case (default 11; --quick: 3)
  --json         print the results as one JSON document instead of tables
`;

/** Parses argv (without node and the script); throws an Error with a message for bad usage. */
export function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { filter: [], json: false, quick: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] as string;
    const [flag, inline] = raw.startsWith('--') && raw.includes('=') ? [raw.slice(0, raw.indexOf('=')), raw.slice(raw.indexOf('=') + 1)] : [raw, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--filter':
        args.filter.push(value());
        break;
      case '--json':
        args.json = true;
        break;
      case '--quick':
        args.quick = true;
        break;
      case '--runs': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error('--runs needs a positive integer');
        args.runs = n;
        break;
      }
      case '--help':
      case '-h':
        args.help = true;
        break;
      default:
        throw new Error(`unknown option "${raw}"`);
    }
  }
  return args;
}

/** Runs the benchmarks of `dir` as the command line asks; returns the exit code (0 ok, 1 a suite failed, 2 usage). */
export async function benchMain(argv: readonly string[], dir: string): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const files = findBenchFiles(dir).filter((f) => args.filter.length === 0 || args.filter.some((x) => basename(f).includes(x)));
  if (files.length === 0) {
    process.stderr.write(`bench: no benchmark matches ${args.filter.map((f) => `"${f}"`).join(', ') || '(none found)'}\n`);
    return 2;
  }
  const results: SuiteResult[] = [];
  for (const file of files) {
    const loaded = await loadSuite(file);
    const result: SuiteResult = loaded.suite
      ? await runSuite(loaded.suite, { quick: args.quick, ...(args.runs === undefined ? {} : { runs: args.runs }) }, basename(file))
      : { name: suiteNameOf(file), file: basename(file), status: 'failed', reason: loaded.error ?? 'not loaded', cases: [] };
    results.push(result);
    if (!args.json) process.stderr.write(`${renderSuite(result).split('\n')[0]} done\n`);
  }
  process.stdout.write(args.json ? renderJson(results, { quick: args.quick }) : renderText(results, { quick: args.quick }));
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}
