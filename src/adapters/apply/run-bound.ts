/**
 * Start a process bound as placed (numactl: CPU affinity and memory policy; or taskset: CPU affinity
 * only), then check from /proc that the kernel did what was asked:
 * - Cpus_allowed_list equals the planned CPUs;
 * - Mems_allowed_list contains the planned nodes (the cgroup allows them);
 * - every anonymous, heap and stack mapping in numa_maps carries the planned policy
 *   ("bind:0-1", "interleave:0-1", "prefer:1") and has no pages outside the planned nodes
 *   (file-backed mappings are left out even where written to: their page counts include the
 *   shared page cache, which stays on the node that first read the file).
 *
 * The binding is checked twice. At start: the binder execs a small shell trampoline
 * (`/bin/sh -c 'kill -STOP $$; exec "$@"'`) that stops itself; its affinity and memory policy are
 * exactly what the command inherits through exec, so they are read while it is stopped, then it is
 * continued and execs the command under the same PID. While running: after the settle time, the
 * command's own mappings and pages are read again (when it still runs). A command that ends before
 * the second check (`-- true`) is therefore still judged, on what the kernel showed at start.
 * Commands are argv arrays, never shell strings.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { formatCpuList } from '../../core/topology/cpulist.js';
import { ApplyError } from './errors.js';
import { readNumaMaps, readTaskAffinity } from './proc-files.js';

/** The trampoline the binder runs: stops itself so the binding can be read, then execs the command. */
export const TRAMPOLINE = ['/bin/sh', '-c', 'kill -STOP $$; exec "$@"', 'numaplan-run'] as const;

/** How long the binder may take to reach the trampoline's stop (numactl or taskset start, then sh). */
export const START_TIMEOUT_MS = 10_000;

/** What to run and how to bind it. */
export interface RunBoundOptions {
  cpus: readonly number[];
  nodes: readonly number[];
  /** Memory policy; "none" binds CPUs only. Default bind. */
  policy?: 'bind' | 'interleave' | 'preferred' | 'none';
  command: string;
  args?: readonly string[];
  /** numactl (default when installed) or taskset (CPU affinity only). */
  binder?: 'numactl' | 'taskset' | 'auto';
  /** Milliseconds to let the command run (and touch its memory) before checking it again. Default 300. */
  settleMs?: number;
  /**
   * Check again once the command prints this line on its standard output (instead of after
   * `settleMs`): a command that says when it has touched its memory is judged on all of it, however
   * slow the machine. Its output still reaches ours (or `stdout` with stdio 'pipe').
   */
  readyLine?: string;
  /** Called right after the check while running (for progress messages). */
  onRunningCheck?: (checks: readonly BindingCheck[]) => void;
  /** /proc root. Default "/". */
  root?: string;
  /** Where the command's output goes. Default inherit. */
  stdio?: 'inherit' | 'ignore' | 'pipe' | 'to-stderr';
}

/** One check of the binding: at start (the stopped trampoline) or while the command runs. */
export interface BindingCheck {
  name: string;
  phase: 'start' | 'running';
  ok: boolean;
  detail: string;
}

/** What /proc showed at one moment. */
export interface BindingObservation {
  cpusAllowed: string;
  memsAllowed: string;
  policies: string[];
  anonPagesByNode: Record<string, number>;
}

/** What happened. */
export interface BindingReport {
  pid: number;
  binder: 'numactl' | 'taskset';
  argv: string[];
  planned: { cpus: string; nodes: string; policy: string };
  /** What /proc showed while the command ran (null when it ended before the settle time). */
  observed: BindingObservation | null;
  /** What /proc showed at start, before the exec of the command (null when the binder never got there). */
  observedAtStart: BindingObservation | null;
  checks: BindingCheck[];
  /** True when every check passed; at least the start checks ran. */
  ok: boolean;
  /** True when the command still ran after the settle time and was checked again. */
  checkedWhileRunning: boolean;
  exitCode: number | null;
  signal: string | null;
  stdout?: string;
}

/** True when `name` runs (found on PATH). */
export function haveCommand(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' }).status === 0;
}

/** The binder argv prefix. */
export function binderArgv(binder: 'numactl' | 'taskset', cpus: readonly number[], nodes: readonly number[], policy: string): string[] {
  const cpuList = formatCpuList(cpus);
  if (binder === 'taskset') return ['taskset', '-c', cpuList];
  const argv = ['numactl', `--physcpubind=${cpuList}`];
  if (policy === 'bind') argv.push(`--membind=${formatCpuList(nodes)}`);
  else if (policy === 'interleave') argv.push(`--interleave=${formatCpuList(nodes)}`);
  else if (policy === 'preferred') argv.push(nodes.length === 1 ? `--preferred=${formatCpuList(nodes)}` : `--preferred-many=${formatCpuList(nodes)}`);
  return argv;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The state letter of /proc/PID/stat ("R", "S", "T" stopped, "Z" zombie), or null when gone. */
function procState(root: string, pid: number): string | null {
  try {
    const stat = readFileSync(join(root, 'proc', String(pid), 'stat'), 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || null;
  } catch {
    return null;
  }
}

/**
 * A read of a live process that found no mappings at all (every process has at least a stack): it
 * caught the process inside an exec, after the old image's memory was let go and before the new
 * one's. The kernel's numa_maps holds the memory it was opened on, so a read that starts in one
 * image and ends in the next shows nothing. Such a read says nothing about the binding.
 */
export class BetweenImages extends Error {
  constructor() {
    super('no mappings: the process was between two images (exec)');
  }
}

/**
 * Reads until a read is not caught between two images (or `alive` says the process is gone):
 * `read`'s result, null when the process ended. At most `tries` reads, `gapMs` apart; the last
 * failure is thrown.
 */
export async function readSettled<T>(read: () => T, alive: () => boolean, tries = 50, gapMs = 20): Promise<T | null> {
  for (let i = 1; ; i++) {
    if (!alive()) return null;
    try {
      return read();
    } catch (err) {
      if (!(err instanceof BetweenImages) || i >= tries) throw err;
    }
    await sleep(gapMs);
  }
}

/** A process's CPU and memory affinity and its mappings, from /proc (throws BetweenImages for a read inside an exec). */
export function readBinding(pid: number, root = '/'): { aff: ReturnType<typeof readTaskAffinity>; maps: ReturnType<typeof readNumaMaps> } {
  const aff = readTaskAffinity(pid, { root });
  const maps = readNumaMaps(pid, { root });
  if (maps.length === 0) throw new BetweenImages();
  return { aff, maps };
}

/** Reads the binding of `pid` and judges it against the plan. */
function inspect(
  pid: number,
  root: string,
  phase: BindingCheck['phase'],
  planned: BindingReport['planned'],
  nodes: readonly number[],
): { observed: BindingObservation; checks: BindingCheck[] } {
  const { aff, maps } = readBinding(pid, root);
  // Anonymous memory only: a file mapping's counts also hold page-cache pages, which sit wherever
  // the file was first read (another node, another process), whatever this process's policy.
  const anon = maps.filter((m) => (m.anon || m.heap || m.stack) && m.file === null);
  const pages: Record<string, number> = {};
  for (const m of anon) for (const [n, c] of Object.entries(m.pagesByNode)) pages[n] = (pages[n] ?? 0) + c;
  const observed: BindingObservation = {
    cpusAllowed: formatCpuList(aff.cpusAllowed),
    memsAllowed: formatCpuList(aff.memsAllowed),
    policies: [...new Set(anon.map((m) => m.policy))].sort(),
    anonPagesByNode: pages,
  };
  const checks: BindingCheck[] = [];
  checks.push({ name: 'cpus', phase, ok: observed.cpusAllowed === planned.cpus, detail: `Cpus_allowed_list ${observed.cpusAllowed}, planned ${planned.cpus}` });
  const mems = new Set(aff.memsAllowed);
  checks.push({ name: 'mems', phase, ok: nodes.every((n) => mems.has(n)), detail: `Mems_allowed_list ${observed.memsAllowed} must contain ${planned.nodes}` });
  if (planned.policy === 'none') {
    checks.push({ name: 'policy', phase, ok: true, detail: 'taskset sets no memory policy (not checked)' });
    return { observed, checks };
  }
  // numa_maps names MPOL_PREFERRED_MANY "prefer (many)".
  const want = `${planned.policy === 'bind' ? 'bind' : planned.policy === 'interleave' ? 'interleave' : nodes.length > 1 ? 'prefer (many)' : 'prefer'}:${planned.nodes}`;
  const wrong = anon.filter((m) => m.policy !== want);
  checks.push({
    name: 'policy',
    phase,
    ok: anon.length > 0 && wrong.length === 0,
    detail: wrong.length === 0 ? `${anon.length} anonymous mappings, all ${want}` : `${wrong.length} of ${anon.length} anonymous mappings not ${want}: ${wrong[0]?.address} ${wrong[0]?.policy}`,
  });
  if (planned.policy !== 'preferred') {
    const allowed = new Set(nodes.map(String));
    const outside = Object.entries(pages).filter(([n, c]) => !allowed.has(n) && c > 0);
    const total = Object.values(pages).reduce((s, c) => s + c, 0);
    checks.push({
      name: 'pages',
      phase,
      ok: outside.length === 0,
      detail: outside.length === 0 ? `${total} resident anonymous pages, all on node(s) ${planned.nodes}` : `pages outside the plan: ${outside.map(([n, c]) => `N${n}=${c}`).join(' ')}`,
    });
  }
  return { observed, checks };
}

/** Runs the command bound, verifies at start and while it runs, waits for it to end, and reports. */
export async function runBound(o: RunBoundOptions): Promise<BindingReport> {
  const policy = o.policy ?? 'bind';
  if (o.cpus.length === 0) throw new ApplyError('cpus', 'no CPUs to bind to');
  let binder: 'numactl' | 'taskset';
  if (o.binder === 'numactl' || o.binder === 'taskset') binder = o.binder;
  else binder = haveCommand('numactl') ? 'numactl' : 'taskset';
  if (!haveCommand(binder)) throw new ApplyError(binder, `${binder} is not installed`);
  const prefix = binderArgv(binder, o.cpus, o.nodes, policy);
  const argv = [...prefix, o.command, ...(o.args ?? [])];
  const spawned = [...prefix, ...TRAMPOLINE, o.command, ...(o.args ?? [])];
  const root = o.root ?? '/';
  const watchOutput = o.readyLine !== undefined;
  // 'to-stderr': the command's standard output goes to our standard error (our stdout carries JSON).
  const stdio: import('node:child_process').StdioOptions =
    o.stdio === 'pipe'
      ? ['ignore', 'pipe', 'inherit']
      : o.stdio === 'to-stderr' || watchOutput
        ? [o.stdio === 'ignore' ? 'ignore' : 'inherit', 'pipe', o.stdio === 'ignore' ? 'ignore' : 'inherit']
        : (o.stdio ?? 'inherit');
  const child = spawn(spawned[0] as string, spawned.slice(1), { stdio });
  let stdout = '';
  let pendingLine = '';
  let sawReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => {
    sawReady = r;
  });
  child.stdout?.on('data', (d: Buffer) => {
    const text = d.toString();
    if (o.stdio === 'pipe') stdout += text;
    else if (o.stdio === 'to-stderr') process.stderr.write(d);
    else if (o.stdio !== 'ignore') process.stdout.write(d);
    if (watchOutput) {
      const lines = (pendingLine + text).split('\n');
      pendingLine = lines.pop() ?? '';
      if (lines.some((l) => l.replace(/\r$/, '') === o.readyLine)) sawReady();
    }
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void exited.then(() => {
    done = true;
  }, () => {
    done = true;
  });
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new ApplyError(binder, `could not start ${spawned[0]}`);
  }
  const planned = { cpus: formatCpuList(o.cpus), nodes: formatCpuList(o.nodes), policy: binder === 'taskset' ? 'none' : policy };
  const checks: BindingCheck[] = [];
  let observedAtStart: BindingObservation | null = null;
  let observed: BindingObservation | null = null;

  // Start: wait for the trampoline to stop itself, read its binding, let it exec the command.
  const started = Date.now();
  let state = procState(root, pid);
  while (!done && state !== 'T' && Date.now() - started < START_TIMEOUT_MS) {
    await sleep(2);
    state = procState(root, pid);
  }
  if (state === 'T' && !done) {
    try {
      const r = inspect(pid, root, 'start', planned, o.nodes);
      observedAtStart = r.observed;
      checks.push(...r.checks);
    } catch (err) {
      checks.push({ name: 'read', phase: 'start', ok: false, detail: `could not read /proc/${pid}: ${(err as Error).message}` });
    }
    process.kill(pid, 'SIGCONT');
  } else if (!done) {
    child.kill('SIGKILL');
    checks.push({ name: 'start', phase: 'start', ok: false, detail: `${binder} did not reach the command within ${START_TIMEOUT_MS / 1000} s` });
  } else {
    checks.push({ name: 'start', phase: 'start', ok: false, detail: `${binder} ended before starting the command (see its message above)` });
  }

  // Running: the command's own memory, after it had time to touch it.
  if (observedAtStart !== null) {
    await Promise.race([exited.catch(() => undefined), watchOutput ? ready : sleep(o.settleMs ?? 300)]);
    // A command that ends during the read leaves a zombie with no mappings: such a read is dropped.
    const alive = (): boolean => !done && ![null, 'Z', 'X'].includes(procState(root, pid));
    if (alive()) {
      try {
        // The command was exec'd just now, maybe while this read ran: one between its images is read again.
        const r = await readSettled(() => inspect(pid, root, 'running', planned, o.nodes), alive);
        if (r !== null && alive()) {
          observed = r.observed;
          checks.push(...r.checks);
          o.onRunningCheck?.(r.checks);
        }
      } catch (err) {
        if (alive()) checks.push({ name: 'read', phase: 'running', ok: false, detail: `could not read /proc/${pid}: ${(err as Error).message}` });
      }
    }
  }
  const { code, signal } = await exited;
  const report: BindingReport = {
    pid,
    binder,
    argv,
    planned,
    observed,
    observedAtStart,
    checks,
    ok: checks.length > 0 && checks.every((c) => c.ok),
    checkedWhileRunning: observed !== null,
    exitCode: code,
    signal,
  };
  if (o.stdio === 'pipe') report.stdout = stdout;
  return report;
}

/** The exit status a shell would give: the command's own, or 128 + the signal number. */
export function exitStatusOf(r: Pick<BindingReport, 'exitCode' | 'signal'>): number {
  if (r.exitCode !== null) return r.exitCode;
  const n = r.signal ? (constants.signals as Record<string, number>)[r.signal] : undefined;
  return n === undefined ? 1 : 128 + n;
}
