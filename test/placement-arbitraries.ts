/** fast-check generators for placement tests: random hosts and request streams. */
import fc from 'fast-check';
import type { VmRequestInput } from '../src/core/placement/request.js';
import type { PciDeviceInput } from '../src/core/topology/build.js';
import type { Topology } from '../src/core/topology/model.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';

const G = 1024 ** 3;
const M2 = 2 * 1024 ** 2;

/** A random regular host of up to `maxNodes` CPU nodes with pools, random distances and RDMA NICs. */
export function hostArb(maxNodes = 8): fc.Arbitrary<Topology> {
  return fc
    .record({
      packages: fc.integer({ min: 1, max: 4 }),
      perPackage: fc.integer({ min: 1, max: 2 }),
      cores: fc.integer({ min: 1, max: 6 }),
      threads: fc.integer({ min: 1, max: 2 }),
      memGiB: fc.integer({ min: 4, max: 48 }),
      pool1g: fc.integer({ min: 0, max: 4 }),
      pool2m: fc.integer({ min: 0, max: 2048 }),
      seedDist: fc.array(fc.integer({ min: 11, max: 40 }), { minLength: 64, maxLength: 64 }),
      nics: fc.array(fc.record({ node: fc.nat(), vfs: fc.integer({ min: 0, max: 3 }) }), { maxLength: 3 }),
    })
    .filter((r) => r.packages * r.perPackage <= maxNodes)
    .map((r) => {
      const n = r.packages * r.perPackage;
      const devices: PciDeviceInput[] = r.nics.map((nic, i) => {
        const bus = (0x10 + i * 0x10).toString(16).padStart(2, '0');
        const vfs = Array.from({ length: nic.vfs }, (_, v) => `0000:${bus}:00.${v + 1}`);
        return {
          address: `0000:${bus}:00.0`,
          class: 'rdma',
          classCode: 0x020000,
          vendorId: 0x15b3,
          deviceId: 0x1017,
          node: nic.node % n,
          sriov: { totalVfs: 8, numVfs: vfs.length, vfs },
          rdmaDevices: [`mlx5_${i}`],
        };
      });
      const d = (i: number, j: number): number => {
        if (i === j) return 10;
        const [a, b] = i < j ? [i, j] : [j, i];
        return r.seedDist[(a * 8 + b) % 64] as number;
      };
      return syntheticTopology({
        source: 'random',
        packages: r.packages,
        nodesPerPackage: r.perPackage,
        coresPerNode: r.cores,
        threadsPerCore: r.threads,
        // Pools are carved out of the node's memory: memGiB is what is left beside them.
        memoryPerNode: (r.memGiB + r.pool1g + Math.ceil(r.pool2m / 512)) * G,
        hugePages: [
          { pageSize: M2, total: r.pool2m, free: r.pool2m },
          { pageSize: G, total: r.pool1g, free: r.pool1g },
        ],
        distance: d,
        devices,
      });
    });
}

/** A random request (names are filled in by the stream). */
export const requestArb: fc.Arbitrary<Omit<VmRequestInput, 'name'>> = fc
  .record({
    vcpus: fc.integer({ min: 1, max: 12 }),
    memGiB: fc.integer({ min: 1, max: 24 }),
    pageSize: fc.constantFrom<VmRequestInput['pageSize']>(4096, M2, G, 'auto'),
    cpuPolicy: fc.constantFrom<'dedicated' | 'shared'>('dedicated', 'dedicated', 'dedicated', 'shared'),
    smt: fc.constantFrom<'auto' | 'prefer' | 'isolate' | 'require'>('auto', 'prefer', 'isolate', 'require'),
    numa: fc.constantFrom<'auto' | 'strict' | 'preferred' | 'interleave'>('auto', 'auto', 'strict', 'preferred', 'interleave'),
    emulator: fc.constantFrom<'share' | number>('share', 'share', 1),
    device: fc.constantFrom(null, { kind: 'rdma-vf' as const, count: 1, locality: 'required' as const }, { kind: 'rdma' as const, count: 1, locality: 'preferred' as const }),
  })
  .map((r) => ({
    vcpus: r.vcpus,
    memory: r.memGiB * G,
    pageSize: r.pageSize,
    cpuPolicy: r.cpuPolicy,
    smt: r.smt,
    numa: r.numa,
    emulator: r.emulator,
    devices: r.device ? [r.device] : [],
  }));
