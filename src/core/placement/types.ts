/**
 * The shapes every placement policy produces: a placement (what goes where, and why) or a refusal
 * (which resource on which node is short, and what would make it fit). Infeasible is a result.
 */
import type { LinkClass } from '../topology/device-matrix.js';
import type { CostPrediction } from '../cost/model.js';
import type { IoPlan } from './io-threads.js';
import type { DeviceKind } from './request.js';

/** Memory granted on one node, in one page size. */
export interface MemoryGrant {
  node: number;
  pageSize: number;
  bytes: number;
}

/** A device handed to a VM. */
export interface PlacedDevice {
  address: string;
  kind: DeviceKind;
  /** The device's NUMA node (reported, else inferred, else its physical function's); null if unknown. */
  node: number | null;
  /** True when `node` is one of the VM's vCPU nodes. */
  local: boolean;
  /** For a VF: its physical function. */
  physfn: string | null;
  /**
   * Gang placement (pairing.ts): the device this one is paired with (a GPU's NIC, a NIC's GPU), how
   * they connect (device-matrix.ts classes: PIX one PCIe switch, PXB one root port, PHB one host
   * bridge, NODE one node) and where their paths meet. Absent without `pairing`.
   */
  pairedWith?: { address: string; link: LinkClass; via: string | null };
}

/** One guest NUMA node. */
export interface GuestNode {
  id: number;
  hostNode: number;
  /** Guest vCPU indexes (not host CPUs). */
  vcpus: number[];
  memory: number;
  /** True for a guest node holding no vCPUs (memory-only tier, or a device's node). */
  cpuless: boolean;
}

/** The virtual NUMA topology a multi-node VM gets. */
export interface Vnuma {
  nodes: GuestNode[];
  /** Guest distances, rows and columns by guest node id, taken from the host's matrix. */
  distances: number[][];
  /** Devices attached to the guest node of their host node (or the closest guest node). */
  devices: { address: string; guestNode: number }[];
}

/** One score term, so a reader sees how the choice was made. */
export interface ScoreTerm {
  name: string;
  value: number;
  weight: number;
  note: string;
}

/** A node set that was considered and not chosen. */
export interface Alternative {
  nodes: number[];
  /** Weighted distance (or score for single-node choices); null when the set does not fit. */
  cost: number | null;
  lostBecause: string;
}

/** Why a placement is what it is. */
export interface Explanation {
  policy: string;
  summary: string;
  /** How the vCPUs sit on cores (e.g. "one vCPU per physical core"). */
  smt: string;
  pageSize: string;
  chosen: { nodes: number[]; cost: number; score: ScoreTerm[] };
  alternatives: Alternative[];
  notes: string[];
  cost: CostPrediction;
}

/**
 * How the kernel (or hypervisor) places the VM's memory on its host nodes: `bind` (strict: only
 * these nodes; `numa=auto|strict`), `preferred` (these nodes first, others when they run short;
 * `numa=preferred`), `interleave` (page by page round-robin over the nodes; `numa=interleave`: the
 * guest gets no vNUMA, every access costs the average).
 */
export type MemoryPolicy = 'bind' | 'preferred' | 'interleave';

/** A successful placement. `cpus` holds one host CPU per vCPU, in vCPU order. */
export interface Placement {
  name: string;
  policy: string;
  /** Every host node the VM uses (vCPUs or memory), ascending. */
  nodes: number[];
  cpus: number[];
  /** CPUs held for the VM and left idle: isolated siblings, unused threads of required whole cores. */
  heldCpus: number[];
  emulatorCpus: number[];
  /** Bytes per node id (string keys for JSON). */
  memoryByNode: Record<string, number>;
  pageSize: number;
  /** The memory policy every target applies (see MemoryPolicy). */
  memoryPolicy: MemoryPolicy;
  /**
   * dedicated: vCPU i runs on `cpus[i]` alone; shared: the vCPUs float over the placement's CPUs
   * (of their guest node's host node, with a vNUMA), as Nova does for shared CPUs.
   */
  cpuPolicy: 'dedicated' | 'shared';
  memory: MemoryGrant[];
  devices: PlacedDevice[];
  vnuma: Vnuma | null;
  /**
   * Where the I/O is served (io-threads.ts): emulator thread, I/O threads, vhost workers, the virtio
   * disks and NICs with their queues. Absent for a request without an I/O part.
   */
  io?: IoPlan;
  explanation: Explanation;
}

/** One reason a request does not fit. `node` null = host-wide or node-set-wide. */
export interface RefusalReason {
  resource: string;
  node: number | null;
  need: number;
  have: number;
  /** need - have. */
  shortfall?: number;
  /** Node set this reason is about, when it is about a set. */
  nodes?: number[];
  /** A sentence for humans. */
  detail: string;
}

/** Success or refusal. */
export type PlacementResult =
  | { ok: true; placement: Placement }
  | { ok: false; reasons: RefusalReason[]; hints: string[] };
