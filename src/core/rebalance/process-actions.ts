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
 *    rebound onto the new nodes (mpol_rebind_task) and pages still outside them are migrated.
 * Nothing here runs anything: the shell (src/adapters/apply/move-process.ts) does, then reads /proc.
 */
import { formatCpuList } from '../topology/cpulist.js';
import type { VmMove } from './plan.js';

/** One action; `command` is how an operator would type it. */
export type ProcessAction =
  | { kind: 'join'; cgroup: string; command: string }
  | { kind: 'pin'; cgroup: string; argv: string[]; command: string }
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
}

/** A process's part of a move. */
export interface ProcessMove {
  vm: string;
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

/** The actions for a process's part of a move (see the module comment). */
export function processMove(v: VmMove, pid: number, cgroupRoot = '/sys/fs/cgroup'): ProcessMove {
  const cgroup = processCgroup(v.vm);
  const dir = `${cgroupRoot}/${cgroup}`;
  const cpus = formatCpuList([...new Set(v.after.cpus)].sort((a, b) => a - b));
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
  actions.push({ kind: 'pin', cgroup, argv: pin, command: `echo ${cpus} > ${dir}/cpuset.cpus && ${pin.join(' ')}` });
  for (const t of v.memory) {
    const argv = ['migratepages', String(pid), String(t.from), String(t.to)];
    actions.push({ kind: 'migrate', from: t.from, to: t.to, bytes: t.bytes, argv, command: argv.join(' ') });
  }
  actions.push({ kind: 'policy', cgroup, mems: nodes, command: `echo ${nodes} > ${dir}/cpuset.mems` });
  return { vm: v.vm, pid, actions, target: { cpus, nodes, policy: POLICY[v.after.request.numa] } };
}
