/**
 * The actions that carry out one VM's part of a move when the VM is a process on this host (one
 * started by `numaplan run`, known by its pid), in the order they run:
 * 1. `join`: the process joins its own cgroup v2 cpuset (`numaplan-NAME` under the cgroup root), whose
 *    cpuset.mems is still the parent's: joining changes neither its policy nor its pages;
 * 2. `pin`: every thread's CPU affinity set to the target CPUs (`taskset -a -p -c CPUS PID`,
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
  | { kind: 'pin'; argv: string[]; command: string }
  | { kind: 'migrate'; from: number; to: number; bytes: number; argv: string[]; command: string }
  | { kind: 'policy'; cgroup: string; mems: string; command: string };

/** What the process should look like once the move is done (what /proc is checked against). */
export interface ProcessTarget {
  cpus: string;
  nodes: string;
  /** The numa_maps policy word of the process's anonymous mappings: "bind", "interleave" or "prefer". */
  policy: 'bind' | 'interleave' | 'prefer';
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
  const actions: ProcessAction[] = [{ kind: 'join', cgroup, command: `mkdir -p ${dir} && echo ${pid} > ${dir}/cgroup.procs` }];
  const pin = ['taskset', '-a', '-p', '-c', cpus, String(pid)];
  actions.push({ kind: 'pin', argv: pin, command: pin.join(' ') });
  for (const t of v.memory) {
    const argv = ['migratepages', String(pid), String(t.from), String(t.to)];
    actions.push({ kind: 'migrate', from: t.from, to: t.to, bytes: t.bytes, argv, command: argv.join(' ') });
  }
  actions.push({ kind: 'policy', cgroup, mems: nodes, command: `echo ${nodes} > ${dir}/cpuset.mems` });
  return { vm: v.vm, pid, actions, target: { cpus, nodes, policy: POLICY[v.after.request.numa] } };
}
