/**
 * The predicted cost of a placement, from the host's distance matrix and a few published numbers.
 *
 * Model (documented so that it can be argued with, and calibrated later):
 * - Access pattern (the headline figures: the documented worst case): a vCPU's memory accesses are
 *   spread over the VM's memory in proportion to where the memory sits (a NUMA-unaware guest). So
 *   the share of accesses from node a to node b is w_a * m_b, with w the fraction of vCPUs and m the
 *   fraction of memory on each node. Interleaved memory is the same formula with m even: every
 *   access costs the average. A 6+6 split over two nodes thus predicts 50% remote accesses.
 * - vNUMA-aware figures (`vnumaAware`, the best case for a guest that uses its vNUMA, as Linux does
 *   with its default local allocation and NUMA balancing): the vCPUs of a guest node access the
 *   memory of their own guest node, which sits on the host node running them. Per guest node g
 *   (weight w_g = its share of the vCPUs, host node h_g): relative latency SLIT(h_g, h_g) / 10 and
 *   no remote access when g holds memory; a guest node without memory (vCPUs whose memory is on
 *   CPU-less tier nodes) accesses the VM's memory like the unaware guest. Summed over guest nodes
 *   weighted by w_g: a 6+6 split whose guest nodes each hold their half of the memory gives 0%
 *   remote and x1.0. Interleaved memory (numa=interleave, the interleave policy) and VMs without a
 *   vNUMA keep the unaware figures: there every access still costs the average.
 * - Remote-access fraction: the sum of w_a * m_b over a != b.
 * - Relative latency: the sum of w_a * m_b * SLIT(a, b) / 10 (ACPI SLIT: 10 means local, 21 means
 *   2.1x the local cost). 1.0 = all local.
 * - Expected latency in ns: LOCAL_LATENCY_NS * relative latency. Published idle figures: local DRAM
 *   ~80 ns, one hop ~140 ns (1.75x, a little under what SLIT 21 says; SLIT values are coarse).
 * - Measured matrix (`measured`, from `numaplan probe` on the host: see topology/calibration.ts):
 *   when it covers every (vCPU node, memory node) pair the prediction needs, the latency of an access
 *   from node a to node b is the measured lat(a, b) in ns, and its ratio lat(a, b) / local(a), where
 *   local(a) = lat(a, a), or the row's smallest value for a node without memory of its own. The same
 *   weights give the expected ns and the relative latency; `calibration` says it was used. A matrix
 *   missing a needed pair is not used at all (SLIT for the whole prediction, and `model` says why).
 *   The remote-access fraction does not depend on the source.
 * - TLB reach: L2_TLB_ENTRIES (~1536 per core on recent x86 server cores) * page size.
 * - Translation entries to pin the memory for DMA (RDMA memory registration, GPU/VFIO IOMMU mappings):
 *   memory / page size, for 4K, 2M and 1G (16 GiB: 4,194,304 / 8,192 / 16).
 * - Device locality penalty: for each device, SLIT(device node, nearest vCPU node) / 10 - 1, summed;
 *   0 when every device is on a node running the VM's vCPUs; unknown device nodes count 0 and are noted.
 * - Device I/O (`deviceIo`, per device with a known node; `deviceIoCost`): a device DMAs into the
 *   VM's memory, spread like the memory (the share not on the device's node crosses the node
 *   interconnect), and the vCPUs ring its doorbells (MMIO) from their nodes. Added latency of a DMA:
 *   LOCAL_LATENCY_NS x (sum_b m_b SLIT(d, b) / 10 - 1); of a vCPU's device access: the same over the
 *   vCPU shares w_a. Bandwidth: the device's peak (ASSUMED_DEVICE_GBPS by class: a PCIe 4.0 x16 card,
 *   an x4 NVMe drive) times the crossing share is what crosses, and its share of the link it crosses:
 *   ASSUMED_SOCKET_LINK_GBPS between packages (SLIT >= 20), ASSUMED_PACKAGE_FABRIC_GBPS within one.
 *   These are assumptions of order of magnitude, not measurements, and say so. `elsewhere` gives the
 *   same figures had the VM sat on the nearest other node, which is why a device pulls a VM to its node.
 */

import { calibrationLabel, measuredLatency } from '../topology/calibration.js';
import type { Topology } from '../topology/model.js';

/** Published idle latency of local DRAM, ns. */
export const LOCAL_LATENCY_NS = 80;
/** Second-level TLB entries per core (order of magnitude for recent x86 server cores). */
export const L2_TLB_ENTRIES = 1536;
/** SLIT value meaning "local". */
export const SLIT_LOCAL = 10;

/** Peak device bandwidth assumed per device class, GB/s (PCIe 4.0 x16: ~32 GB/s; an x4 NVMe drive: ~8 GB/s). */
export const ASSUMED_DEVICE_GBPS: Record<string, number> = { gpu: 32, rdma: 32, nic: 32, accelerator: 32, nvme: 8, storage: 8, other: 8 };
/** Assumed bandwidth of the link between two packages, one direction, GB/s (3-4 UPI or xGMI links). */
export const ASSUMED_SOCKET_LINK_GBPS = 64;
/** Assumed bandwidth between nodes of one package (the on-die fabric), one direction, GB/s. */
export const ASSUMED_PACKAGE_FABRIC_GBPS = 256;
/** SLIT from which two nodes are taken to sit in different packages. */
export const SLIT_OTHER_PACKAGE = 20;

/** What a device's I/O costs where it sits relative to the VM. */
export interface DeviceIoCost {
  address: string;
  node: number;
  /** Share of the VM's memory not on the device's node: the share of its DMA crossing nodes. */
  remoteDmaFraction: number;
  /** Added latency of a DMA, averaged over the VM's memory, against memory on the device's node, ns. */
  addedDmaLatencyNs: number;
  /** Added latency of a vCPU's access to the device (doorbells, MMIO), averaged over the vCPUs, ns. */
  addedMmioLatencyNs: number;
  /** The device's assumed peak bandwidth (GB/s), what of it crosses nodes, and the share of the link crossed. */
  assumedDeviceGBps: number;
  crossingGBps: number;
  linkShare: number;
  /** The same figures for the VM on the nearest other node (vCPUs and memory there); null when there is none. */
  elsewhere: { node: number; addedDmaLatencyNs: number; crossingGBps: number; linkShare: number } | null;
}

/** A device for `deviceIoCost`. */
export interface CostDevice {
  address: string;
  class: string;
  node: number | null;
}

/** Where a VM's vCPUs, memory and devices sit, by host node. */
export interface CostInput {
  /** Host node ids, in the order of the matrix rows of `distance`. */
  distance(a: number, b: number): number;
  vcpusByNode: ReadonlyMap<number, number>;
  memoryByNode: ReadonlyMap<number, number>;
  pageSize: number;
  /** Device nodes (null = unknown). */
  deviceNodes: readonly (number | null)[];
  /** The guest nodes of the VM's vNUMA (host node, vCPU count, bytes on that host node); absent: no vNUMA. */
  guestNodes?: readonly GuestNodeCost[];
  /** Memory interleaved over the nodes: a guest's NUMA awareness does not help. Default false. */
  interleave?: boolean;
  /** A measured latency matrix of the host: used instead of SLIT ratios and LOCAL_LATENCY_NS where it covers the placement. */
  measured?: MeasuredLatency | undefined;
  /** The devices for the I/O figures (`deviceIo`), with the host's CPU nodes for the `elsewhere` figures. */
  devices?: readonly CostDevice[];
  cpuNodes?: readonly number[];
}

/** A host's measured latencies, as the cost model reads them. */
export interface MeasuredLatency {
  /** ns from a CPU of node a to memory of node b; null where not measured. */
  latency(a: number, b: number): number | null;
  /** Says where the figures come from (the probe's host and time). */
  label: string;
}

/** One guest NUMA node, as the vNUMA-aware figures see it. */
export interface GuestNodeCost {
  hostNode: number;
  vcpus: number;
  /** Bytes of the guest node, placed on `hostNode`. */
  memory: number;
}

/** Access figures of one access pattern. */
export interface AccessFigures {
  remoteAccessFraction: number;
  relativeLatency: number;
  expectedLatencyNs: number;
}

/** The prediction. */
export interface CostPrediction {
  remoteAccessFraction: number;
  relativeLatency: number;
  expectedLatencyNs: number;
  tlbReachBytes: number;
  translationEntries: { '4K': number; '2M': number; '1G': number; chosen: number };
  deviceLocalityPenalty: number;
  model: string;
  /** Present when the latency figures come from a measured matrix: which one. Absent: SLIT ratios and published figures. */
  calibration?: { source: 'measured'; label: string };
  /**
   * The same three access figures for a guest that uses its vNUMA (accesses local to its guest
   * node); equal to the headline ones for interleaved memory and for VMs without a vNUMA.
   */
  vnumaAware: AccessFigures;
  /** Each device's I/O cost (present when the input names devices with a known node). */
  deviceIo?: DeviceIoCost[];
}

/** The I/O figures of devices for a VM's vCPUs and memory (see the module comment). */
export function deviceIoCost(
  distance: (a: number, b: number) => number,
  vcpusByNode: ReadonlyMap<number, number>,
  memoryByNode: ReadonlyMap<number, number>,
  devices: readonly CostDevice[],
  cpuNodes: readonly number[] = [],
): DeviceIoCost[] {
  const figures = (d: number, class_: string, vcpus: ReadonlyMap<number, number>, memory: ReadonlyMap<number, number>) => {
    let m = 0;
    for (const x of memory.values()) m += x;
    let v = 0;
    for (const x of vcpus.values()) v += x;
    let dma = 0;
    let remote = 0;
    let worst = SLIT_LOCAL;
    for (const [b, bytes] of memory) {
      if (bytes === 0 || m === 0) continue;
      dma += (bytes / m) * (distance(d, b) / SLIT_LOCAL);
      if (b !== d) {
        remote += bytes / m;
        worst = Math.max(worst, distance(d, b));
      }
    }
    let mmio = 0;
    for (const [a, n] of vcpus) if (n > 0 && v > 0) mmio += (n / v) * (distance(a, d) / SLIT_LOCAL);
    const bw = ASSUMED_DEVICE_GBPS[class_] ?? (ASSUMED_DEVICE_GBPS.other as number);
    const link = worst >= SLIT_OTHER_PACKAGE ? ASSUMED_SOCKET_LINK_GBPS : ASSUMED_PACKAGE_FABRIC_GBPS;
    const crossing = bw * remote;
    return {
      remote,
      addedDmaLatencyNs: round(LOCAL_LATENCY_NS * (m === 0 ? 0 : dma - 1), 1),
      addedMmioLatencyNs: round(LOCAL_LATENCY_NS * (v === 0 ? 0 : mmio - 1), 1),
      bw,
      crossingGBps: round(crossing, 1),
      linkShare: round(crossing / link, 3),
    };
  };
  const out: DeviceIoCost[] = [];
  let total = 0;
  for (const x of memoryByNode.values()) total += x;
  let vtotal = 0;
  for (const x of vcpusByNode.values()) vtotal += x;
  for (const dev of devices) {
    if (dev.node === null) continue;
    const d = dev.node;
    const f = figures(d, dev.class, vcpusByNode, memoryByNode);
    const others = cpuNodes.filter((n) => n !== d).sort((a, b) => distance(d, a) - distance(d, b) || a - b);
    const near = others[0];
    const alt = near === undefined ? null : figures(d, dev.class, new Map([[near, Math.max(1, vtotal)]]), new Map([[near, Math.max(1, total)]]));
    out.push({
      address: dev.address,
      node: d,
      remoteDmaFraction: round(f.remote),
      addedDmaLatencyNs: f.addedDmaLatencyNs,
      addedMmioLatencyNs: f.addedMmioLatencyNs,
      assumedDeviceGBps: f.bw,
      crossingGBps: f.crossingGBps,
      linkShare: f.linkShare,
      elsewhere: near === undefined || !alt ? null : { node: near, addedDmaLatencyNs: alt.addedDmaLatencyNs, crossingGBps: alt.crossingGBps, linkShare: alt.linkShare },
    });
  }
  return out;
}

/** One sentence per device: why it pulls the VM to its node, or what its remoteness costs. */
export function describeDeviceIo(c: DeviceIoCost): string {
  const pct = (x: number): string => `${Math.round(x * 100)}%`;
  if (c.remoteDmaFraction === 0) {
    const e = c.elsewhere;
    return `device ${c.address}: its DMA stays on node ${c.node}${e ? `; on node ${e.node}, the nearest other, each DMA would take ~${e.addedDmaLatencyNs} ns more and up to ${e.crossingGBps} GB/s of its assumed ${c.assumedDeviceGBps} GB/s would cross nodes (${pct(e.linkShare)} of the link): that is what pulls the VM to node ${c.node}` : ''}`;
  }
  return `device ${c.address} on node ${c.node}: ${pct(c.remoteDmaFraction)} of its DMA crosses nodes, ~${c.addedDmaLatencyNs} ns more per DMA and ~${c.addedMmioLatencyNs} ns per vCPU access to it, up to ${c.crossingGBps} GB/s of its assumed ${c.assumedDeviceGBps} GB/s over the link (${pct(c.linkShare)} of it)`;
}

/** The measured latencies of a host's calibration, as predictCost reads them; undefined without one. */
export function measuredOf(topology: Topology): MeasuredLatency | undefined {
  const cal = topology.calibration;
  return cal ? { latency: measuredLatency(cal), label: calibrationLabel(cal) } : undefined;
}

const latencyDistances = new WeakMap<Topology, (a: number, b: number) => number>();

/**
 * The latency of an access from node a to node b in SLIT units (10 = local), as the simulator's
 * ranking and metrics read it: 10 x the measured ratio lat(a, b) / local(a) where the topology's
 * calibration has the pair (local as in predictCost), else `distance(a, b)`. Without a calibration it
 * is `distance` itself, so uncalibrated hosts cost nothing extra.
 */
export function latencyDistance(topology: Topology, distance: (a: number, b: number) => number): (a: number, b: number) => number {
  const cal = topology.calibration;
  if (!cal) return distance;
  let f = latencyDistances.get(topology);
  if (!f) {
    const lat = measuredLatency(cal);
    const local = new Map<number, number | null>();
    const localOf = (a: number): number | null => {
      if (!local.has(a)) {
        let l = lat(a, a);
        if (l === null) for (const b of cal.nodes) {
          const v = lat(a, b);
          if (v !== null && (l === null || v < l)) l = v;
        }
        local.set(a, l);
      }
      return local.get(a) ?? null;
    };
    f = (a, b) => {
      const v = lat(a, b);
      const l = localOf(a);
      return v === null || l === null ? distance(a, b) : (SLIT_LOCAL * v) / l;
    };
    latencyDistances.set(topology, f);
  }
  return f;
}

const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Weighted SLIT ratio of a vCPU/memory distribution: the quantity node-set search minimises. */
export function weightedDistance(
  distance: (a: number, b: number) => number,
  vcpus: ReadonlyMap<number, number>,
  memory: ReadonlyMap<number, number>,
): { relative: number; remote: number } {
  let v = 0;
  let m = 0;
  for (const x of vcpus.values()) v += x;
  for (const x of memory.values()) m += x;
  if (v === 0 || m === 0) return { relative: 1, remote: 0 };
  let rel = 0;
  let remote = 0;
  for (const [a, va] of vcpus) {
    if (va === 0) continue;
    for (const [b, mb] of memory) {
      if (mb === 0) continue;
      const w = (va / v) * (mb / m);
      rel += (w * distance(a, b)) / SLIT_LOCAL;
      if (a !== b) remote += w;
    }
  }
  return { relative: rel, remote };
}

/**
 * Relative latency and remote fraction for a guest that keeps each guest node's accesses on that
 * guest node's memory (see the module comment); null when the unaware figures apply.
 */
export function vnumaAwareDistance(
  distance: (a: number, b: number) => number,
  guestNodes: readonly GuestNodeCost[],
  memory: ReadonlyMap<number, number>,
): { relative: number; remote: number } | null {
  let v = 0;
  for (const g of guestNodes) v += g.vcpus;
  if (v === 0) return null;
  let rel = 0;
  let remote = 0;
  for (const g of guestNodes) {
    if (g.vcpus === 0) continue;
    const w = g.vcpus / v;
    if (g.memory > 0) {
      rel += (w * distance(g.hostNode, g.hostNode)) / SLIT_LOCAL;
      continue;
    }
    const spread = weightedDistance(distance, new Map([[g.hostNode, 1]]), memory);
    rel += w * spread.relative;
    remote += w * spread.remote;
  }
  return { relative: rel, remote };
}

/** The cost of one access from a CPU of node a to memory of node b: ratio to local, and ns. */
type AccessCost = (a: number, b: number) => { ratio: number; ns: number };

/** The access cost from a measured matrix, or null when it lacks a pair the prediction needs (named in `missing`). */
function measuredAccess(m: MeasuredLatency, pairs: readonly (readonly [number, number])[]): { cost: AccessCost } | { missing: string } {
  const local = new Map<number, number>();
  for (const [a, b] of pairs) {
    if (m.latency(a, b) === null) return { missing: `node ${a} -> node ${b}` };
    if (!local.has(a)) {
      let l = m.latency(a, a);
      if (l === null) {
        // A node without memory of its own: its nearest memory is its "local".
        for (const [, y] of pairs) {
          const v = m.latency(a, y);
          if (v !== null && (l === null || v < l)) l = v;
        }
      }
      local.set(a, l as number);
    }
  }
  return {
    cost: (a, b) => {
      const ns = m.latency(a, b) as number;
      return { ratio: ns / (local.get(a) as number), ns };
    },
  };
}

/** Weighted access cost of a vCPU/memory distribution: Σ w_a m_b cost(a, b). */
function spreadCost(cost: AccessCost, vcpus: ReadonlyMap<number, number>, memory: ReadonlyMap<number, number>): { ratio: number; ns: number } {
  let v = 0;
  let m = 0;
  for (const x of vcpus.values()) v += x;
  for (const x of memory.values()) m += x;
  let ratio = 0;
  let ns = 0;
  for (const [a, va] of vcpus) {
    if (va === 0) continue;
    for (const [b, mb] of memory) {
      if (mb === 0) continue;
      const w = (va / v) * (mb / m);
      const c = cost(a, b);
      ratio += w * c.ratio;
      ns += w * c.ns;
    }
  }
  return { ratio, ns };
}

/** The vNUMA-aware counterpart of spreadCost (see vnumaAwareDistance). */
function vnumaAwareCost(cost: AccessCost, guestNodes: readonly GuestNodeCost[], memory: ReadonlyMap<number, number>): { ratio: number; ns: number } | null {
  let v = 0;
  for (const g of guestNodes) v += g.vcpus;
  if (v === 0) return null;
  let ratio = 0;
  let ns = 0;
  for (const g of guestNodes) {
    if (g.vcpus === 0) continue;
    const w = g.vcpus / v;
    const c = g.memory > 0 ? cost(g.hostNode, g.hostNode) : spreadCost(cost, new Map([[g.hostNode, 1]]), memory);
    ratio += w * c.ratio;
    ns += w * c.ns;
  }
  return { ratio, ns };
}

/** The (vCPU node, memory node) pairs a prediction reads. */
function neededPairs(input: CostInput): [number, number][] {
  const pairs: [number, number][] = [];
  const mem = [...input.memoryByNode].filter(([, b]) => b > 0).map(([n]) => n);
  const cpu = new Set([...input.vcpusByNode].filter(([, v]) => v > 0).map(([n]) => n));
  for (const g of input.guestNodes ?? []) if (g.vcpus > 0) cpu.add(g.hostNode);
  for (const a of cpu) for (const b of mem) pairs.push([a, b]);
  for (const g of input.guestNodes ?? []) if (g.vcpus > 0 && g.memory > 0) pairs.push([g.hostNode, g.hostNode]);
  return pairs;
}

const SLIT_MODEL = 'uniform access over the VM memory; SLIT/10 latency ratio; local DRAM 80 ns; L2 TLB 1536 entries';

/** Predicts the cost of a placement. */
export function predictCost(input: CostInput): CostPrediction {
  const { relative, remote } = weightedDistance(input.distance, input.vcpusByNode, input.memoryByNode);
  const aware = input.interleave || !input.guestNodes ? null : vnumaAwareDistance(input.distance, input.guestNodes, input.memoryByNode);
  let memory = 0;
  for (const x of input.memoryByNode.values()) memory += x;
  const cpuNodes = [...input.vcpusByNode.entries()].filter(([, v]) => v > 0).map(([n]) => n);
  let penalty = 0;
  for (const d of input.deviceNodes) {
    if (d === null || cpuNodes.length === 0) continue;
    const nearest = Math.min(...cpuNodes.map((c) => input.distance(c, d)));
    penalty += nearest / SLIT_LOCAL - 1;
  }
  const entries = (size: number): number => Math.ceil(memory / size);
  // SLIT ratios and the published local figure, unless a measured matrix covers the placement.
  let headline = { ratio: relative, ns: LOCAL_LATENCY_NS * relative };
  let awareFigures = { ratio: aware?.relative ?? relative, ns: LOCAL_LATENCY_NS * (aware?.relative ?? relative) };
  let model = SLIT_MODEL;
  let calibration: CostPrediction['calibration'];
  const pairs = input.measured ? neededPairs(input) : [];
  if (input.measured && pairs.length > 0) {
    const m = measuredAccess(input.measured, pairs);
    if ('cost' in m) {
      headline = spreadCost(m.cost, input.vcpusByNode, input.memoryByNode);
      const a = input.interleave || !input.guestNodes ? null : vnumaAwareCost(m.cost, input.guestNodes, input.memoryByNode);
      awareFigures = a ?? headline;
      model = `uniform access over the VM memory; latency from the measured matrix (${input.measured.label}); L2 TLB 1536 entries`;
      calibration = { source: 'measured', label: input.measured.label };
    } else {
      model = `${SLIT_MODEL} (the measured matrix lacks ${m.missing})`;
    }
  }
  return {
    remoteAccessFraction: round(remote),
    relativeLatency: round(headline.ratio),
    expectedLatencyNs: round(headline.ns, 1),
    tlbReachBytes: L2_TLB_ENTRIES * input.pageSize,
    translationEntries: { '4K': entries(4096), '2M': entries(2 * 1024 ** 2), '1G': entries(1024 ** 3), chosen: entries(input.pageSize) },
    deviceLocalityPenalty: round(penalty),
    model,
    ...(calibration ? { calibration } : {}),
    vnumaAware: {
      remoteAccessFraction: round(aware?.remote ?? remote),
      relativeLatency: round(awareFigures.ratio),
      expectedLatencyNs: round(awareFigures.ns, 1),
    },
    ...(input.devices && input.devices.some((d) => d.node !== null)
      ? { deviceIo: deviceIoCost(input.distance, input.vcpusByNode, input.memoryByNode, input.devices, input.cpuNodes ?? []) }
      : {}),
  };
}
