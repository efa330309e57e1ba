/** Two NVIDIA GH200 Grace Hopper superchips: Grace CPU nodes plus CPU-less GPU-memory nodes. */
import type { MemoryNodeSpec } from './machine.js';
import { VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import type { Preset } from './index.js';
import { SIZE, buildMachine } from './machine.js';

const SUPERCHIPS = 2;
/** GPU-memory nodes Linux creates per superchip (one holds the HBM, the others stay empty). */
const GPU_NODES_PER_CHIP = 8;

/** Which superchip a node belongs to, and whether it is a Grace (CPU) node. */
function owner(node: number): { chip: number; grace: boolean } {
  if (node < SUPERCHIPS) return { chip: node, grace: true };
  return { chip: Math.floor((node - SUPERCHIPS) / GPU_NODES_PER_CHIP), grace: false };
}

/** Distances read off the visible rows of the real 4 x GH200 table; see the provenance. */
function distance(i: number, j: number): number {
  if (i === j) return 10;
  const a = owner(i);
  const b = owner(j);
  if (a.grace && b.grace) return 40;
  if (a.grace !== b.grace) return a.chip === b.chip ? 80 : 120;
  return 255;
}

const memoryNodes: MemoryNodeSpec[] = Array.from({ length: SUPERCHIPS * GPU_NODES_PER_CHIP }, (_, k) => ({
  memory: k % GPU_NODES_PER_CHIP === 0 ? 96 * SIZE.GiB : 0,
  tier: 'gpu' as const,
}));

/** 2 x GH200: nodes 0-1 Grace (72 cores, 480 GiB), nodes 2-9 and 10-17 each superchip's GPU-memory nodes. */
export const gh2002s: Preset = {
  name: 'gh200-2s',
  description: '2 x GH200 Grace Hopper: 2 Grace nodes (72 cores, 480 GiB) + 16 CPU-less GPU-memory nodes (96 GiB HBM on one per chip)',
  provenance: [
    'Distances from the real but partial 4 x GH200 table numactl/github-issues/numactl-numactl-224_4xGH200-36nodes-PARTIAL.txt',
    '(nodes 0-3 Grace, then 8 GPU-memory nodes per Grace: 4-11 belong to Grace 0, 12-19 to Grace 1, ...). Its visible rows 0-5',
    'give every value used here: Grace to Grace 40, Grace to its own GPU nodes 80, to other chips\' GPU nodes 120,',
    'GPU node to GPU node 255. This preset keeps two superchips with the same layout (Grace nodes first, then 8 GPU nodes per',
    'chip); rows of GPU nodes of the second chip are not visible in the source and follow from the visible columns by symmetry',
    'and the 255 seen in rows 4-5 (assumed, not read). Sizes are not in the source: 72 Neoverse V2 cores, 480 GB LPDDR5X and',
    '96 GB HBM3 per superchip are NVIDIA\'s GH200 specification (taken as GiB); that the first of the 8 GPU nodes holds the HBM',
    'and the other 7 stay empty is assumed. CPU numbering sequential (no SMT on Grace); L3 114 MiB per Grace (illustrative).',
    'Devices illustrative: GH200 GPU (10de:2342) and ConnectX-7 (15b3:1021) with 8 VFs on each Grace node, NVMe on node 0.',
    'Huge pages: pre-sized pools on the Grace nodes only (1/4 in 2M pages, 1/8 in 1G), all free; none on GPU memory.',
  ].join(' '),
  build: () =>
    buildMachine({
      name: 'gh200-2s',
      packages: SUPERCHIPS,
      nodesPerPackage: 1,
      coresPerNode: 72,
      threadsPerCore: 1,
      numbering: 'sequential',
      model: 'NVIDIA Grace (Neoverse-V2)',
      memoryPerNode: 480 * SIZE.GiB,
      coresPerL3: 72,
      l3Size: 114 * SIZE.MiB,
      memoryNodes,
      distance,
      devices: [
        ...connectX({ address: '0000:01:00.0', node: 0, family: 'ConnectX-7', rdmaIndex: 0, netdev: 'enP1s1f0np0' }),
        ...connectX({ address: '0010:01:00.0', node: 1, family: 'ConnectX-7', rdmaIndex: 9, netdev: 'enP16s1f0np0' }),
        nvidiaGpu('0009:01:00.0', 0, 0x2342, 'NVIDIA GH200 120GB'),
        nvidiaGpu('0019:01:00.0', 1, 0x2342, 'NVIDIA GH200 120GB'),
        nvme('0002:01:00.0', 0, VENDOR.samsung, 0xa824, 'Samsung PM1733 NVMe SSD'),
      ],
    }),
};
