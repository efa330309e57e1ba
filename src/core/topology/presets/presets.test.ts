import { describe, expect, it } from 'vitest';
import { formatCpuList } from '../cpulist.js';
import { TopologySchema } from '../model.js';
import { summarize } from '../view.js';
import { getPreset, listPresets, presetNames } from './index.js';
import { presetPagePools } from './machine.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Stated shape of each preset: packages, nodes, cores, PUs, CPU-less nodes with memory, distinct distances. */
const SHAPE: Record<string, { packages: number; nodes: number; cores: number; pus: number; cpuLess: number; distances: number[] }> = {
  'broadwell-2s': { packages: 2, nodes: 2, cores: 20, pus: 40, cpuLess: 0, distances: [10, 21] },
  'epyc-2s-nps1': { packages: 2, nodes: 2, cores: 192, pus: 384, cpuLess: 0, distances: [10, 32] },
  'epyc-2s-nps2': { packages: 2, nodes: 4, cores: 192, pus: 384, cpuLess: 0, distances: [10, 12, 32] },
  'epyc-2s-nps4': { packages: 2, nodes: 8, cores: 192, pus: 384, cpuLess: 0, distances: [10, 12, 32] },
  'xeon-2s-snc2': { packages: 2, nodes: 4, cores: 112, pus: 224, cpuLess: 0, distances: [10, 12, 21] },
  'ring-4s': { packages: 4, nodes: 4, cores: 80, pus: 160, cpuLess: 0, distances: [10, 21, 32] },
  'xeon-8s': { packages: 8, nodes: 8, cores: 224, pus: 448, cpuLess: 0, distances: [10, 21, 31] },
  'gh200-2s': { packages: 2, nodes: 18, cores: 144, pus: 144, cpuLess: 2, distances: [10, 40, 80, 120, 255] },
  'cxl-2s': { packages: 2, nodes: 4, cores: 104, pus: 208, cpuLess: 2, distances: [10, 14, 21, 24, 26] },
  'sapphire-rapids-max-hbm-flat': { packages: 2, nodes: 4, cores: 104, pus: 208, cpuLess: 2, distances: [10, 13, 21, 23] },
  'dgx-h100': { packages: 2, nodes: 2, cores: 112, pus: 224, cpuLess: 0, distances: [10, 21] },
};

describe('presets', () => {
  it('has the machines the product promises, each named once', () => {
    expect(presetNames()).toEqual(Object.keys(SHAPE).sort());
    expect(new Set(presetNames()).size).toBe(listPresets().length);
    expect(getPreset('no-such-machine')).toBeUndefined();
  });

  for (const preset of listPresets()) {
    describe(preset.name, () => {
      const topo = preset.build();
      const shape = SHAPE[preset.name];

      it('builds a valid, deterministic topology named after the preset', () => {
        expect(TopologySchema.parse(topo)).toEqual(topo);
        expect(preset.build()).toEqual(topo);
        expect(topo.source).toBe(`preset:${preset.name}`);
        expect(topo.hostname).toBe(`preset-${preset.name}`);
        expect(topo.warnings).toEqual([]);
        expect(preset.description.length).toBeGreaterThan(20);
        expect(preset.provenance).toMatch(/illustrative|assumed/i);
      });

      it('has the stated counts and distances', () => {
        expect(shape).toBeDefined();
        const s = summarize(topo);
        expect({ packages: s.packages, nodes: s.nodes, cores: s.cores, pus: s.pus, cpuLess: s.cpuLessNodes }).toEqual({
          packages: shape?.packages,
          nodes: shape?.nodes,
          cores: shape?.cores,
          pus: shape?.pus,
          cpuLess: shape?.cpuLess,
        });
        expect([...new Set(topo.distances.flat())].sort((a, b) => a - b)).toEqual(shape?.distances);
        topo.distances.forEach((row, i) => {
          expect(row[i]).toBe(10);
          row.forEach((d, j) => expect(d, `distance ${i}->${j}`).toBe(topo.distances[j]?.[i]));
        });
      });

      it('has memory free = total and pre-sized free huge-page pools on DRAM CPU nodes only', () => {
        for (const n of topo.nodes) {
          expect(n.memory.free).toBe(n.memory.total);
          if (n.cpus.length > 0 && n.tier === 'dram') {
            expect(n.hugePages).toEqual(presetPagePools(n.memory.total));
            expect(n.hugePages.map((p) => p.pageSize)).toEqual([2 * MiB, GiB]);
            expect(n.hugePages.every((p) => p.total > 0 && p.free === p.total)).toBe(true);
          } else {
            expect(n.hugePages).toEqual([]);
            expect(n.tier).not.toBe('unknown');
          }
        }
      });

      it('puts every device on an existing node, VFs on their PF', () => {
        const ids = new Set(topo.nodes.map((n) => n.id));
        const byAddress = new Map(topo.pciDevices.map((d) => [d.address, d]));
        expect(topo.pciDevices.some((d) => d.class === 'rdma' && d.sriov !== null)).toBe(true);
        expect(topo.pciDevices.some((d) => d.class === 'gpu' && d.vendorId === 0x10de && d.classCode === 0x030200)).toBe(true);
        for (const d of topo.pciDevices) {
          expect(d.node !== null && ids.has(d.node), `${d.address} node`).toBe(true);
          expect(topo.nodes.find((n) => n.id === d.node)?.cpus.length, `${d.address} sits on a node with CPUs`).toBeGreaterThan(0);
          if (d.physfn !== null) {
            const pf = byAddress.get(d.physfn);
            expect(pf?.sriov?.vfs).toContain(d.address);
            expect(d.node).toBe(pf?.node);
            expect(d.vendorId).toBe(pf?.vendorId);
          }
          if (d.sriov) {
            expect(d.sriov.numVfs).toBe(8);
            expect(d.sriov.vfs).toHaveLength(d.sriov.numVfs);
            expect(topo.pciDevices.filter((v) => v.physfn === d.address)).toHaveLength(d.sriov.numVfs);
            expect(d.vendorId).toBe(0x15b3);
            expect(d.classCode).toBe(0x020000);
          }
        }
        const rdma = topo.pciDevices.flatMap((d) => d.rdmaDevices);
        expect(new Set(rdma).size).toBe(rdma.length);
        expect(rdma).toContain('mlx5_0');
        const net = topo.pciDevices.flatMap((d) => d.netDevices);
        expect(new Set(net).size).toBe(net.length);
      });
    });
  }

  it('numbers CPUs as Linux does', () => {
    const cpus = (name: string, node: number) => formatCpuList(getPreset(name)?.build().nodes[node]?.cpus ?? []);
    expect(cpus('broadwell-2s', 0)).toBe('0-9,20-29');
    expect(cpus('broadwell-2s', 1)).toBe('10-19,30-39');
    expect(cpus('epyc-2s-nps1', 0)).toBe('0-95,192-287');
    expect(cpus('epyc-2s-nps4', 0)).toBe('0-23,192-215');
    expect(cpus('epyc-2s-nps4', 7)).toBe('168-191,360-383');
    expect(cpus('xeon-2s-snc2', 1)).toBe('28-55,140-167');
    expect(cpus('sapphire-rapids-max-hbm-flat', 0)).toBe('0-51,104-155');
    expect(cpus('gh200-2s', 1)).toBe('72-143');
  });

  it('models EPYC L3 per 8-core CCD and NPS as nodes per socket', () => {
    const t = getPreset('epyc-2s-nps4')?.build();
    expect(t?.caches.filter((c) => c.level === 3)).toHaveLength(24);
    expect(t?.caches.every((c) => c.cpus.length === 16)).toBe(true);
    expect(t?.nodes.every((n) => n.memory.total === 96 * GiB)).toBe(true);
    expect(t?.distances[0]).toEqual([10, 12, 12, 12, 32, 32, 32, 32]);
  });

  it('models GH200 GPU memory as CPU-less gpu-tier nodes, one with HBM per chip', () => {
    const t = getPreset('gh200-2s')?.build();
    const gpuNodes = t?.nodes.filter((n) => n.tier === 'gpu') ?? [];
    expect(gpuNodes).toHaveLength(16);
    expect(gpuNodes.filter((n) => n.kind === 'cpu-less').map((n) => n.id)).toEqual([2, 10]);
    expect(gpuNodes.filter((n) => n.kind === 'empty')).toHaveLength(14);
    expect(t?.distances[0]?.slice(0, 12)).toEqual([10, 40, 80, 80, 80, 80, 80, 80, 80, 80, 120, 120]);
    expect(t?.distances[2]?.slice(0, 4)).toEqual([80, 120, 10, 255]);
  });
});
