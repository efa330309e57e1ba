/**
 * Refuse, before anything starts, a binding that names a CPU or node this machine does not have (or
 * that its cgroup does not allow).
 */
import { formatCpuList } from '../../core/topology/cpulist.js';
import type { Topology } from '../../core/topology/model.js';
import { ApplyError } from './errors.js';

/** Throws ApplyError (ERR_APPLY_HOST) naming the first CPU or node that is missing or not usable. */
export function checkBindingOnHost(cpus: readonly number[], nodes: readonly number[], host: Topology): void {
  const pus = new Map(host.pus.map((p) => [p.os, p]));
  const known = formatCpuList(host.pus.filter((p) => p.online && p.allowed).map((p) => p.os));
  cpus.forEach((c, i) => {
    const pu = pus.get(c);
    if (!pu) throw new ApplyError(`cpus[${i}]`, `CPU ${c} does not exist on this machine (usable CPUs: ${known})`, 'ERR_APPLY_HOST');
    if (!pu.online || !pu.allowed) throw new ApplyError(`cpus[${i}]`, `CPU ${c} is ${pu.online ? 'outside this cgroup' : 'offline'} (usable CPUs: ${known})`, 'ERR_APPLY_HOST');
  });
  const ids = new Map(host.nodes.map((n) => [n.id, n]));
  const nodeList = formatCpuList(host.nodes.map((n) => n.id));
  nodes.forEach((n, i) => {
    const node = ids.get(n);
    if (!node) throw new ApplyError(`nodes[${i}]`, `NUMA node ${n} does not exist on this machine (nodes: ${nodeList})`, 'ERR_APPLY_HOST');
    if (!node.allowed) throw new ApplyError(`nodes[${i}]`, `NUMA node ${n} is outside this cgroup`, 'ERR_APPLY_HOST');
  });
}
