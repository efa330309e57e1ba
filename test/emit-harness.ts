/** Test harness: the CLI in-process for the emit/apply suites, output captured. */
import { type CliResult, runCli } from './support/cli.js';

/** What a command printed and its exit code. */
export type { CliResult };

/** Runs `numaplan ARGV` in-process. */
export const cli = (argv: string[]): Promise<CliResult> => runCli(argv);
