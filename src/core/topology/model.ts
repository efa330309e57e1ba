/**
 * The host model: one immutable value describing a machine's NUMA topology.
 *
 * The zod schema below is the single source of truth: the TypeScript types are inferred from it and
 * the published JSON Schema (`numaplan schema topology`) is generated from it.
 *
 * Index conventions (see ARCHITECTURE.md, "name the index"):
 * - `os` / `id` fields are OS indexes: what the kernel calls cpu37 or node3. They may be sparse.
 * - `logical` fields are dense positions in topology order (hwloc's L#).
 * - `distances` rows and columns follow the order of `nodes` (which is sorted by node id).
 * - sizes are bytes; page pool counts are pages.
 */
import { z } from 'zod';

/** Where the memory of a node physically lives. */
export const MemoryTierSchema = z
  .enum(['dram', 'hbm', 'cxl', 'gpu', 'nvm', 'unknown'])
  .describe('memory technology of the node: DRAM, HBM, CXL-attached, GPU memory, persistent memory');
export type MemoryTier = z.infer<typeof MemoryTierSchema>;

/** Whether a node has CPUs, memory, or both. */
export const NodeKindSchema = z
  .enum(['cpu-memory', 'cpu-less', 'memory-less', 'empty'])
  .describe('cpu-memory: has both; cpu-less: memory only (HBM, CXL, GPU memory); memory-less: CPUs only');
export type NodeKind = z.infer<typeof NodeKindSchema>;

const count = z.number().int().nonnegative();
const osIndex = z.number().int().nonnegative();
const cpuSet = z.array(osIndex).describe('sorted OS indexes of PUs');

/** A huge-page (or base-page) pool of one page size on one node. */
export const PagePoolSchema = z.object({
  pageSize: z.number().int().positive().describe('page size in bytes'),
  total: count.describe('pages in the pool'),
  free: count.describe('pages not in use'),
});
export type PagePool = z.infer<typeof PagePoolSchema>;

/** One NUMA node. */
export const NumaNodeSchema = z.object({
  id: osIndex.describe('OS index of the node'),
  cpus: cpuSet.describe('PUs whose local memory this is (sysfs node cpulist), including offline or disallowed ones'),
  memory: z.object({ total: count.describe('bytes'), free: count.describe('bytes') }),
  hugePages: z.array(PagePoolSchema).describe('huge-page pools by page size, ascending'),
  kind: NodeKindSchema,
  tier: MemoryTierSchema,
  allowed: z.boolean().describe('false when the cgroup cpuset excludes this node'),
});
export type NumaNode = z.infer<typeof NumaNodeSchema>;

/** A processing unit (hardware thread), by OS index. */
export const PuSchema = z.object({
  os: osIndex,
  logical: count.describe('position in topology order'),
  core: count.describe('logical index of its core in `cores`'),
  package: osIndex.describe('OS id of its package'),
  node: osIndex.nullable().describe('OS id of the NUMA node listing it, null if none does'),
  online: z.boolean(),
  allowed: z.boolean().describe('false when the cgroup cpuset excludes this PU'),
});
export type Pu = z.infer<typeof PuSchema>;

/** A physical core: one or more SMT sibling PUs. */
export const CoreSchema = z.object({
  logical: count,
  coreId: count.describe('core id as the OS reports it (unique within a package, not host-wide)'),
  package: osIndex,
  pus: cpuSet.describe('SMT siblings'),
  node: osIndex.nullable(),
});
export type Core = z.infer<typeof CoreSchema>;

/** A processor package (socket). */
export const PackageSchema = z.object({
  id: osIndex.describe('physical package id'),
  pus: cpuSet,
  model: z.string().nullable().describe('CPU model name where known'),
});
export type Package = z.infer<typeof PackageSchema>;

/** A cache and the PUs that share it. */
export const CacheSchema = z.object({
  level: z.number().int().min(1).max(5),
  type: z.enum(['unified', 'data', 'instruction']),
  size: count.describe('bytes'),
  lineSize: count.nullable(),
  ways: count.nullable(),
  cpus: cpuSet,
});
export type Cache = z.infer<typeof CacheSchema>;

/** A grouping of cores between package and core: die, cluster, or an explicit hwloc Group. */
export const GroupSchema = z.object({
  kind: z.enum(['die', 'cluster', 'group']),
  id: count,
  package: osIndex.nullable(),
  cpus: cpuSet,
});
export type Group = z.infer<typeof GroupSchema>;

/** What a PCI device is, for placement purposes. */
export const DeviceClassSchema = z.enum(['nic', 'rdma', 'gpu', 'nvme', 'accelerator', 'storage', 'bridge', 'other']);
export type DeviceClass = z.infer<typeof DeviceClassSchema>;

const pciAddress = z
  .string()
  .regex(/^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/)
  .describe('domain:bus:device.function, lowercase hex');

/** The PCI buses below a bridge: secondary (the bus right below it) up to subordinate, inclusive. */
export const PciBusRangeSchema = z.object({
  secondary: z.number().int().min(0).max(255),
  subordinate: z.number().int().min(0).max(255),
});
export type PciBusRange = z.infer<typeof PciBusRangeSchema>;

/**
 * A PCI host bridge (root complex): the top of a PCI tree, above the functions of its root bus
 * (`buses.secondary`) and everything below them up to `buses.subordinate`.
 */
export const PciHostBridgeSchema = z.object({
  domain: z.string().regex(/^[0-9a-f]{4,8}$/).describe('PCI domain (segment), lowercase hex'),
  buses: PciBusRangeSchema,
});
export type PciHostBridge = z.infer<typeof PciHostBridgeSchema>;

/** A PCI function (physical function or SR-IOV virtual function). */
export const PciDeviceSchema = z.object({
  address: pciAddress,
  class: DeviceClassSchema,
  classCode: z.number().int().nonnegative().describe('24-bit PCI class code, e.g. 0x020000 for Ethernet'),
  vendorId: z.number().int().nonnegative(),
  deviceId: z.number().int().nonnegative(),
  name: z.string().nullable().describe('human-readable name where known'),
  node: osIndex.nullable().describe('NUMA node as reported by the device (sysfs numa_node); null when unknown'),
  localCpus: cpuSet.nullable().describe('local_cpulist as reported, null when not reported'),
  inferredNode: osIndex
    .nullable()
    .describe('node inferred from local CPUs (hwloc-style) when `node` is unknown; null otherwise'),
  sriov: z
    .object({ totalVfs: count, numVfs: count, vfs: z.array(z.string()).describe('VF addresses') })
    .nullable()
    .describe('SR-IOV capability of a physical function'),
  physfn: z.string().nullable().describe('for a virtual function, the address of its physical function'),
  rdmaDevices: z.array(z.string()).describe('RDMA device names, e.g. mlx5_0'),
  netDevices: z.array(z.string()).describe('network interface names, e.g. ens1f0np0'),
  parent: pciAddress
    .nullable()
    .default(null)
    .describe(
      'the PCI-to-PCI bridge (root port, switch port) this function sits below, by address; null: on a root bus, ' +
        'directly below its host bridge (pciHostBridges)',
    ),
  bridge: PciBusRangeSchema.nullable()
    .default(null)
    .describe('for a PCI-to-PCI bridge, the buses below it; null for every other function'),
});
export type PciDevice = z.infer<typeof PciDeviceSchema>;

/** Something a source reported that was contradictory or missing, and what was done about it. */
export const TopologyWarningSchema = z.object({
  path: z.string().describe('file or field the warning is about'),
  message: z.string(),
  level: z
    .enum(['warning', 'note'])
    .optional()
    .describe(
      'note: a limit of the source format itself (e.g. numactl text has no cores), not a problem in the data; ' +
        '--strict fails on warnings only. Absent means warning.',
    ),
});
export type TopologyWarning = z.infer<typeof TopologyWarningSchema>;

/**
 * A measured node-to-node matrix (`numaplan probe`): memory latency and read bandwidth from a thread
 * on a CPU of each node (rows, the initiator) to memory bound to each node (columns, the target).
 * Like hwloc's Latency and Bandwidth memory attributes, it describes the host, beside the SLIT.
 */
export const CalibrationSchema = z
  .object({
    measuredAt: z.string().describe('when the probe ran (ISO 8601)'),
    hostname: z.string().nullable().describe('the host the probe ran on'),
    method: z.string().describe('how the figures were measured'),
    nodes: z.array(osIndex).describe('node ids: the order of the rows and columns, equal to the ids of `nodes`'),
    latency: z
      .array(z.array(z.number().positive().nullable()))
      .describe('nanoseconds per dependent load; row: node of the CPU, column: node of the memory; null where not measured (a node without CPUs or memory)'),
    bandwidth: z.array(z.array(z.number().positive().nullable())).describe('read bandwidth of one thread, MB/s (10^6 bytes per second); same layout'),
  })
  .describe('measured node-to-node latency and bandwidth (numaplan probe)');
export type Calibration = z.infer<typeof CalibrationSchema>;

/** The whole host. */
export const TopologySchema = z
  .object({
    schema: z.literal('numaplan.topology/v1'),
    source: z.string().describe('where the model came from, e.g. "sysfs", "preset:epyc-2s-nps4"'),
    hostname: z.string().nullable(),
    nodes: z.array(NumaNodeSchema).describe('sorted by id'),
    distances: z
      .array(z.array(z.number().int().nonnegative()))
      .describe('SLIT distances exactly as reported; rows and columns in `nodes` order; may be asymmetric'),
    packages: z.array(PackageSchema),
    cores: z.array(CoreSchema).describe('in topology order; `logical` is the position'),
    pus: z.array(PuSchema).describe('in topology order; `logical` is the position'),
    caches: z.array(CacheSchema),
    groups: z.array(GroupSchema),
    pciDevices: z.array(PciDeviceSchema).describe('sorted by address'),
    pciHostBridges: z
      .array(PciHostBridgeSchema)
      .default([])
      .describe('PCI host bridges, sorted by domain and buses; every function without a parent lies in the bus range of one'),
    offlineCpus: cpuSet.describe(
      'CPUs the kernel lists that are not in the hierarchy because they are offline (an offline CPU exports no topology)',
    ),
    warnings: z.array(TopologyWarningSchema),
    calibration: CalibrationSchema.optional().describe('measured latency and bandwidth between nodes, when a probe calibrated this host (absent otherwise)'),
  })
  .describe('numaplan host topology');
export type Topology = z.infer<typeof TopologySchema>;

export { TOPOLOGY_SCHEMA_ID } from './schema-id.js';

/** JSON Schema (draft 2020-12) of the topology document, generated from the zod schema. */
export function topologyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(TopologySchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  return { $id: 'https://numaplan.dev/schema/topology-v1.json', title: 'numaplan topology', ...schema };
}
