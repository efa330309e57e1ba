/**
 * A host's capacity in the page's terms: PUs and whole cores (free, held by VMs, reserved), memory,
 * huge pages per size and devices (free and used). Counted from the host view, so it agrees with the
 * drawing by construction.
 */
import { type HostView, occupancy } from './host-view.js';

/** Total and free of one resource. */
export interface Amount {
  total: number;
  free: number;
}

/** Capacity of one host. */
export interface HostCapacitySummary {
  /** Usable PUs (online, allowed); free = neither reserved nor held by a VM. */
  pus: Amount & { reserved: number; used: number };
  /** Cores with a usable PU; free = all usable PUs free. */
  cores: Amount;
  memory: Amount & { reserved: number; used: number };
  /** `over`: pages held beyond the pools (VMs a host update displaced), 0 when none. */
  hugePages: (Amount & { pageSize: number; over: number })[];
  /** PCI functions other than bridges (PFs and VFs). */
  devices: Amount;
}

/** Summarizes a host's capacity. */
export function summarizeHost(host: HostView): HostCapacitySummary {
  const t = host.topology;
  const occ = occupancy(host);
  const pus = { total: 0, free: 0, reserved: 0, used: 0 };
  for (const u of occ.cpus.values()) {
    if (!u.usable) continue;
    pus.total += 1;
    if (u.holders.length > 0) pus.used += 1;
    else if (u.reserved) pus.reserved += 1;
    else pus.free += 1;
  }
  const cores = { total: 0, free: 0 };
  for (const c of t.cores) {
    const usable = c.pus.map((p) => occ.cpus.get(p)).filter((u) => u !== undefined && u.usable);
    if (usable.length === 0) continue;
    cores.total += 1;
    if (usable.every((u) => u !== undefined && !u.reserved && u.holders.length === 0)) cores.free += 1;
  }
  const memory = { total: 0, free: 0, reserved: 0, used: 0 };
  const pages = new Map<number, Amount & { over: number }>();
  for (const n of occ.nodes.values()) {
    memory.total += n.total;
    memory.reserved += n.reserved;
    for (const b of n.byVm.values()) memory.used += b;
    for (const p of n.pages) {
      const cur = pages.get(p.pageSize) ?? { total: 0, free: 0, over: 0 };
      cur.total += p.total;
      cur.free += Math.max(0, p.total - p.used);
      cur.over += Math.max(0, p.used - p.total);
      pages.set(p.pageSize, cur);
    }
  }
  memory.free = Math.max(0, memory.total - memory.reserved - memory.used);
  const addresses = new Set<string>();
  for (const d of t.pciDevices) {
    if (d.class === 'bridge') continue;
    addresses.add(d.address);
    for (const vf of d.sriov?.vfs ?? []) addresses.add(vf);
  }
  let usedDevices = 0;
  for (const a of addresses) if (occ.devices.has(a)) usedDevices += 1;
  return {
    pus,
    cores,
    memory,
    hugePages: [...pages].sort((a, b) => a[0] - b[0]).map(([pageSize, a]) => ({ pageSize, ...a })),
    devices: { total: addresses.size, free: addresses.size - usedDevices },
  };
}
