/**
 * `numaplan run --proc SPEC -- CMD ARGS`: place a process on this machine (or take a placement from
 * a file), start it bound (numactl: CPUs and memory policy; taskset: CPUs only), check from /proc
 * that the kernel did what was asked, and report. A binding naming a CPU or node this machine lacks
 * is refused before anything starts (exit 2).
 */
import { type Command, Option } from 'commander';
import { checkBindingOnHost } from '../../adapters/apply/host-check.js';
import { type BindingReport, exitStatusOf, runBound } from '../../adapters/apply/run-bound.js';
import { loadTopology } from '../../adapters/source.js';
import { EmitError } from '../../core/emit/errors.js';
import type { PlacementLike } from '../../core/emit/guest.js';
import { parseCpuList } from '../../core/topology/cpulist.js';
import { parseSize } from '../../core/topology/sizes.js';
import { type Io, writeJson } from '../io.js';

/** Exit code of a refusal or a binding the kernel did not take. */
const EXIT_INFEASIBLE = 1;

interface RunOptions {
  proc?: string;
  placement?: string;
  name?: string;
  memPolicy?: 'bind' | 'interleave' | 'preferred' | 'none';
  binder: 'auto' | 'numactl' | 'taskset';
  settle: string;
  readyLine?: string;
  reserveCpus?: string;
  reserveMemory?: string;
  json?: boolean;
}

/** The CPUs and memory nodes of a placement. */
export function bindingOf(p: PlacementLike): { cpus: number[]; nodes: number[] } {
  const cpus = [...new Set(p.cpus)].sort((a, b) => a - b);
  const nodes = Object.entries(p.memoryByNode)
    .filter(([, b]) => b > 0)
    .map(([n]) => Number(n))
    .sort((a, b) => a - b);
  return { cpus, nodes };
}

/** Renders a binding report for people. */
export function renderBindingReport(r: BindingReport): string {
  const when = r.ok ? (r.checkedWhileRunning ? ' (checked at start and while running)' : ' (checked at start; the command ended before the running check)') : '';
  const lines = [`${r.ok ? 'bound' : 'NOT bound as planned'}${when}: pid ${r.pid} via ${r.argv.join(' ')}`];
  for (const c of r.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.phase === 'start' ? 'start  ' : 'running'} ${c.name}: ${c.detail}`);
  lines.push(`  exit: ${r.signal ? `signal ${r.signal}` : String(r.exitCode)}`);
  return `${lines.join('\n')}\n`;
}

/** Registers `numaplan run`. */
export function registerRun(program: Command, io: Io): void {
  program
    .command('run')
    .description('start a process bound as placed on this machine, and verify the binding from /proc')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--proc <spec>', 'the process: name=job,vcpus=2,memory=1G[,cpus=LIST][,nodes=LIST]... (placed on this machine)')
    .option('--placement <file>', 'or a placement file from `numaplan place --json`')
    .option('--name <name>', 'with --placement: which one')
    .addOption(new Option('--mem-policy <policy>', "memory policy (default: the placement's, from numa=)").choices(['bind', 'interleave', 'preferred', 'none']))
    .addOption(new Option('--binder <tool>', 'numactl (CPUs + memory) or taskset (CPUs only)').choices(['auto', 'numactl', 'taskset']).default('auto'))
    .option('--settle <ms>', 'let the command run this long before checking', '300')
    .option('--ready-line <text>', 'check once the command prints this line on its standard output (instead of after --settle)')
    .option('--reserve-cpus <list>', "host CPUs kept for the host (default: CPU 0's core)")
    .option('--reserve-memory <size>', 'memory kept for the host')
    .option('--json', 'JSON report')
    .addHelpText(
      'after',
      `
The binding is read from /proc twice: at start (the command's PID, stopped just before it execs
the command) and again after --settle ms, or once the command prints the --ready-line line, while it
runs (its own memory, pages per node). A command that ends sooner is judged on the first reading.
With --json the command's standard output goes to standard error.

Exit codes: the command's own when bound as planned (128 + N when killed by signal N); 1 when it
does not fit or the kernel's view differs from the plan; 2 when the binding names a CPU or node this
machine lacks (nothing started).

Examples:
  numaplan run --proc name=job,vcpus=1,memory=512M -- sleep 1
  numaplan run --proc name=job,vcpus=1,memory=512M,cpus=1 --json -- node -e "..."
  numaplan run --proc name=job,vcpus=2,memory=1G,nodes=0-1,numa=interleave -- ./my-job
  numaplan run --placement job.json -- ./server`,
    )
    .action(async (command: string[], opts: RunOptions) => {
      const host = await loadTopology('sysfs');
      let placement: PlacementLike;
      if ((opts.proc === undefined) === (opts.placement === undefined)) throw new EmitError('--proc', 'give either --proc SPEC or --placement FILE');
      if (opts.proc !== undefined) {
        // The placement engine (and the request schema) only when there is something to place.
        const [{ place }, { parseVmSpec }, { createHostState }, { renderRefusal }] = await Promise.all([
          import('../../core/placement/place.js'),
          import('../../core/placement/request.js'),
          import('../../core/placement/state.js'),
          import('../render/placement-text.js'),
        ]);
        const request = parseVmSpec(opts.proc);
        checkBindingOnHost(request.cpus ?? [], request.nodes ?? [], host);
        const reserve = {
          ...(opts.reserveCpus !== undefined ? { cpus: parseCpuList(opts.reserveCpus) } : {}),
          ...(opts.reserveMemory !== undefined ? { memory: parseSize(opts.reserveMemory) } : {}),
        };
        const result = place(request, createHostState(host, reserve));
        if (!result.ok) {
          if (opts.json) writeJson(io, { ok: false, reasons: result.reasons, hints: result.hints });
          else io.err(renderRefusal(request.name, result.reasons, result.hints));
          io.setExitCode(EXIT_INFEASIBLE);
          return;
        }
        placement = result.placement;
      } else {
        placement = (await import('../placement-input.js')).readOnePlacement(opts.placement as string, opts.name);
      }
      const { cpus, nodes } = bindingOf(placement);
      const policy = opts.memPolicy ?? placement.memoryPolicy ?? 'bind';
      checkBindingOnHost(cpus, policy === 'none' ? [] : nodes, host);
      const settle = Number(opts.settle);
      if (!Number.isFinite(settle) || settle < 0) throw new EmitError('--settle', `expected milliseconds, got "${opts.settle}"`);
      const report = await runBound({
        cpus,
        nodes,
        policy,
        command: command[0] as string,
        args: command.slice(1),
        binder: opts.binder,
        settleMs: settle,
        ...(opts.readyLine !== undefined ? { readyLine: opts.readyLine } : {}),
        stdio: opts.json ? 'to-stderr' : 'inherit',
        onRunningCheck: (checks) => {
          const bad = checks.filter((c) => !c.ok);
          io.err(`numaplan run: checked while running: ${bad.length === 0 ? 'bound as planned' : `NOT as planned (${bad.map((c) => c.name).join(', ')})`}\n`);
        },
      });
      if (opts.json) writeJson(io, { name: placement.name, ...report });
      else io.err(renderBindingReport(report));
      io.setExitCode(report.ok ? exitStatusOf(report) : EXIT_INFEASIBLE);
    });
}
