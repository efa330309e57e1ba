/** Two-socket AMD EPYC 9004 (Genoa) in NPS1, NPS2 or NPS4: the shared builder of the epyc-2s-nps* presets. */
import type { Topology } from '../model.js';
import { VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import { SIZE, buildMachine } from './machine.js';

/** Nodes per socket. */
export type Nps = 1 | 2 | 4;

const CORES_PER_SOCKET = 96;

/** Where the numbers of the epyc-2s-nps* presets come from. */
export function epycProvenance(nps: Nps): string {
  const common = [
    'Sockets and cores: the real EPYC 9004 two-socket host output numactl/suse-best-practices/AMD-EPYC-4-SLES15SP4_L281_host.txt',
    '(96 cores / 192 threads per socket, node0 = 0-95,192-287, about 377 GiB per node);',
    'memory 384 GiB per socket = 12 channels x 32 GiB (illustrative DIMMs matching that size), split evenly over the NPS nodes;',
    'L3 32 MiB per 8-core CCD: AMD specification of Zen 4.',
    'Inter-socket distance 32: every real two-socket EPYC output in numactl/ (SUSE 7002/7003/9004/9005 hosts, 2 x 9375F, 2 x 9135).',
  ];
  const intra =
    nps === 1
      ? ['NPS1: one node per socket, so 32 is the only remote distance, exactly as in those outputs.']
      : [
          `NPS${nps}: intra-socket distance 12 from the real Threadripper 3960X NPS4 output`,
          '(numactl/github-issues/numactl-numactl-165_Threadripper-3960X-NPS4-memoryless.txt), which shows 12 between all its',
          'quadrants; no dual-socket NPS2/NPS4 table exists in the data, so combining 12 within a socket and 32 across is an assumption.',
        ];
  return [
    ...common,
    ...intra,
    'Devices illustrative: ConnectX-7 (15b3:1021) with 8 VFs on the first node of socket 0 and on the second node of socket 1',
    '(its only node in NPS1), H100 PCIe (10de:2331) on the last node of each socket, Samsung PM1733 NVMe (144d:a824) on node 0.',
    'Huge pages: pre-sized pools (1/4 of each node in 2M pages, 1/8 in 1G pages), all free.',
  ].join(' ');
}

/** Builds the two-socket Genoa host in the given NPS mode. */
export function epycGenoa2s(nps: Nps): Topology {
  const name = `epyc-2s-nps${nps}`;
  const firstOf = (socket: number): number => socket * nps;
  const lastOf = (socket: number): number => socket * nps + nps - 1;
  // A NIC on a node that is neither a socket's first nor its GPU's (where its quadrant allows).
  const secondOf = (socket: number): number => socket * nps + Math.min(1, nps - 1);
  return buildMachine({
    name,
    packages: 2,
    nodesPerPackage: nps,
    coresPerNode: CORES_PER_SOCKET / nps,
    threadsPerCore: 2,
    numbering: 'linux',
    model: 'AMD EPYC 9654 96-Core Processor',
    memoryPerNode: (384 / nps) * SIZE.GiB,
    coresPerL3: 8,
    l3Size: 32 * SIZE.MiB,
    distance: (i, j) => (i === j ? 10 : Math.floor(i / nps) === Math.floor(j / nps) ? 12 : 32),
    devices: [
      ...connectX({ address: '0000:41:00.0', node: firstOf(0), family: 'ConnectX-7', rdmaIndex: 0, netdev: 'ens1f0np0' }),
      ...connectX({ address: '0000:c1:00.0', node: secondOf(1), family: 'ConnectX-7', rdmaIndex: 9, netdev: 'ens5f0np0' }),
      nvme('0000:21:00.0', 0, VENDOR.samsung, 0xa824, 'Samsung PM1733 NVMe SSD'),
      nvidiaGpu('0000:01:00.0', lastOf(0), 0x2331, 'NVIDIA H100 PCIe'),
      nvidiaGpu('0000:81:00.0', lastOf(1), 0x2331, 'NVIDIA H100 PCIe'),
    ],
  });
}
