/**
 * The guest NUMA topology (vNUMA) of a placement.
 *
 * - One guest node per host node running vCPUs, in vCPU order (guest node 0 holds vCPUs 0..), with
 *   the memory placed on that host node.
 * - One CPU-less guest node per host node holding only memory (HBM, CXL, GPU memory tiers).
 * - Guest distances are the host's distances between the mapped host nodes (local stays 10).
 * - Each device is attached to the guest node of its host node; a device whose node holds no part of
 *   the VM goes to the nearest guest node (ties: lowest guest id), or, with `deviceNodes`, gets a
 *   CPU-less, memory-less guest node of its own (how targets such as QEMU's generic initiator or a
 *   PXB expander bus express a device's proximity domain).
 * - A VM on a single host node gets no vNUMA (null), unless `minVcpus` asks for one above a size or
 *   `deviceNodes` gives one of its devices a guest node of its own.
 */
import type { GuestNode, PlacedDevice, Vnuma } from './types.js';

/** Inputs of the guest topology. */
export interface VnumaInput {
  parts: readonly { node: number; vcpuIndexes: readonly number[] }[];
  memory: readonly { node: number; bytes: number }[];
  devices: readonly PlacedDevice[];
  distance(a: number, b: number): number;
}

/** Options. */
export interface VnumaOptions {
  /** Give devices on nodes outside the VM a CPU-less guest node of their own. Default false. */
  deviceNodes?: boolean;
  /** Build a one-node vNUMA for single-node VMs with at least this many vCPUs. Default: never. */
  minVcpus?: number;
}

/** Builds the guest topology, or null for a single-node VM. */
export function buildVnuma(input: VnumaInput, options: VnumaOptions = {}): Vnuma | null {
  const hostNodes = new Set([...input.parts.map((p) => p.node), ...input.memory.map((m) => m.node)]);
  const vcpus = input.parts.reduce((s, p) => s + p.vcpuIndexes.length, 0);
  // With deviceNodes, a device on a node outside the VM needs a guest node of its own, so even a
  // one-node VM then gets a vNUMA (its node plus the device's).
  const deviceOutside = options.deviceNodes === true && input.devices.some((d) => d.node !== null && !hostNodes.has(d.node));
  if (hostNodes.size <= 1 && !deviceOutside && !(options.minVcpus !== undefined && vcpus >= options.minVcpus)) return null;
  const memOf = new Map(input.memory.map((m) => [m.node, m.bytes]));
  const nodes: GuestNode[] = input.parts.map((p, id) => ({
    id,
    hostNode: p.node,
    vcpus: [...p.vcpuIndexes],
    memory: memOf.get(p.node) ?? 0,
    cpuless: false,
  }));
  const cpuHosts = new Set(input.parts.map((p) => p.node));
  for (const m of input.memory) {
    if (!cpuHosts.has(m.node)) nodes.push({ id: nodes.length, hostNode: m.node, vcpus: [], memory: m.bytes, cpuless: true });
  }
  const devices: { address: string; guestNode: number }[] = [];
  for (const d of input.devices) {
    const hostNode = d.node;
    let guest = hostNode === null ? undefined : nodes.find((g) => g.hostNode === hostNode);
    if (!guest && hostNode !== null && options.deviceNodes) {
      guest = { id: nodes.length, hostNode, vcpus: [], memory: 0, cpuless: true };
      nodes.push(guest);
    }
    if (!guest) {
      let best = nodes[0] as GuestNode;
      if (hostNode !== null) {
        for (const g of nodes) if (input.distance(hostNode, g.hostNode) < input.distance(hostNode, best.hostNode)) best = g;
      }
      guest = best;
    }
    devices.push({ address: d.address, guestNode: guest.id });
  }
  const distances = nodes.map((a) => nodes.map((b) => (a.id === b.id ? 10 : input.distance(a.hostNode, b.hostNode))));
  return { nodes, distances, devices };
}
