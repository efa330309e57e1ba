/** The source documents' scenarios, on the built-in presets. */
import { describe, expect, it } from 'vitest';
import { createHostState, parseVmSpec, place, placeMany } from '../src/core/placement/index.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import type { Topology } from '../src/core/topology/model.js';

const G = 1024 ** 3;
function preset(name: string): Topology {
  const p = getPreset(name);
  if (!p) throw new Error(`preset ${name} missing`);
  return p.build();
}

describe('placement scenarios', () => {
  it('splits a 12-vCPU VM 6+6 over the two 10-core nodes with a two-node vNUMA', () => {
    const state = createHostState(preset('broadwell-2s'));
    const r = place(parseVmSpec('name=web,vcpus=12,memory=16G'), state);
    if (!r.ok) throw new Error(JSON.stringify(r));
    const p = r.placement;
    expect(p.nodes).toEqual([0, 1]);
    expect(p.vnuma?.nodes.map((g) => [g.hostNode, g.vcpus.length])).toEqual([
      [0, 6],
      [1, 6],
    ]);
    expect(p.vnuma?.distances).toEqual([
      [10, 21],
      [21, 10],
    ]);
    expect(p.memoryByNode).toEqual({ '0': 8 * G, '1': 8 * G });
    // one vCPU per physical core: no two vCPUs on sibling threads
    const topo = state.topology;
    const cores = p.cpus.map((c) => topo.pus.find((u) => u.os === c)?.core);
    expect(new Set(cores).size).toBe(12);
    expect(p.explanation.smt).toMatch(/one vCPU per physical core/);
  });

  it('stacks siblings in one node only when asked (smt=prefer)', () => {
    const state = createHostState(preset('broadwell-2s'));
    const r = place(parseVmSpec('name=web,vcpus=12,memory=16G,smt=prefer'), state);
    if (!r.ok) throw new Error('refused');
    expect(r.placement.nodes).toHaveLength(1);
    expect(r.placement.vnuma).toBeNull();
  });

  it('gives a VM whose memory exceeds one node the two closest nodes of the four-socket ring', () => {
    const state = createHostState(preset('ring-4s'));
    const r = place(parseVmSpec('name=big,vcpus=8,memory=200G'), state);
    if (!r.ok) throw new Error(JSON.stringify(r.reasons));
    const [a, b] = r.placement.nodes as [number, number];
    expect(r.placement.nodes).toHaveLength(2);
    const idx = (id: number) => state.topology.nodes.findIndex((n) => n.id === id);
    expect(state.topology.distances[idx(a)]?.[idx(b)]).toBe(21);
    expect(r.placement.nodes).toEqual([0, 1]); // tie between neighbour pairs: lowest ids
    expect(r.placement.vnuma?.distances[0]?.[1]).toBe(21);
  });

  it('puts a VM asking for an RDMA VF on the NIC node, and a device-less VM off it', () => {
    const state = createHostState(preset('broadwell-2s'));
    const nicNode = state.topology.pciDevices.find((d) => d.rdmaDevices.length > 0 && d.physfn === null)?.node;
    const withVf = place(parseVmSpec('name=rdma,vcpus=4,memory=8G,devices=rdma-vf:1:required'), state);
    if (!withVf.ok) throw new Error(JSON.stringify(withVf));
    expect(withVf.placement.nodes).toEqual([nicNode]);
    expect(withVf.placement.devices[0]?.physfn).not.toBeNull();
    expect(withVf.placement.devices[0]?.local).toBe(true);
    const plain = place(parseVmSpec('name=plain,vcpus=4,memory=8G'), state);
    if (!plain.ok) throw new Error('refused');
    expect(plain.placement.nodes).not.toEqual([nicNode]);
  });

  it('hands out each VF once across a stream of RDMA VMs', () => {
    const state = createHostState(preset('broadwell-2s'));
    const reqs = Array.from({ length: 4 }, (_, i) => parseVmSpec(`name=v${i},vcpus=2,memory=2G,devices=rdma-vf:1:required`));
    const res = placeMany(reqs, state);
    expect(res.refusal).toBeNull();
    const vfs = res.placements.flatMap((p) => p.devices.map((d) => d.address));
    expect(new Set(vfs).size).toBe(4);
  });

  it('refuses a 1G-page VM when the 1G pool is too small, with a hint', () => {
    const state = createHostState(preset('broadwell-2s'));
    const pool = state.topology.nodes[0]?.hugePages.find((p) => p.pageSize === G)?.total ?? 0;
    const r = place(parseVmSpec(`name=db,vcpus=4,memory=${pool + 4}G,pages=1G,numa=strict`), state);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reasons.some((x) => x.resource === 'hugepages-1G' && x.node === 0 && x.have === pool * G)).toBe(true);
    expect(r.hints.some((h) => /pages=2M|pages=4K/.test(h))).toBe(true);
    expect(r.hints.some((h) => /more 1G huge pages on node/.test(h))).toBe(true);
  });

  it('uses CPU-less HBM nodes only when the request asks for that tier', () => {
    const state = createHostState(preset('sapphire-rapids-max-hbm-flat'));
    const hbm = new Set(state.topology.nodes.filter((n) => n.tier === 'hbm').map((n) => n.id));
    const dram = place(parseVmSpec('name=a,vcpus=8,memory=16G'), state);
    if (!dram.ok) throw new Error('refused');
    expect(dram.placement.nodes.some((n) => hbm.has(n))).toBe(false);
    const onHbm = place(parseVmSpec('name=b,vcpus=8,memory=16G,tier=hbm'), state);
    if (!onHbm.ok) throw new Error(JSON.stringify(onHbm));
    const memNodes = Object.keys(onHbm.placement.memoryByNode).map(Number);
    expect(memNodes.every((n) => hbm.has(n))).toBe(true);
    // vCPUs on the CPU node closest to that HBM node
    const topo = state.topology;
    const idx = (id: number) => topo.nodes.findIndex((n) => n.id === id);
    const cpuNode = topo.pus.find((u) => u.os === onHbm.placement.cpus[0])?.node as number;
    const m = memNodes[0] as number;
    const closest = Math.min(...topo.nodes.filter((n) => n.cpus.length > 0).map((n) => topo.distances[idx(n.id)]?.[idx(m)] ?? 99));
    expect(topo.distances[idx(cpuNode)]?.[idx(m)]).toBe(closest);
    expect(onHbm.placement.vnuma?.nodes.some((g) => g.cpuless)).toBe(true);
  });

  it('keeps the host reserve out of every placement', () => {
    const state = createHostState(preset('broadwell-2s'));
    expect(state.reserve.cpus).toEqual([0, 20]);
    const res = placeMany(Array.from({ length: 10 }, (_, i) => parseVmSpec(`name=v${i},vcpus=4,memory=2G`)), state);
    const used = res.placements.flatMap((p) => p.cpus);
    expect(used).not.toContain(0);
    expect(used).not.toContain(20);
  });
});
