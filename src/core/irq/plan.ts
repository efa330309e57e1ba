/**
 * Interrupt affinity on the device's node: a plan for a device's MSI/MSI-X vectors.
 *
 * A NIC's or NVMe drive's completions raise interrupts; when they land on another node's CPUs, the
 * handler, the softirq work it schedules and the cache lines of the rings all cross the interconnect.
 * The plan puts every vector on a CPU of the device's node (its reported node, else the node its
 * local CPUs belong to), one CPU per vector, spread over the node's cores: the first thread of each
 * core in core order, then the second threads, round-robin when there are more vectors than CPUs.
 * CPUs dedicated to VMs (their vCPUs, held siblings, emulator and I/O pCPUs) and CPUs the caller
 * names are avoided; when every CPU of the node is avoided there is no plan (a refusal naming it).
 * Pure: the caller reads /proc and /sys and applies it.
 */
import { formatCpuList } from '../topology/cpulist.js';

/** One MSI/MSI-X vector of a device as the kernel shows it. */
export interface IrqVector {
  irq: number;
  /** The name in /proc/interrupts (e.g. "virtio2-input.0", "mlx5_comp3@pci:0000:41:00.0"). */
  name: string;
  /** /proc/irq/N/smp_affinity_list. */
  affinity: number[];
  /** /proc/irq/N/effective_affinity_list, where the kernel has it. */
  effective: number[] | null;
}

/** What the plan needs to know. */
export interface IrqPlanInput {
  device: string;
  /** The device's node (reported or inferred), or null. */
  node: number | null;
  vectors: readonly IrqVector[];
  /** Online, allowed CPUs of the device's node, grouped by core in topology order. */
  nodeCores: readonly (readonly number[])[];
  /** CPUs not to use: dedicated to VMs, or named by the caller. */
  avoid: ReadonlySet<number>;
}

/** One vector's plan. */
export interface IrqVectorPlan {
  irq: number;
  name: string;
  current: number[];
  planned: number[];
  /** True when it already sits on exactly the planned CPU. */
  unchanged: boolean;
  /** True when its current CPUs are all on the device's node already. */
  onNode: boolean;
}

/** The plan of one device. */
export interface IrqPlan {
  device: string;
  node: number;
  /** The CPUs vectors go to, in the order they are handed out. */
  targets: number[];
  vectors: IrqVectorPlan[];
  notes: string[];
}

/** Why no plan can be made. */
export interface IrqRefusal {
  device: string;
  reason: string;
}

/** The node's CPUs in the order vectors take them: first threads of every core, then second threads, ... */
export function spreadOrder(cores: readonly (readonly number[])[], avoid: ReadonlySet<number>): number[] {
  // Threads keep their place in their core: the sibling of an avoided first thread comes with the second threads.
  const out: number[] = [];
  for (let t = 0; cores.some((c) => c.length > t); t++) for (const c of cores) if (c.length > t && !avoid.has(c[t] as number)) out.push(c[t] as number);
  return out;
}

/** Plans a device's vectors onto its node's CPUs (see the module comment). */
export function planIrqAffinity(input: IrqPlanInput): IrqPlan | IrqRefusal {
  if (input.node === null) return { device: input.device, reason: 'its NUMA node is unknown (numa_node -1 and no local CPUs): there is no node to move its interrupts to' };
  if (input.vectors.length === 0) return { device: input.device, reason: 'it has no MSI or MSI-X vectors (is a driver bound to it?)' };
  const all = input.nodeCores.flat();
  const targets = spreadOrder(input.nodeCores, input.avoid);
  if (targets.length === 0) {
    return {
      device: input.device,
      reason: all.length === 0 ? `node ${input.node} has no online CPU` : `every CPU of node ${input.node} (${formatCpuList(all)}) is dedicated to VMs or excluded`,
    };
  }
  const onNode = new Set(all);
  const vectors = input.vectors.map((v, i): IrqVectorPlan => {
    const planned = [targets[i % targets.length] as number];
    return {
      irq: v.irq,
      name: v.name,
      current: [...v.affinity],
      planned,
      unchanged: v.affinity.length === 1 && v.affinity[0] === planned[0],
      onNode: v.affinity.length > 0 && v.affinity.every((c) => onNode.has(c)),
    };
  });
  const notes: string[] = [];
  const avoided = all.filter((c) => input.avoid.has(c));
  if (avoided.length > 0) notes.push(`CPUs ${formatCpuList(avoided)} of node ${input.node} avoided (dedicated to VMs or excluded)`);
  if (input.vectors.length > targets.length) notes.push(`${input.vectors.length} vectors over ${targets.length} CPUs: some CPUs take more than one`);
  return { device: input.device, node: input.node, targets, vectors, notes };
}

/** The irqbalance options that leave these IRQs alone (irqbalance(1): --banirq, additive). */
export function irqbalanceBanArgs(irqs: readonly number[]): string {
  return irqs.map((i) => `--banirq=${i}`).join(' ');
}
