/**
 * What the page knows about one host, and who holds each of its resources.
 *
 * `HostView` is the host as the service returns it (topology, host reserve, allocations); the page
 * only reads it. `occupancy` turns it into per-CPU, per-node and per-device owners for drawing.
 * Types only come from core (erased at compile time), so this module runs in the browser as is.
 */
import type { Allocation, HostReserve } from '../../core/placement/state.js';
import type { Topology } from '../../core/topology/model.js';

/** One host: its identity in the fleet, its topology, the reserve and the VMs placed on it. */
export interface HostView {
  id: string;
  name: string;
  topology: Topology;
  reserve: HostReserve;
  allocations: Allocation[];
}

/** Why a CPU is taken, for one holder. */
export type CpuRole = 'vcpu' | 'held' | 'emulator';

/** A VM's hold on one CPU. */
export interface CpuHolder {
  vm: string;
  role: CpuRole;
  /** vCPU indexes (for role "vcpu"); several for a shared VM stacking vCPUs on one PU. */
  vcpus: number[];
  exclusive: boolean;
  status: Allocation['status'];
}

/** State of one PU. */
export interface CpuUse {
  cpu: number;
  /** online and allowed by the cpuset */
  usable: boolean;
  reserved: boolean;
  holders: CpuHolder[];
}

/** Memory use of one node. */
export interface NodeUse {
  node: number;
  total: number;
  reserved: number;
  /** Bytes per VM on this node (any page size). */
  byVm: Map<string, number>;
  /** Huge-page pools: pages total and pages allocated to VMs, by page size. */
  pages: { pageSize: number; total: number; used: number }[];
}

/** Who holds what on a host. */
export interface Occupancy {
  cpus: Map<number, CpuUse>;
  nodes: Map<number, NodeUse>;
  /** Device address -> VM name. */
  devices: Map<string, string>;
}

/** Computes the occupancy of a host from its reserve and allocations. */
export function occupancy(host: HostView): Occupancy {
  const t = host.topology;
  const reservedCpus = new Set(host.reserve.cpus);
  const cpus = new Map<number, CpuUse>();
  for (const p of t.pus) cpus.set(p.os, { cpu: p.os, usable: p.online && p.allowed, reserved: reservedCpus.has(p.os), holders: [] });
  const nodes = new Map<number, NodeUse>();
  for (const n of t.nodes) {
    nodes.set(n.id, {
      node: n.id,
      total: n.memory.total,
      reserved: host.reserve.memory.filter((m) => m.node === n.id).reduce((s, m) => s + m.bytes, 0),
      byVm: new Map(),
      pages: n.hugePages.map((h) => ({ pageSize: h.pageSize, total: h.total, used: 0 })),
    });
  }
  const devices = new Map<string, string>();
  const hold = (cpu: number, holder: CpuHolder, vcpu: number | null): void => {
    const use = cpus.get(cpu);
    if (!use) return;
    const same = use.holders.find((h) => h.vm === holder.vm && h.role === holder.role);
    if (same) {
      if (vcpu !== null) same.vcpus.push(vcpu);
      return;
    }
    use.holders.push({ ...holder, vcpus: vcpu === null ? [] : [vcpu] });
  };
  for (const a of host.allocations) {
    const base = { vm: a.name, exclusive: a.exclusive, status: a.status, vcpus: [] as number[] };
    a.cpus.forEach((cpu, i) => hold(cpu, { ...base, role: 'vcpu' }, i));
    for (const cpu of a.heldCpus) hold(cpu, { ...base, role: 'held' }, null);
    for (const cpu of a.emulatorCpus) hold(cpu, { ...base, role: 'emulator' }, null);
    for (const m of a.memory) {
      const use = nodes.get(m.node);
      if (!use) continue;
      use.byVm.set(a.name, (use.byVm.get(a.name) ?? 0) + m.bytes);
      const pool = use.pages.find((p) => p.pageSize === m.pageSize);
      if (pool && m.pageSize > 4096) pool.used += Math.round(m.bytes / m.pageSize);
    }
    for (const d of a.devices) devices.set(d, a.name);
  }
  return { cpus, nodes, devices };
}

/** Memory of a VM per node, from its grants: node -> { bytes, pageSizes }. */
export function memoryByNode(a: Allocation): Map<number, { bytes: number; pageSizes: number[] }> {
  const out = new Map<number, { bytes: number; pageSizes: number[] }>();
  for (const m of [...a.memory].sort((x, y) => x.node - y.node)) {
    const cur = out.get(m.node) ?? { bytes: 0, pageSizes: [] };
    cur.bytes += m.bytes;
    if (!cur.pageSizes.includes(m.pageSize)) cur.pageSizes.push(m.pageSize);
    out.set(m.node, cur);
  }
  return out;
}
