/**
 * The numaplan command line: an options table per command plus library calls. Every command takes
 * --json; exit codes are 0 ok, 1 does not fit, 2 bad usage or input.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerEmit } from './commands/emit.js';
import { registerExplain } from './commands/explain.js';
import { registerLaunch } from './commands/launch.js';
import { registerPlace } from './commands/place.js';
import { registerRelease } from './commands/release.js';
import { registerRun } from './commands/run.js';
import { registerSchema } from './commands/schema.js';
import { registerSimulate } from './commands/simulate.js';
import { registerTopology } from './commands/topology.js';
import { type Io, reportError } from './io.js';

/** Exit codes, as the README documents them. */
export const EXIT = { ok: 0, infeasible: 1, input: 2 } as const;

/** Builds the program; `io` collects output and the exit code. */
export function buildProgram(io: Io): Command {
  const program = new Command('numaplan')
    .description(
      'NUMA placement, made automatic, explained and checkable.\n' +
        'See a host as it is, decide where a VM or process goes, and emit the configuration.',
    )
    .version(io.version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
    })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Exit codes: 0 success, 1 the request does not fit, 2 bad usage or input.

Examples:
  numaplan topology                          this host, at a glance
  numaplan topology --from preset:epyc-2s-nps4 --json
  numaplan topology --from sysfs:./capture --summary --json
  numaplan topology --from preset:broadwell-2s --format hwloc-xml > host.xml
  numaplan schema topology                   the JSON Schema of --json output`,
  );
  registerTopology(program, io);
  registerSchema(program, io);
  registerPlace(program, io);
  registerExplain(program, io);
  registerRelease(program, io);
  registerEmit(program, io);
  registerRun(program, io);
  registerLaunch(program, io);
  registerSimulate(program, io);
  return program;
}

/** Runs the CLI on argv (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return io.exitCode();
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return EXIT.input;
    }
    return reportError(io, err, argv.includes('--json'));
  }
}

function processIo(): Io {
  let code = 0;
  return {
    version: packageVersion(),
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    setExitCode: (c) => {
      code = c;
    },
    exitCode: () => code,
  };
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
