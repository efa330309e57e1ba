/**
 * Start a process bound as placed (numactl: CPU affinity and memory policy; or taskset: CPU affinity
 * only), then check from /proc that the kernel did what was asked:
 * - Cpus_allowed_list equals the planned CPUs;
 * - Mems_allowed_list contains the planned nodes (the cgroup allows them);
 * - every anonymous, heap and stack mapping in numa_maps carries the planned policy
 *   ("bind:0-1", "interleave:0-1", "prefer:1") and has no pages outside the planned nodes.
 * Commands are argv arrays, never shell strings.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatCpuList } from '../../core/topology/cpulist.js';
import { ApplyError } from './errors.js';
import { readNumaMaps, readTaskAffinity } from './proc-files.js';

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
  /** Milliseconds to let the command run (and touch its memory) before checking. Default 300. */
  settleMs?: number;
  /** /proc root. Default "/". */
  root?: string;
  /** Where the command's output goes. Default inherit. */
  stdio?: 'inherit' | 'ignore' | 'pipe';
}

/** One check of the binding. */
export interface BindingCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** What happened. */
export interface BindingReport {
  pid: number;
  binder: 'numactl' | 'taskset';
  argv: string[];
  planned: { cpus: string; nodes: string; policy: string };
  observed: { cpusAllowed: string; memsAllowed: string; policies: string[]; anonPagesByNode: Record<string, number> } | null;
  checks: BindingCheck[];
  /** True when every check passed (false also when the command ended before it could be checked). */
  ok: boolean;
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

/** Runs the command bound, verifies, waits for it to end, and reports. */
export async function runBound(o: RunBoundOptions): Promise<BindingReport> {
  const policy = o.policy ?? 'bind';
  if (o.cpus.length === 0) throw new ApplyError('cpus', 'no CPUs to bind to');
  let binder: 'numactl' | 'taskset';
  if (o.binder === 'numactl' || o.binder === 'taskset') binder = o.binder;
  else binder = haveCommand('numactl') ? 'numactl' : 'taskset';
  if (!haveCommand(binder)) throw new ApplyError(binder, `${binder} is not installed`);
  const prefix = binderArgv(binder, o.cpus, o.nodes, policy);
  const argv = [...prefix, o.command, ...(o.args ?? [])];
  const root = o.root ?? '/';
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: o.stdio === 'pipe' ? ['ignore', 'pipe', 'inherit'] : (o.stdio ?? 'inherit') });
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
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
    throw new ApplyError(binder, `could not start ${argv[0]}`);
  }
  // Wait until the binder has exec'd the command (same PID, new comm).
  const started = Date.now();
  while (!done && Date.now() - started < 5000) {
    let comm = '';
    try {
      comm = readFileSync(join(root, 'proc', String(pid), 'comm'), 'utf8').trim();
    } catch {
      break;
    }
    if (comm !== binder) break;
    await sleep(5);
  }
  await sleep(o.settleMs ?? 300);
  const planned = { cpus: formatCpuList(o.cpus), nodes: formatCpuList(o.nodes), policy: binder === 'taskset' ? 'none' : policy };
  const checks: BindingCheck[] = [];
  let observed: BindingReport['observed'] = null;
  if (!done) {
    try {
      const aff = readTaskAffinity(pid, { root });
      const maps = readNumaMaps(pid, { root });
      const anon = maps.filter((m) => m.anon || m.heap || m.stack);
      const pages: Record<string, number> = {};
      for (const m of anon) for (const [n, c] of Object.entries(m.pagesByNode)) pages[n] = (pages[n] ?? 0) + c;
      observed = {
        cpusAllowed: formatCpuList(aff.cpusAllowed),
        memsAllowed: formatCpuList(aff.memsAllowed),
        policies: [...new Set(anon.map((m) => m.policy))].sort(),
        anonPagesByNode: pages,
      };
      checks.push({
        name: 'cpus',
        ok: observed.cpusAllowed === planned.cpus,
        detail: `Cpus_allowed_list ${observed.cpusAllowed}, planned ${planned.cpus}`,
      });
      const mems = new Set(aff.memsAllowed);
      checks.push({
        name: 'mems',
        ok: o.nodes.every((n) => mems.has(n)),
        detail: `Mems_allowed_list ${observed.memsAllowed} must contain ${planned.nodes}`,
      });
      if (planned.policy === 'none') {
        checks.push({ name: 'policy', ok: true, detail: 'taskset sets no memory policy (not checked)' });
      } else {
        // numa_maps names MPOL_PREFERRED_MANY "prefer (many)".
        const want = `${planned.policy === 'bind' ? 'bind' : planned.policy === 'interleave' ? 'interleave' : o.nodes.length > 1 ? 'prefer (many)' : 'prefer'}:${planned.nodes}`;
        const wrong = anon.filter((m) => m.policy !== want);
        checks.push({
          name: 'policy',
          ok: anon.length > 0 && wrong.length === 0,
          detail: wrong.length === 0 ? `${anon.length} anonymous mappings, all ${want}` : `${wrong.length} of ${anon.length} anonymous mappings not ${want}: ${wrong[0]?.address} ${wrong[0]?.policy}`,
        });
        if (planned.policy !== 'preferred') {
          const allowed = new Set(o.nodes.map(String));
          const outside = Object.entries(pages).filter(([n, c]) => !allowed.has(n) && c > 0);
          const total = Object.values(pages).reduce((s, c) => s + c, 0);
          checks.push({
            name: 'pages',
            ok: outside.length === 0,
            detail: outside.length === 0 ? `${total} resident anonymous pages, all on node(s) ${planned.nodes}` : `pages outside the plan: ${outside.map(([n, c]) => `N${n}=${c}`).join(' ')}`,
          });
        }
      }
    } catch (err) {
      if (!done) checks.push({ name: 'read', ok: false, detail: `could not read /proc/${pid}: ${(err as Error).message}` });
    }
  }
  if (observed === null && checks.length === 0) {
    checks.push({ name: 'running', ok: false, detail: 'the command ended before its binding could be checked (give it more time, or --settle less)' });
  }
  const { code, signal } = await exited;
  const report: BindingReport = { pid, binder, argv, planned, observed, checks, ok: checks.every((c) => c.ok), exitCode: code, signal };
  if (o.stdio === 'pipe') report.stdout = stdout;
  return report;
}
