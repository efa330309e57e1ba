/**
 * Command lines that start a plain process bound as placed (argv prefixes; the command and its
 * arguments follow them):
 *   numactl --physcpubind=1-3 --membind=0 CMD...      (the placement's memory policy: --membind,
 *                                                      --interleave, --preferred=N for one node,
 *                                                      --preferred-many=NODES for several)
 *   taskset -c 1-3 CMD...                              (CPU affinity only)
 */
import { formatCpuList } from '../topology/cpulist.js';
import type { Topology } from '../topology/model.js';
import { EmitError } from './errors.js';
import { guestOf, type PlacementLike } from './guest.js';
import type { EmitOptions } from './options.js';

/** numactl and taskset prefixes for a placement. */
export interface ProcessCommands {
  numactl: string[];
  taskset: string[];
  cpus: number[];
  nodes: number[];
}

/** The binding of a process placement as command prefixes. */
export function emitProcessCommands(placement: PlacementLike, topology: Topology, options: EmitOptions = {}): ProcessCommands {
  const g = guestOf(placement, topology);
  if (g.io) throw new EmitError('placement', 'a process has no virtual disks, NICs or I/O threads (iothreads=, disks=, nets=): emit it for a hypervisor', 'ERR_TARGET');
  const cpus = [...new Set(g.pins)].sort((a, b) => a - b);
  const nodes = g.memoryNodes;
  const cpuList = formatCpuList(cpus);
  const numactl = ['numactl', `--physcpubind=${cpuList}`];
  if (options.hostBinding !== false) {
    const policy = options.memoryPolicy ?? g.memoryPolicy;
    const flag = policy === 'bind' ? 'membind' : policy === 'interleave' ? 'interleave' : nodes.length === 1 ? 'preferred' : 'preferred-many';
    numactl.push(`--${flag}=${formatCpuList(nodes)}`);
  }
  return { numactl, taskset: ['taskset', '-c', cpuList], cpus, nodes };
}
