/**
 * The capacity view: what is free on each node of a host, in the units placement decides in (free
 * whole cores, free PUs, free memory per page size, free devices and VFs). The view is kept by the
 * host's ledger (`ledger.ts`), incrementally; `hostCapacity(state)` builds a fresh ledger of a state.
 * Policies only read it.
 */
import type { Topology } from '../topology/model.js';
import type { CpuMode } from './context.js';
import type { DeviceSlot } from './devices.js';
import { HostLedger } from './ledger.js';
import type { HostState } from './state.js';

export { type DeviceSlot, deviceMatches, deviceSlots } from './devices.js';

/** What is free on one node. */
export interface NodeCapacity {
  id: number;
  kind: Topology['nodes'][number]['kind'];
  tier: Topology['nodes'][number]['tier'];
  /** Package of the node's first CPU; null for CPU-less nodes. */
  package: number | null;
  /** Usable PUs of the node (online, allowed), before any reserve or allocation. */
  totalPus: number;
  /** Cores with at least one usable PU on the node. */
  totalCores: number;
  /** Memory total in bytes. */
  totalMemory: number;
  /** Cores all of whose usable PUs are free, in topology order; each entry lists the core's PUs. */
  wholeCores: number[][];
  /** Free PUs (not reserved, not held by a dedicated VM), grouped by core in topology order. */
  freePus: number[];
  /** PUs a shared-CPU VM may use: free PUs plus PUs used only by shared VMs, with their tenant count. */
  sharedPus: { cpu: number; tenants: number }[];
  /** Free bytes per page size (4096 = regular memory). */
  memory: Map<number, number>;
  /** Free devices whose node is this one. */
  devices: DeviceSlot[];
}

/** The whole host's free capacity. */
export interface HostCapacity {
  /** The host's topology. */
  readonly topology: Topology;
  nodes: NodeCapacity[];
  byId: Map<number, NodeCapacity>;
  /** Index of each node id in the topology's distance matrix. */
  index: Map<number, number>;
  /** Free devices whose node is unknown. */
  unplacedDevices: DeviceSlot[];
  /** All free devices by address. */
  freeDevices: Map<string, DeviceSlot>;
  /** Fraction of each package's usable PUs in use (reserve and allocations). */
  packageLoad: Map<number, number>;
  /** Page sizes the host has pools of, plus 4096; descending. */
  pageSizes: number[];
  /** Owner of each CPU that is not free: "host reserve" or a VM name. */
  cpuOwner: Map<number, string>;
  /**
   * vCPUs of the placed VMs per node, each VM counted on every node its vCPUs sit on (libxl's
   * nr_vcpus_on_nodes); nodes without any may be absent or 0.
   */
  readonly vcpusByNode: ReadonlyMap<number, number>;
  /** Per-node capacities in a CPU mode (see ModeCaps); the view may cache them until it changes. */
  modeCaps(mode: CpuMode): ModeCaps;
  /** Free bytes of a page size per node id; the view may cache them until it changes. */
  memCaps(pageSize: number): number[];
}

/**
 * What a node can give a request in one CPU mode, by node id (ids are small integers; entries of ids
 * that are not nodes are 0): vCPU slots, the whole-core unit of smt=require (1 in other modes), and
 * reserved emulator pCPUs (in shared mode only completely free PUs, since emulator pCPUs are held
 * exclusively; in the dedicated modes every slot is exclusive already).
 */
export interface ModeCaps {
  cpu: number[];
  unit: number[];
  emulator: number[];
}

/** The per-node capacities of a mode over a capacity view's nodes (`size`: largest node id + 1). */
export function modeCapsOf(nodes: readonly NodeCapacity[], size: number, mode: CpuMode): ModeCaps {
  const cpu = new Array<number>(size).fill(0);
  const unit = new Array<number>(size).fill(1);
  const emulator = new Array<number>(size).fill(0);
  for (const node of nodes) {
    let c = 0;
    let u = 1;
    switch (mode) {
      case 'core':
      case 'isolate':
        c = node.wholeCores.length;
        break;
      case 'thread':
        c = node.freePus.length;
        break;
      case 'shared':
        c = node.sharedPus.length;
        break;
      case 'fill':
        for (const core of node.wholeCores) {
          c += core.length;
          if (core.length > u) u = core.length;
        }
        break;
    }
    if (node.id < size) {
      cpu[node.id] = c;
      unit[node.id] = u;
      emulator[node.id] = mode === 'shared' ? node.freePus.length : c;
    }
  }
  return { cpu, unit, emulator };
}

/** Free bytes of one page size per node id (`size`: largest node id + 1). */
export function memCapsOf(nodes: readonly NodeCapacity[], size: number, pageSize: number): number[] {
  const mem = new Array<number>(size).fill(0);
  for (const node of nodes) if (node.id < size) mem[node.id] = node.memory.get(pageSize) ?? 0;
  return mem;
}

/** The capacity view of a state (a fresh ledger of it). */
export function hostCapacity(state: HostState): HostCapacity {
  return HostLedger.of(state).capacity();
}
