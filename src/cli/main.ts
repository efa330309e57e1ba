/**
 * The numaplan command line: an options table per command plus library calls. Every command takes
 * --json; exit codes are 0 ok, 1 does not fit, 2 bad usage or input.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { type Io, reportError } from './io.js';

/** Exit codes, as the README documents them. */
export const EXIT = { ok: 0, infeasible: 1, input: 2 } as const;

type Register = (program: Command, io: Io) => void;

/**
 * The commands, loaded on demand: a run of `numaplan topology` loads the topology code only, not the
 * service, simulator or RDMA stacks (start-up time is most of a short command's time). Help and
 * unknown commands load them all.
 */
const COMMANDS: readonly { name: string; load: () => Promise<Register> }[] = [
  { name: 'topology', load: async () => (await import('./commands/topology.js')).registerTopology },
  { name: 'schema', load: async () => (await import('./commands/schema.js')).registerSchema },
  { name: 'place', load: async () => (await import('./commands/place.js')).registerPlace },
  { name: 'explain', load: async () => (await import('./commands/explain.js')).registerExplain },
  { name: 'release', load: async () => (await import('./commands/release.js')).registerRelease },
  { name: 'rebalance', load: async () => (await import('./commands/rebalance.js')).registerRebalance },
  { name: 'apply-plan', load: async () => (await import('./commands/rebalance.js')).registerApplyPlan },
  { name: 'emit', load: async () => (await import('./commands/emit.js')).registerEmit },
  { name: 'run', load: async () => (await import('./commands/run.js')).registerRun },
  { name: 'launch', load: async () => (await import('./commands/launch.js')).registerLaunch },
  { name: 'simulate', load: async () => (await import('./commands/simulate.js')).registerSimulate },
  { name: 'serve', load: async () => (await import('./commands/serve.js')).registerServe },
  { name: 'agent', load: async () => (await import('./commands/agent.js')).registerAgent },
  { name: 'rdma', load: async () => (await import('./commands/rdma.js')).registerRdma },
  { name: 'host', load: async () => (await import('./commands/host.js')).registerHost },
  { name: 'probe', load: async () => (await import('./commands/probe.js')).registerProbe },
  { name: 'irq', load: async () => (await import('./commands/irq.js')).registerIrq },
];

/** The names of the commands, in the order `--help` lists them. */
export function commandNames(): string[] {
  return COMMANDS.map((c) => c.name);
}


/**
 * Builds the program; `io` collects output and the exit code. With `argv`, only the command it names
 * is loaded (all of them when it names none).
 */
export async function buildProgram(io: Io, argv: readonly string[] = []): Promise<Command> {
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
  const named = COMMANDS.find((c) => c.name === argv[0]);
  // The version needs no command at all; help and unknown commands list them all.
  const versionOnly = argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V');
  const wanted = named ? [named] : versionOnly ? [] : COMMANDS;
  const registers = await Promise.all(wanted.map((c) => c.load()));
  for (const register of registers) register(program, io);
  return program;
}

/** Runs the CLI on argv (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const program = await buildProgram(io, argv);
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
