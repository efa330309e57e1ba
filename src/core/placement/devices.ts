/**
 * Devices as placement sees them: every PCI device of a topology (bridges excepted) and every SR-IOV
 * VF a physical function announces, as slots with their class, node and RDMA capability, in address
 * order; and which slots serve a device request's kind.
 */
import type { PciDevice, Topology } from '../topology/model.js';
import type { DeviceKind, DeviceRequest } from './request.js';

/** A device (physical function or SR-IOV VF) as placement sees it. */
export interface DeviceSlot {
  address: string;
  class: PciDevice['class'];
  /** Physical function of a VF; null for a PF. */
  physfn: string | null;
  /** RDMA-capable (itself, or for a VF its PF). */
  rdma: boolean;
  /** Reported node, else inferred, else (for a VF) its PF's; null when unknown. */
  node: number | null;
  /** VF addresses of a PF. */
  vfs: string[];
}

/** All devices of a topology as slots, including VFs a PF announces but that are not listed. */
export function deviceSlots(topology: Topology): DeviceSlot[] {
  const byAddr = new Map(topology.pciDevices.map((d) => [d.address, d]));
  const nodeOf = (d: PciDevice): number | null => {
    const own = d.node ?? d.inferredNode;
    if (own !== null) return own;
    const pf = d.physfn ? byAddr.get(d.physfn) : undefined;
    return pf ? (pf.node ?? pf.inferredNode) : null;
  };
  const isRdma = (d: PciDevice | undefined): boolean => !!d && (d.class === 'rdma' || d.rdmaDevices.length > 0);
  const slots: DeviceSlot[] = [];
  const listed = new Set(byAddr.keys());
  for (const d of topology.pciDevices) {
    if (d.class === 'bridge') continue;
    const pf = d.physfn ? byAddr.get(d.physfn) : undefined;
    slots.push({
      address: d.address,
      class: pf ? pf.class : d.class,
      physfn: d.physfn,
      rdma: isRdma(d) || isRdma(pf),
      node: nodeOf(d),
      vfs: d.sriov ? [...d.sriov.vfs] : [],
    });
    for (const vf of d.sriov?.vfs ?? []) {
      if (listed.has(vf)) continue;
      listed.add(vf);
      slots.push({ address: vf, class: d.class, physfn: d.address, rdma: isRdma(d), node: d.node ?? d.inferredNode, vfs: [] });
    }
  }
  return slots.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** True when a free device can serve a device request. */
export function deviceMatches(slot: DeviceSlot, req: Pick<DeviceRequest, 'kind' | 'address'>): boolean {
  const kind: DeviceKind = req.kind;
  const isNic = slot.class === 'nic' || slot.class === 'rdma';
  switch (kind) {
    case 'rdma':
      return slot.physfn === null && slot.rdma;
    case 'rdma-vf':
      return slot.physfn !== null && slot.rdma;
    case 'nic':
      return slot.physfn === null && isNic;
    case 'vf':
      return slot.physfn !== null && isNic;
    case 'gpu':
      return slot.physfn === null && slot.class === 'gpu';
    case 'pci':
      return slot.address === req.address;
  }
}
