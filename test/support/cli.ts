/**
 * Runs the numaplan CLI in-process (the real `main`, which loads the command it runs), with output
 * captured: the fast way for tests to check a command's output and exit code.
 */
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';

/** What a run printed and its exit code. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `numaplan ARGV` in this process. */
export async function runCli(argv: readonly string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  let code = 0;
  const io: Io = {
    version: 'test',
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    setExitCode: (c) => {
      code = c;
    },
    exitCode: () => code,
  };
  const exit = await main(argv, io);
  return { code: exit, out, err };
}
