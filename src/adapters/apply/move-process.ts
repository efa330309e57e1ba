/**
 * Carries out a process's or a QEMU guest's part of a rebalancing move on this machine (the actions
 * of core/rebalance/process-actions.ts), then checks from /proc that the kernel did it:
 * - every thread's Cpus_allowed_list (/proc/PID/task/TID/status) equals the target CPUs (a QEMU's:
 *   each vCPU thread its planned CPU, each other thread the emulator CPUs; a thread started since
 *   the move was planned must be within the VM's CPUs);
 * - Mems_allowed_list (/proc/PID/status) equals the target nodes (the process's cpuset);
 * - every anonymous, heap and stack mapping in /proc/PID/numa_maps carries the target policy on the
 *   target nodes ("bind:2"; "default" for a process that had no policy before the move, which the
 *   move does not give it; a QEMU's mappings without a policy beside its bound guest RAM may keep
 *   none) and no resident page outside them (file mappings are left out: their counts hold shared
 *   page cache, as `numaplan run` leaves them out).
 * Before anything runs, the process must exist and run on the CPUs the plan saw (`before`; a QEMU:
 * each vCPU thread within them): a pid that names another process, or one moved since planning, is
 * refused and left alone.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VmMove } from '../../core/rebalance/plan.js';
import { type ProcessMove, type QemuThreads, processMove, qemuMove } from '../../core/rebalance/process-actions.js';
import { formatCpuList, parseCpuList } from '../../core/topology/cpulist.js';
import { readNumaMaps, readTaskAffinity } from './proc-files.js';

/** One action as it ran. */
export interface ActionOutcome {
  kind: string;
  command: string;
  ok: boolean;
  detail: string;
}

/** One check of the result, from /proc. */
export interface MoveCheck {
  name: 'cpus' | 'mems' | 'policy' | 'pages';
  ok: boolean;
  detail: string;
}

/** One thread of a QEMU after the move: what was planned, what /proc shows. */
export interface ThreadOutcome {
  tid: number;
  /** "vCPU 0", "I/O thread iothread1", "emulator", or "new" for a thread started since planning. */
  thread: string;
  planned: string;
  /** Cpus_allowed_list; "" for a thread that has exited. */
  observed: string;
  ok: boolean;
}

/** Anonymous resident pages per node, from numa_maps. */
export type PagesByNode = Record<string, number>;

/** What happened to one process. */
export interface ProcessMoveReport {
  vm: string;
  /** A plain process (--pid) or a QEMU guest (--qmp). */
  kind: ProcessMove['kind'];
  pid: number;
  ok: boolean;
  /** Set when nothing was run: why. */
  refused: string | null;
  actions: ActionOutcome[];
  checks: MoveCheck[];
  target: ProcessMove['target'];
  pagesBefore: PagesByNode;
  pagesAfter: PagesByNode;
  /** A QEMU's threads, one by one (absent for a plain process, whose threads all share `target.cpus`). */
  threads?: ThreadOutcome[];
}

/** Where the kernel's files are (tests may point them at a copy). */
export interface MoveProcessOptions {
  /** /proc's parent. Default "/". */
  root?: string;
  /** The cgroup v2 mount. Default /sys/fs/cgroup. */
  cgroupRoot?: string;
}

function anonPages(pid: number, root: string): { pages: PagesByNode; policies: string[] } {
  const maps = readNumaMaps(pid, { root }).filter((m) => (m.anon || m.heap || m.stack) && m.file === null);
  const pages: PagesByNode = {};
  for (const m of maps) for (const [n, c] of Object.entries(m.pagesByNode)) if (c > 0) pages[n] = (pages[n] ?? 0) + c;
  return { pages, policies: [...new Set(maps.map((m) => m.policy))].sort() };
}

function threads(pid: number, root: string): number[] {
  return readdirSync(join(root, 'proc', String(pid), 'task')).map(Number).filter(Number.isInteger).sort((a, b) => a - b);
}

function run(argv: string[]): { ok: boolean; detail: string } {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  if (r.error) return { ok: false, detail: `${argv[0]}: ${r.error.message}` };
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join('; ');
  return { ok: r.status === 0, detail: r.status === 0 ? out : `exit ${r.status}${out ? `: ${out}` : ''}` };
}

/** A thread's allowed CPUs: one of the process's, or a kernel thread working for it (vhost-PID); null once it has exited. */
function affinityOf(pid: number, tid: number, root: string): string | null {
  for (const read of [() => readTaskAffinity(pid, { root, tid }), () => readTaskAffinity(tid, { root })]) {
    try {
      return formatCpuList(read().cpusAllowed);
    } catch {
      // not there: try the next
    }
  }
  return null;
}

/** A QEMU's threads against their targets: listed ones exactly, newer ones within the VM's CPUs. */
function threadOutcomes(pid: number, target: ProcessMove['target'], tids: readonly number[], root: string): ThreadOutcome[] {
  const listed = new Map((target.threads ?? []).map((t) => [t.tid, t]));
  const allowed = new Set(parseCpuList(target.cpus));
  const out: ThreadOutcome[] = [];
  for (const t of target.threads ?? []) {
    const observed = affinityOf(pid, t.tid, root);
    // A worker thread may exit by itself (QEMU's thread pool); a vCPU or I/O thread may not.
    out.push({ tid: t.tid, thread: t.thread, planned: t.cpus, observed: observed ?? '', ok: observed === null ? t.thread === 'emulator' : observed === t.cpus });
  }
  for (const tid of tids) {
    if (listed.has(tid)) continue;
    const observed = affinityOf(pid, tid, root);
    if (observed === null) continue;
    out.push({ tid, thread: 'new', planned: target.cpus, observed, ok: parseCpuList(observed).every((c) => allowed.has(c)) });
  }
  return out;
}

/** Reads /proc and judges the process against the move's target. */
export function checkProcess(pid: number, target: ProcessMove['target'], root = '/'): { checks: MoveCheck[]; pages: PagesByNode; threads?: ThreadOutcome[] } {
  const checks: MoveCheck[] = [];
  const tids = threads(pid, root);
  let perThread: ThreadOutcome[] | undefined;
  if (target.threads) {
    perThread = threadOutcomes(pid, target, tids, root);
    const off = perThread.filter((t) => !t.ok);
    const vcpus = perThread.filter((t) => t.thread.startsWith('vCPU '));
    const what = (t: ThreadOutcome): string => `${t.thread} thread ${t.tid} has ${t.observed || 'exited'}, planned ${t.planned}`;
    checks.push({
      name: 'cpus',
      ok: off.length === 0,
      detail:
        off.length === 0
          ? `Cpus_allowed_list of ${vcpus.length} vCPU thread(s) ${vcpus.map((t) => t.observed).join(' ')}, ${perThread.length - vcpus.length} other thread(s) ${[...new Set(perThread.filter((t) => !vcpus.includes(t) && t.observed !== '').map((t) => t.observed))].join(' ') || '-'}`
          : `${off.length} of ${perThread.length} thread(s) not as planned: ${off.slice(0, 3).map(what).join('; ')}`,
    });
  } else {
    const off = tids
      .map((tid) => ({ tid, cpus: formatCpuList(readTaskAffinity(pid, { root, tid }).cpusAllowed) }))
      .filter((t) => t.cpus !== target.cpus);
    checks.push({
      name: 'cpus',
      ok: off.length === 0,
      detail: off.length === 0 ? `Cpus_allowed_list ${target.cpus} on all ${tids.length} thread(s)` : `${off.length} of ${tids.length} thread(s) not on ${target.cpus}: thread ${off[0]?.tid} has ${off[0]?.cpus}`,
    });
  }
  const mems = formatCpuList(readTaskAffinity(pid, { root }).memsAllowed);
  checks.push({ name: 'mems', ok: mems === target.nodes, detail: `Mems_allowed_list ${mems}, target ${target.nodes}` });
  const { pages, policies } = anonPages(pid, root);
  const want = target.policy === 'default' ? 'default' : `${target.policy}:${target.nodes}`;
  const wrong = policies.filter((p) => p !== want && !(target.policy === 'prefer' && p === `prefer (many):${target.nodes}`) && !(target.orDefault === true && p === 'default'));
  const kept = target.orDefault === true && policies.includes('default') && want !== 'default' ? ' (the others without a policy, as before)' : '';
  checks.push({ name: 'policy', ok: policies.length > 0 && wrong.length === 0, detail: wrong.length === 0 ? `anonymous mappings ${want}${kept}` : `anonymous mappings with ${wrong.join(', ')}, target ${want}` });
  if (target.policy !== 'prefer') {
    const allowed = new Set(target.nodes.split(',').flatMap((r) => {
      const [a, b] = r.split('-').map(Number) as [number, number?];
      return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => String(a + i));
    }));
    const outside = Object.entries(pages).filter(([n]) => !allowed.has(n));
    const total = Object.values(pages).reduce((s, c) => s + c, 0);
    checks.push({
      name: 'pages',
      ok: outside.length === 0 && total > 0,
      detail: outside.length === 0 ? `${total} resident anonymous pages, all on node(s) ${target.nodes}` : `pages left outside ${target.nodes}: ${outside.map(([n, c]) => `N${n}=${c}`).join(' ')}`,
    });
  }
  return perThread ? { checks, pages, threads: perThread } : { checks, pages };
}

/** Why a process may not be moved now (null: it may). */
type Precheck = (plan: ProcessMove, root: string) => string | null;

/**
 * Moves the process `pid` as `v` says (see the module comment) and checks it. Throws nothing for
 * what the kernel refuses: the report says which action failed and what /proc shows.
 */
export function moveProcess(v: VmMove, pid: number, options: MoveProcessOptions = {}): ProcessMoveReport {
  const plan = processMove(v, pid, options.cgroupRoot ?? '/sys/fs/cgroup');
  return carryOut(plan, options, (p, root) => {
    const seen = formatCpuList(readTaskAffinity(pid, { root }).cpusAllowed);
    const planned = formatCpuList([...new Set(v.before.cpus)].sort((a, b) => a - b));
    if (seen !== planned && seen !== p.target.cpus) return `process ${pid} runs on CPUs ${seen}, the plan saw ${v.vm} on ${planned}: not the VM's process, or it moved since planning`;
    return null;
  });
}

/**
 * Moves the QEMU guest whose threads `threads` lists (read over QMP: ../apply/qemu-threads.ts) as `v`
 * says, and checks it thread by thread. Refused before anything runs when a vCPU thread is gone or
 * runs outside the CPUs the plan saw the VM on (and not already on its target).
 */
export function moveQemu(v: VmMove, threads: QemuThreads, options: MoveProcessOptions = {}): ProcessMoveReport {
  const plan = qemuMove(v, threads, options.cgroupRoot ?? '/sys/fs/cgroup');
  return carryOut(plan, options, (p, root) => {
    const before = new Set(v.before.cpus);
    const planned = formatCpuList([...before].sort((a, b) => a - b));
    for (const t of p.target.threads ?? []) {
      if (!t.thread.startsWith('vCPU ')) continue;
      const seen = affinityOf(p.pid, t.tid, root);
      if (seen === null) return `${t.thread} thread ${t.tid} is not a thread of QEMU process ${p.pid} any more`;
      if (seen !== t.cpus && !parseCpuList(seen).every((c) => before.has(c))) {
        return `${t.thread} thread ${t.tid} runs on CPUs ${seen}, the plan saw ${v.vm} on ${planned}: not the VM's QEMU, or it moved since planning`;
      }
    }
    return null;
  });
}

/** Runs a move's actions in order (stopping at the first that fails), then reads /proc. */
function carryOut(plan: ProcessMove, options: MoveProcessOptions, precheck: Precheck): ProcessMoveReport {
  const root = options.root ?? '/';
  const cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
  const pid = plan.pid;
  const report: ProcessMoveReport = { vm: plan.vm, kind: plan.kind, pid, ok: false, refused: null, actions: [], checks: [], target: plan.target, pagesBefore: {}, pagesAfter: {} };
  if (!existsSync(join(root, 'proc', String(pid), 'status'))) {
    report.refused = `no process ${pid}`;
    return report;
  }
  const why = precheck(plan, root);
  if (why !== null) {
    report.refused = why;
    return report;
  }
  if (!existsSync(join(cgroupRoot, 'cgroup.controllers'))) {
    report.refused = `no cgroup v2 at ${cgroupRoot}: a running process's memory policy can only be changed through its cpuset`;
    return report;
  }
  const seenBefore = anonPages(pid, root);
  report.pagesBefore = seenBefore.pages;
  // A process started without a memory policy (taskset, --mem-policy none) keeps none: its cpuset confines it.
  if (seenBefore.policies.length > 0 && seenBefore.policies.every((p) => p === 'default')) {
    plan.target = { ...plan.target, policy: 'default' };
  } else if (seenBefore.policies.includes('default')) {
    // A QEMU whose guest RAM its backends bind (host-nodes=) and whose other memory has no policy: that keeps none.
    plan.target = { ...plan.target, orDefault: true };
  }
  report.target = plan.target;
  for (const a of plan.actions) {
    let outcome: { ok: boolean; detail: string };
    try {
      if (a.kind === 'join') {
        const dir = join(cgroupRoot, a.cgroup);
        const control = readFileSync(join(cgroupRoot, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
        if (!control.includes('cpuset')) writeFileSync(join(cgroupRoot, 'cgroup.subtree_control'), '+cpuset');
        mkdirSync(dir, { recursive: true });
        // The cgroup's CPUs and nodes are first the process's own, so that joining changes neither
        // its affinity nor its policy (joining a cpuset sets both to the cpuset's). A QEMU's threads
        // have CPUs of their own: the cpuset starts with all of them (its vCPUs float there until pinned).
        const own = readTaskAffinity(pid, { root });
        const cpus = plan.kind === 'qemu' ? formatCpuList(threads(pid, root).flatMap((tid) => parseCpuList(affinityOf(pid, tid, root) ?? ''))) : formatCpuList(own.cpusAllowed);
        const mems = formatCpuList(own.memsAllowed);
        // Widen before narrowing: a cpuset left by an earlier move may hold other CPUs and nodes.
        writeFileSync(join(dir, 'cpuset.mems'), mems);
        writeFileSync(join(dir, 'cpuset.cpus'), cpus);
        writeFileSync(join(dir, 'cgroup.procs'), String(pid));
        outcome = { ok: true, detail: `in ${a.cgroup} (cpuset.cpus ${cpus}, cpuset.mems ${mems})` };
      } else if (a.kind === 'pin') {
        writeFileSync(join(cgroupRoot, a.cgroup, 'cpuset.cpus'), a.cpus);
        outcome = a.argv ? run(a.argv) : { ok: true, detail: `cpuset.cpus.effective ${readFileSync(join(cgroupRoot, a.cgroup, 'cpuset.cpus.effective'), 'utf8').trim()}` };
      } else if (a.kind === 'pin-thread') {
        outcome = run(a.argv);
        // QEMU's worker threads come and go: one that has exited needs no pin.
        if (!outcome.ok && a.thread === 'emulator' && !existsSync(join(root, 'proc', String(pid), 'task', String(a.tid)))) outcome = { ok: true, detail: `thread ${a.tid} has exited` };
      } else if (a.kind === 'policy') {
        const file = join(cgroupRoot, a.cgroup, 'cpuset.mems');
        writeFileSync(file, a.mems);
        const effective = readFileSync(join(cgroupRoot, a.cgroup, 'cpuset.mems.effective'), 'utf8').trim();
        outcome = { ok: effective === a.mems, detail: `cpuset.mems.effective ${effective}` };
      } else outcome = run(a.argv);
    } catch (err) {
      outcome = { ok: false, detail: (err as Error).message };
    }
    report.actions.push({ kind: a.kind, command: a.command, ...outcome });
    if (!outcome.ok) break;
  }
  const checked = checkProcess(pid, plan.target, root);
  report.checks = checked.checks;
  report.pagesAfter = checked.pages;
  if (checked.threads) report.threads = checked.threads;
  report.ok = report.actions.every((a) => a.ok) && report.actions.length === plan.actions.length && checked.checks.every((c) => c.ok);
  return report;
}
