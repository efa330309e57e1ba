/**
 * Command lines that start a plain process bound as placed (argv prefixes; the command and its
 * arguments follow them):
 *   numactl --physcpubind=1-3 --membind=0 CMD...      (or --interleave= / --preferred=)
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
  const cpus = [...new Set(g.pins)].sort((a, b) => a - b);
  const nodes = g.memoryNodes;
  const cpuList = formatCpuList(cpus);
  const numactl = ['numactl', `--physcpubind=${cpuList}`];
  if (options.hostBinding !== false) {
    const policy = options.memoryPolicy ?? 'bind';
    if (policy === 'preferred' && nodes.length !== 1) {
      throw new EmitError('memoryPolicy', `"preferred" takes one node; the placement uses ${formatCpuList(nodes)}`);
    }
    numactl.push(`--${policy === 'bind' ? 'membind' : policy}=${formatCpuList(nodes)}`);
  }
  return { numactl, taskset: ['taskset', '-c', cpuList], cpus, nodes };
}
