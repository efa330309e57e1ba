/** Eight-socket glueless Xeon: three UPI links per socket, every socket within two hops. */
import { VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import type { Preset } from './index.js';
import { SIZE, buildMachine } from './machine.js';

const SOCKETS = 8;

/** Links of each socket: its two ring neighbours and the opposite socket (a Moebius ladder: 3 links, diameter 2). */
function linked(i: number, j: number): boolean {
  const d = (j - i + SOCKETS) % SOCKETS;
  return d === 1 || d === SOCKETS - 1 || d === SOCKETS / 2;
}

/** Hop count between sockets (0, 1 or 2 on this graph). */
function hops(i: number, j: number): number {
  if (i === j) return 0;
  if (linked(i, j)) return 1;
  for (let k = 0; k < SOCKETS; k++) if (linked(i, k) && linked(k, j)) return 2;
  return 3;
}

/** 8 x Xeon Platinum 8280 (28C/56T), 192 GiB per socket, distances 10 / 21 one hop / 31 two hops. */
export const xeon8s: Preset = {
  name: 'xeon-8s',
  description: '8 x Xeon Platinum 8280 (28C/56T, 192 GiB each), glueless 3-link topology: distances 10/21/31; ConnectX-5, T4',
  provenance: [
    'Illustrative: the data holds no eight-socket x86 output. Sockets, cores and L3 (28 cores, 38.5 MB): Intel specification of',
    'the Xeon Platinum 8280, which supports eight-socket glueless systems with three UPI links per socket. The links are',
    'modelled as a ring plus a link to the opposite socket (each socket has three links; every other socket is at most two',
    'hops away); distances 21 for one hop and 31 for two are assumed, not measured. Memory 6 channels x 32 GiB = 192 GiB per',
    'socket (illustrative). Devices illustrative: ConnectX-5 (15b3:1017) with 8 VFs on nodes 0 and 4, Tesla T4 (10de:1eb8) on',
    'node 2, Intel DC P4510 NVMe (8086:0a54) on node 0. Huge pages: pre-sized pools (1/4 of each node in 2M pages, 1/8 in 1G), all free.',
  ].join(' '),
  build: () =>
    buildMachine({
      name: 'xeon-8s',
      packages: SOCKETS,
      nodesPerPackage: 1,
      coresPerNode: 28,
      threadsPerCore: 2,
      numbering: 'linux',
      model: 'Intel(R) Xeon(R) Platinum 8280',
      memoryPerNode: 192 * SIZE.GiB,
      coresPerL3: 28,
      l3Size: 38.5 * SIZE.MiB,
      distance: (i, j) => [10, 21, 31, 41][hops(i, j)] as number,
      devices: [
        ...connectX({ address: '0000:18:00.0', node: 0, family: 'ConnectX-5', rdmaIndex: 0, netdev: 'ens1f0np0' }),
        ...connectX({ address: '0000:98:00.0', node: 4, family: 'ConnectX-5', rdmaIndex: 9, netdev: 'ens9f0np0' }),
        nvme('0000:19:00.0', 0, VENDOR.intel, 0x0a54, 'Intel DC P4510 NVMe SSD'),
        nvidiaGpu('0000:58:00.0', 2, 0x1eb8, 'NVIDIA Tesla T4'),
      ],
    }),
};
