/**
 * numaplan as a library. The CLI, the service and the web page are thin shells over these modules.
 *
 * - topology: the host model, `makeTopology`, cpulists, sizes, presets, summaries, JSON and its schema,
 *   the PCI tree (a function's bridges, root port and host bridge);
 * - sources: `loadTopology('sysfs' | 'sysfs:DIR' | 'hwloc:FILE' | 'numactl:FILE' | 'preset:NAME' | 'json:FILE')`,
 *   `readSysfs({ root })`, hwloc XML import/export, numactl text;
 * - placement: requests, host state and claims, `place`/`placeMany`, the policy registry (numaplan and
 *   the peers' baselines), vNUMA, explanations; cost: the predicted cost of a placement;
 * - emit: libvirt, QEMU, Xen xl, Cloud Hypervisor and numactl configuration from a placement.
 *
 * The RoCE v2 endpoint is `numaplan/rdma`; the fleet store and service are `numaplan/store` and
 * `numaplan/server`.
 */
export * from './core/topology/model.js';
export { makeTopology, inferNode, type TopologyInput, type NodeInput, type PuInput, type PciDeviceInput } from './core/topology/build.js';
export * from './core/topology/cpulist.js';
export * from './core/topology/sizes.js';
export * from './core/topology/errors.js';
export * from './core/topology/view.js';
export { derivePciTree, hostBridgeForBus, parsePciAddress, pciAncestors, pciChildren, pciDomainOf, pciHostBridgeOf, pciRootPort, type PciTreeInput } from './core/topology/pci-tree.js';
export { topologyFromJson, topologyToJson } from './core/topology/json.js';
export { syntheticTopology, type SyntheticSpec } from './core/topology/synthetic.js';
export { getPreset, listPresets, presetNames, type Preset } from './core/topology/presets/index.js';
export { loadTopology, type LoadOptions } from './adapters/source.js';
export { readSysfs, type SysfsOptions } from './adapters/sysfs/read-sysfs.js';
export { topologyFromHwlocXml } from './adapters/hwloc-xml/import.js';
export { topologyToHwlocXml } from './adapters/hwloc-xml/export.js';
export { topologyFromNumactl } from './adapters/numactl-text.js';
export * from './core/placement/index.js';
export * from './core/cost/index.js';
export { EMIT_FORMATS, type EmitFormat, emitPlacement } from './core/emit/index.js';
