/**
 * The actions that carry out one VM's part of a move when the VM is a process on this host (one
 * started by `numaplan run`, known by its pid), in the order they run:
 * 1. `join`: the process joins its own cgroup v2 cpuset (`numaplan-NAME` under the cgroup root),
 *    whose cpuset.cpus and cpuset.mems are first set to the process's own allowed CPUs and nodes
 *    (from /proc/PID/status): joining a cpuset resets a task's affinity to the cpuset's CPUs and
 *    rebinds its policy to the cpuset's nodes, so with the same sets it changes nothing;
 * 2. `pin`: the cpuset's CPUs set to the target CPUs (the kernel moves every thread's affinity with
 *    them), then every thread's affinity set to them explicitly (`taskset -a -p -c CPUS PID`,
 *    sched_setaffinity per thread): new allocations are local to the target from now on;
 * 3. `migrate`: per transfer of the plan, node by node, `migratepages PID FROM TO` (migrate_pages(2));
 * 4. `policy`: the cpuset's mems set to the target nodes. This is the kernel's one way to change a
 *    running process's memory policy from outside: the task's policy (bind/interleave/preferred) is
 *    rebound onto the new nodes (mpol_rebind_task), so are the policies of its mappings
 *    (mpol_rebind_mm: a QEMU memory backend's host-nodes), and pages still outside them are migrated.
 *
 * A QEMU guest (`qemuMove`: a QEMU reachable over QMP, e.g. one `numaplan launch qemu` started) is a
 * process whose threads go to different CPUs, as launch pins them (core/emit/qemu.ts, guest.ts):
 * - each vCPU thread (QMP `query-cpus-fast`: cpu-index -> thread-id) to its planned host CPU
 *   (`after.cpus[vcpu]`) for a dedicated VM, to the VM's CPUs for a shared one;
 * - every other thread (main loop, RCU, workers, the I/O threads of `query-iothreads`, the vhost-net
 *   workers) to the VM's emulator CPUs (`after.emulatorCpus`, which hold its I/O CPUs), else to its
 *   vCPUs' CPUs.
 * So `join` sets the cpuset's CPUs to the union of what its threads may use now (joining resets
 * every thread's affinity to it: the vCPU threads float over the union until step 2 pins them
 * again), `pin` sets them to the union of the targets and is followed by one `pin-thread`
 * (`taskset -p -c CPUS TID`) per thread. Memory moves as for any process.
 * Nothing here runs anything: the shell (src/adapters/apply/move-process.ts) does, then reads /proc.
 */
import { formatCpuList, parseCpuList } from '../topology/cpulist.js';
import type { VmMove } from './plan.js';

/** One action; `command` is how an operator would type it. */
export type ProcessAction =
  | { kind: 'join'; cgroup: string; command: string }
  /** The cpuset's CPUs set to `cpus`, then `argv` run (taskset on every thread; null for a QEMU, whose threads follow one by one). */
  | { kind: 'pin'; cgroup: string; cpus: string; argv: string[] | null; command: string }
  /** One thread's affinity (a QEMU's vCPU, I/O or emulator thread). */
  | { kind: 'pin-thread'; tid: number; thread: string; cpus: string; argv: string[]; command: string }
  | { kind: 'migrate'; from: number; to: number; bytes: number; argv: string[]; command: string }
  | { kind: 'policy'; cgroup: string; mems: string; command: string };

/** What the process should look like once the move is done (what /proc is checked against). */
export interface ProcessTarget {
  cpus: string;
  nodes: string;
  /**
   * The numa_maps policy word of the process's anonymous mappings: "bind", "interleave" or "prefer"
   * from the VM's numa= setting; "default" for a process started without a memory policy (the shell
   * sees that in numa_maps before the move: it is kept, the cpuset alone confines its memory).
   */
  policy: 'bind' | 'interleave' | 'prefer' | 'default';
  /**
   * True when mappings without a policy may keep none: a QEMU whose guest RAM is bound by its memory
   * backends (host-nodes=) and whose other memory has no policy (the shell sees that in numa_maps
   * before the move). Every other anonymous mapping must carry `policy` on `nodes`.
   */
  orDefault?: boolean;
  /**
   * Per thread (a QEMU's): the CPUs each listed thread must be allowed, exactly; threads not listed
   * (started after the move was planned) must stay within `cpus`. Absent: every thread on `cpus`.
   */
  threads?: ThreadTarget[];
}

/** Where one thread of a QEMU goes. */
export interface ThreadTarget {
  tid: number;
  /** "vCPU 0", "I/O thread iothread1", "emulator" or "vhost worker". */
  thread: string;
  cpus: string;
}

/** A QEMU's threads, as QMP and /proc show them now. */
export interface QemuThreads {
  /** The QEMU process (the thread group of its vCPU threads). */
  pid: number;
  /** query-cpus-fast: each vCPU (cpu-index) and its thread id. */
  vcpus: { vcpu: number; tid: number }[];
  /** query-iothreads: each I/O thread's object id and thread id. */
  iothreads: { id: string; tid: number }[];
  /** The process's other threads (/proc/PID/task): main loop, RCU, workers. */
  others: number[];
  /** vhost-net workers that are kernel threads (`vhost-PID`, kernels before 6.4; later they are among `others`). */
  vhost?: number[];
  /** The union of the CPUs its threads are allowed now (the cpuset it joins starts there). */
  cpusNow: string;
}

/** A process's part of a move. */
export interface ProcessMove {
  vm: string;
  /** A plain process (`processMove`) or a QEMU guest (`qemuMove`). */
  kind: 'process' | 'qemu';
  pid: number;
  actions: ProcessAction[];
  target: ProcessTarget;
}

/** The cgroup (relative to the cgroup v2 root) a moved process is put in: one per VM name. */
export function processCgroup(vm: string): string {
  return `numaplan-${vm.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

const POLICY = { auto: 'bind', strict: 'bind', preferred: 'prefer', interleave: 'interleave' } as const;

/** The nodes a VM's memory is on (bytes > 0). */
function memoryNodes(a: VmMove['after']): number[] {
  return [...new Set(a.memory.filter((m) => m.bytes > 0).map((m) => m.node))].sort((x, y) => x - y);
}

const sorted = (cpus: Iterable<number>): number[] => [...new Set(cpus)].sort((a, b) => a - b);

/** Steps 3 and 4 (see the module comment): the pages node by node, then the cpuset's nodes. */
function memoryActions(v: VmMove, pid: number, cgroup: string, dir: string, nodes: string): ProcessAction[] {
  const actions: ProcessAction[] = [];
  for (const t of v.memory) {
    const argv = ['migratepages', String(pid), String(t.from), String(t.to)];
    actions.push({ kind: 'migrate', from: t.from, to: t.to, bytes: t.bytes, argv, command: argv.join(' ') });
  }
  actions.push({ kind: 'policy', cgroup, mems: nodes, command: `echo ${nodes} > ${dir}/cpuset.mems` });
  return actions;
}

/** The actions for a process's part of a move (see the module comment). */
export function processMove(v: VmMove, pid: number, cgroupRoot = '/sys/fs/cgroup'): ProcessMove {
  const cgroup = processCgroup(v.vm);
  const dir = `${cgroupRoot}/${cgroup}`;
  const cpus = formatCpuList(sorted(v.after.cpus));
  const nodes = formatCpuList(memoryNodes(v.after));
  const own = `$(sed -n 's/^%s:\\s*//p' /proc/${pid}/status)`;
  const actions: ProcessAction[] = [
    {
      kind: 'join',
      cgroup,
      command: `mkdir -p ${dir} && echo ${own.replace('%s', 'Cpus_allowed_list')} > ${dir}/cpuset.cpus && echo ${own.replace('%s', 'Mems_allowed_list')} > ${dir}/cpuset.mems && echo ${pid} > ${dir}/cgroup.procs`,
    },
  ];
  const pin = ['taskset', '-a', '-p', '-c', cpus, String(pid)];
  actions.push({ kind: 'pin', cgroup, cpus, argv: pin, command: `echo ${cpus} > ${dir}/cpuset.cpus && ${pin.join(' ')}` });
  actions.push(...memoryActions(v, pid, cgroup, dir, nodes));
  return { vm: v.vm, kind: 'process', pid, actions, target: { cpus, nodes, policy: POLICY[v.after.request.numa] } };
}

/**
 * Where each of a QEMU's threads goes after the move: vCPU threads to their planned CPU (dedicated)
 * or the VM's CPUs (shared), the others to the emulator CPUs, else the vCPUs' (see the module comment).
 * Throws when QMP's vCPUs are not the plan's (the caller checks that first and names its option).
 */
export function qemuThreadTargets(v: VmMove, q: QemuThreads): ThreadTarget[] {
  const a = v.after;
  if (q.vcpus.length !== a.cpus.length) throw new Error(`QEMU has ${q.vcpus.length} vCPU(s), ${v.vm} has ${a.cpus.length} in the plan`);
  const shared = a.request.cpuPolicy === 'shared';
  const all = formatCpuList(sorted(a.cpus));
  const emulator = formatCpuList(sorted(a.emulatorCpus.length > 0 ? a.emulatorCpus : a.cpus));
  const out: ThreadTarget[] = [];
  for (const c of [...q.vcpus].sort((x, y) => x.vcpu - y.vcpu)) {
    const cpu = a.cpus[c.vcpu];
    if (cpu === undefined) throw new Error(`QEMU's vCPU ${c.vcpu} is not in the plan (${v.vm} has vCPUs 0-${a.cpus.length - 1})`);
    out.push({ tid: c.tid, thread: `vCPU ${c.vcpu}`, cpus: shared ? all : String(cpu) });
  }
  for (const t of q.iothreads) out.push({ tid: t.tid, thread: `I/O thread ${t.id}`, cpus: emulator });
  for (const tid of q.others) out.push({ tid, thread: 'emulator', cpus: emulator });
  for (const tid of q.vhost ?? []) out.push({ tid, thread: 'vhost worker', cpus: emulator });
  return out;
}

/** The actions for a QEMU guest's part of a move (see the module comment). */
export function qemuMove(v: VmMove, q: QemuThreads, cgroupRoot = '/sys/fs/cgroup'): ProcessMove {
  const cgroup = processCgroup(v.vm);
  const dir = `${cgroupRoot}/${cgroup}`;
  const pid = q.pid;
  const threads = qemuThreadTargets(v, q);
  const cpus = formatCpuList(sorted(threads.flatMap((t) => parseCpuList(t.cpus))));
  const nodes = formatCpuList(memoryNodes(v.after));
  const actions: ProcessAction[] = [
    {
      kind: 'join',
      cgroup,
      command: `mkdir -p ${dir} && echo ${q.cpusNow} > ${dir}/cpuset.cpus && echo $(sed -n 's/^Mems_allowed_list:\\s*//p' /proc/${pid}/status) > ${dir}/cpuset.mems && echo ${pid} > ${dir}/cgroup.procs`,
    },
    { kind: 'pin', cgroup, cpus, argv: null, command: `echo ${cpus} > ${dir}/cpuset.cpus` },
  ];
  for (const t of threads) {
    const argv = ['taskset', '-p', '-c', t.cpus, String(t.tid)];
    actions.push({ kind: 'pin-thread', tid: t.tid, thread: t.thread, cpus: t.cpus, argv, command: `${argv.join(' ')}  # ${t.thread}` });
  }
  actions.push(...memoryActions(v, pid, cgroup, dir, nodes));
  return { vm: v.vm, kind: 'qemu', pid, actions, target: { cpus, nodes, policy: POLICY[v.after.request.numa], threads } };
}
