/** Test harness: the CLI commands of the emit/apply area on a commander program, output captured. */
import { Command, CommanderError } from 'commander';
import { registerEmit } from '../src/cli/commands/emit.js';
import { registerLaunch } from '../src/cli/commands/launch.js';
import { registerPlace } from '../src/cli/commands/place.js';
import { registerRun } from '../src/cli/commands/run.js';
import { type Io, reportError } from '../src/cli/io.js';

/** What a command printed and its exit code. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `numaplan ARGV` in-process with place, emit, run and launch registered. */
export async function cli(argv: string[]): Promise<CliResult> {
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
  const program = new Command('numaplan').exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  registerPlace(program, io);
  registerEmit(program, io);
  registerRun(program, io);
  registerLaunch(program, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    code = e instanceof CommanderError ? 2 : reportError(io, e, argv.includes('--json'));
  }
  return { code, out, err };
}
