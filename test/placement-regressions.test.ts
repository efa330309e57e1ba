/**
 * Deterministic regressions of the engine's known bugs, each one the counterexample a property or
 * a user found, kept as a plain test (they hold for every registered policy where they apply).
 */
import { describe, expect, it } from 'vitest';
import {
  type HostState,
  commitPlacement,
  createHostState,
  parseVmRequest,
  parseVmSpec,
  place,
  policyNames,
} from '../src/core/placement/index.js';
import { renderPlacements } from '../src/cli/render/placement-text.js';
import { hostCapacity } from '../src/core/placement/capacity.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import type { Topology } from '../src/core/topology/model.js';

const G = 1024 ** 3;

/** Every CPU held exclusively (reserve, dedicated vCPUs, held siblings, emulator pCPUs) has one owner, and no shared VM sits on one. */
function checkCpus(state: HostState): void {
  const owner = new Map<number, string>();
  const hold = (c: number, who: string): void => {
    const prev = owner.get(c);
    if (prev !== undefined) throw new Error(`CPU ${c} handed to ${who} and ${prev}`);
    owner.set(c, who);
  };
  for (const c of state.reserve.cpus) hold(c, 'reserve');
  for (const a of state.allocations) {
    if (a.exclusive) for (const c of a.cpus) hold(c, a.name);
    for (const c of [...a.heldCpus, ...a.emulatorCpus]) hold(c, a.name);
  }
  for (const a of state.allocations) {
    if (a.exclusive) continue;
    for (const c of a.cpus) if (owner.has(c)) throw new Error(`shared ${a.name} on CPU ${c} held by ${owner.get(c)}`);
  }
}

describe('shared vCPUs and reserved emulator pCPUs', () => {
  // fast-check's counterexample: one node, 3 cores x 2 threads (the reserve takes core 0).
  const topo = syntheticTopology({ source: 'regression-shared', packages: 1, nodesPerPackage: 1, coresPerNode: 3, threadsPerCore: 2, memoryPerNode: 16 * G });
  const stream = [
    { name: 'vm0', vcpus: 1, memory: G, cpuPolicy: 'shared' },
    { name: 'vm1', vcpus: 3, memory: G, cpuPolicy: 'shared', emulator: 1 },
    { name: 'vm2', vcpus: 1, memory: G },
  ];

  it.each(policyNames())('%s: emulator pCPUs come only from free CPUs, never from one a shared VM uses', (policy) => {
    let state = createHostState(topo);
    for (const raw of stream) {
      const r = parseVmRequest(raw);
      const res = place(r, state, policy, { hints: false });
      if (!res.ok) continue;
      state = commitPlacement(state, res.placement, r);
      checkCpus(state);
    }
    const vm0 = state.allocations.find((a) => a.name === 'vm0');
    const vm1 = state.allocations.find((a) => a.name === 'vm1');
    expect(vm0 && vm1).toBeTruthy();
    for (const c of vm1?.emulatorCpus ?? []) expect(vm0?.cpus).not.toContain(c);
  });

  it('refuses, naming the resource, when no completely free CPU is left for the emulator', () => {
    let state = createHostState(topo);
    // vm0 shares all 4 usable PUs: none is completely free afterwards.
    const a = parseVmRequest({ name: 'a', vcpus: 4, memory: G, cpuPolicy: 'shared' });
    const ra = place(a, state);
    if (!ra.ok) throw new Error(JSON.stringify(ra));
    state = commitPlacement(state, ra.placement, a);
    const b = parseVmRequest({ name: 'b', vcpus: 2, memory: G, cpuPolicy: 'shared', emulator: 1 });
    const rb = place(b, state);
    expect(rb.ok).toBe(false);
    if (rb.ok) return;
    expect(rb.reasons.some((x) => x.resource === 'emulator-cpus' && x.need === 1 && x.have === 0)).toBe(true);
    expect(rb.hints.some((h) => h.startsWith('emulator=share'))).toBe(true);
    // without reserved emulator pCPUs it shares the PUs
    expect(place({ ...b, emulator: 'share' }, state).ok).toBe(true);
  });
});

describe('explicit guest layout', () => {
  const presetState = (name: string): HostState => {
    const p = getPreset(name);
    if (!p) throw new Error(`preset ${name} missing`);
    return createHostState(p.build());
  };
  const distance = (state: HostState, a: number, b: number): number => {
    const idx = (id: number): number => state.topology.nodes.findIndex((n) => n.id === id);
    return state.topology.distances[idx(a)]?.[idx(b)] ?? Number.NaN;
  };
  const puNode = (state: HostState): Map<number, number | null> => new Map(state.topology.pus.map((u) => [u.os, u.node]));

  it('honours layout=8:32G/8:32G: each guest node on its own host node, the closest pair, guest i on the i-th node', () => {
    const state = presetState('epyc-2s-nps4');
    const r = parseVmSpec('name=x,vcpus=16,memory=64G,layout=8:32G/8:32G');
    const res = place(r, state);
    if (!res.ok) throw new Error(JSON.stringify(res.reasons));
    const p = res.placement;
    expect(p.nodes).toEqual([0, 1]);
    expect(p.vnuma?.nodes.map((g) => [g.hostNode, g.vcpus.length, g.memory])).toEqual([
      [0, 8, 32 * G],
      [1, 8, 32 * G],
    ]);
    // guest node i's vCPUs run on its host node
    const nodeOf = puNode(state);
    for (const g of p.vnuma?.nodes ?? []) for (const v of g.vcpus) expect(nodeOf.get(p.cpus[v] as number)).toBe(g.hostNode);
    expect(distance(state, 0, 1)).toBe(Math.min(...state.topology.distances.flatMap((row) => row.filter((d) => d !== 10))));
    expect(JSON.stringify(place(r, state))).toBe(JSON.stringify(res));
  });

  it('keeps an asymmetric layout in guest order, and takes the two neighbours of a ring', () => {
    const epyc = presetState('epyc-2s-nps4');
    const a = place(parseVmSpec('name=a,vcpus=16,memory=64G,layout=12:48G/4:16G'), epyc);
    if (!a.ok) throw new Error(JSON.stringify(a.reasons));
    expect(a.placement.vnuma?.nodes.map((g) => [g.vcpus.length, g.memory])).toEqual([
      [12, 48 * G],
      [4, 16 * G],
    ]);
    expect(a.placement.memoryByNode).toEqual({ '0': 48 * G, '1': 16 * G });
    const ring = presetState('ring-4s');
    const b = place(parseVmSpec('name=b,vcpus=8,memory=16G,layout=4:8G/4:8G'), ring);
    if (!b.ok) throw new Error(JSON.stringify(b.reasons));
    const [h0, h1] = b.placement.vnuma?.nodes.map((g) => g.hostNode) ?? [];
    expect(distance(ring, h0 as number, h1 as number)).toBe(21);
  });

  it('moves a guest node that does not fit its node in order to another one (first fitting assignment)', () => {
    const state = presetState('broadwell-2s'); // node 0 has 9 free cores (the reserve holds one), node 1 has 10
    const res = place(parseVmSpec('name=x,vcpus=12,memory=16G,layout=10:8G/2:8G'), state);
    if (!res.ok) throw new Error(JSON.stringify(res.reasons));
    expect(res.placement.vnuma?.nodes.map((g) => [g.hostNode, g.vcpus.length])).toEqual([
      [1, 10],
      [0, 2],
    ]);
    expect(res.placement.cpus.slice(0, 10).every((c) => puNode(state).get(c) === 1)).toBe(true);
  });

  it('refuses a layout that cannot fit, naming the guest node and the resource', () => {
    const state = presetState('epyc-2s-nps4'); // 12 x 1G pages per node
    const res = place(parseVmSpec('name=x,vcpus=16,memory=64G,layout=8:32G/8:32G,pages=1G'), state);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.reasons).toHaveLength(2);
    for (const [g, reason] of res.reasons.entries()) {
      expect(reason).toMatchObject({ resource: 'hugepages-1G', need: 32 * G, have: 12 * G });
      expect(reason.detail).toContain(`guest node ${g} (8 vCPUs, 32 GiB) fits on no node`);
    }
    expect(res.reasons.some((x) => x.resource === 'nodes')).toBe(false);
    expect(res.hints).toContain('pages=4K would fit (nodes 0,1)');
  });

  it('refuses a layout with more guest nodes than host nodes, naming it', () => {
    const state = presetState('broadwell-2s');
    const res = place(parseVmSpec('name=x,vcpus=6,memory=6G,layout=2:2G/2:2G/2:2G'), state);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.reasons).toEqual([expect.objectContaining({ resource: 'nodes', node: null, need: 3, have: 2 })]);
    expect(res.reasons[0]?.detail).toMatch(/the layout has 3 guest nodes, each on a host node of its own; the host has 2 node/);
    expect(res.hints.some((h) => h.startsWith('dropping the explicit layout would fit'))).toBe(true);
  });
});

describe('cost prediction with a vNUMA', () => {
  const broadwell = (): HostState => {
    const p = getPreset('broadwell-2s');
    if (!p) throw new Error('preset broadwell-2s missing');
    return createHostState(p.build());
  };

  it('keeps the NUMA-unaware figure (50% remote for 6+6) and adds the vNUMA-aware one (all local)', () => {
    const res = place(parseVmSpec('name=web,vcpus=12,memory=16G'), broadwell());
    if (!res.ok) throw new Error(JSON.stringify(res.reasons));
    const c = res.placement.explanation.cost;
    expect(c).toMatchObject({ remoteAccessFraction: 0.5, relativeLatency: 1.55, expectedLatencyNs: 124 });
    expect(c.vnumaAware).toEqual({ remoteAccessFraction: 0, relativeLatency: 1, expectedLatencyNs: 80 });
    const text = renderPlacements([res.placement], null);
    expect(text).toMatch(/predicted: remote accesses 50%, latency x1\.55 \(~124 ns\) for a NUMA-unaware guest; 0%, x1 \(~80 ns\) for one using its vNUMA/);
  });

  it('gives interleaved memory and single-node VMs the same figure both ways', () => {
    const interleaved = place(parseVmSpec('name=i,vcpus=12,memory=16G,numa=interleave'), broadwell());
    if (!interleaved.ok) throw new Error(JSON.stringify(interleaved.reasons));
    const ci = interleaved.placement.explanation.cost;
    expect(ci.vnumaAware).toEqual({ remoteAccessFraction: ci.remoteAccessFraction, relativeLatency: ci.relativeLatency, expectedLatencyNs: ci.expectedLatencyNs });
    expect(ci.remoteAccessFraction).toBeGreaterThan(0);
    const single = place(parseVmSpec('name=s,vcpus=4,memory=4G'), broadwell());
    if (!single.ok) throw new Error('refused');
    expect(single.placement.explanation.cost.vnumaAware).toEqual({ remoteAccessFraction: 0, relativeLatency: 1, expectedLatencyNs: 80 });
    expect(renderPlacements([single.placement], null)).not.toMatch(/using its vNUMA/);
  });
});

describe('numad: a VM backed by huge pages is covered exactly, and a refusal always says why', () => {
  // The contract suite's counterexample: two nodes of 2 PUs and 4 GiB, 1G pools, no 2M pages.
  const host = (pages1g: number) =>
    syntheticTopology({
      source: 'regression-numad',
      packages: 1,
      nodesPerPackage: 2,
      coresPerNode: 2,
      threadsPerCore: 1,
      memoryPerNode: 4 * G,
      hugePages: [
        { pageSize: 2 * 1024 ** 2, total: 0, free: 0 },
        { pageSize: G, total: pages1g, free: pages1g },
      ],
    });
  const run = (pages1g: number, policy: string) => {
    let state = createHostState(host(pages1g));
    const out = [];
    for (const spec of [`name=a,vcpus=1,memory=${pages1g}G,pages=1G`, 'name=b,vcpus=1,memory=1G,pages=4K']) {
      const r = parseVmSpec(spec);
      const res = place(r, state, policy, { hints: false });
      out.push(res);
      if (res.ok) state = commitPlacement(state, res.placement, r);
    }
    return out;
  };

  it('places both VMs when the nodes hold them (2 x 1G pages per node), as every other policy does', () => {
    for (const policy of policyNames()) {
      const [a, b] = run(2, policy);
      expect(a?.ok, policy).toBe(true);
      expect(b?.ok, policy).toBe(true);
    }
  });

  it('refuses a VM that fits nowhere with a reason naming the resource and node (4 x 1G pages leave no 4K memory)', () => {
    for (const policy of policyNames()) {
      const [a, b] = run(4, policy);
      expect(a?.ok, policy).toBe(true);
      if (!b || b.ok) throw new Error(`${policy}: the 4K VM was placed on a host with no 4K memory left`);
      expect(b.reasons.length, policy).toBeGreaterThan(0);
      expect(b.reasons.some((r) => r.resource === 'memory' && r.node === 1 && r.need === G && r.have === 0), `${policy}: ${JSON.stringify(b.reasons)}`).toBe(true);
    }
  });

  it('names its own pick when that pick cannot hold the VM', () => {
    // 4K memory, 4 cores per node: both nodes left with 1030 MiB free, so numad's 10 MB margin makes it
    // add a second node to a 1-vCPU, 1 GiB VM, more nodes than a 1-vCPU VM can use. The refusal names
    // numad's pick and what it lacks.
    const topo = syntheticTopology({ source: 'regression-numad-margin', packages: 1, nodesPerPackage: 2, coresPerNode: 4, threadsPerCore: 1, memoryPerNode: 4 * G });
    let state = createHostState(topo);
    const M = 1024 ** 2;
    for (const node of [1, 0]) {
      const free = hostCapacity(state).byId.get(node)?.memory.get(4096) ?? 0;
      const r = parseVmSpec(`name=fill${node},vcpus=1,memory=${(free - 1030 * M) / M}M,pages=4K,nodes=${node}`);
      const res = place(r, state, 'numad', { hints: false });
      if (!res.ok) throw new Error(JSON.stringify(res.reasons));
      state = commitPlacement(state, res.placement, r);
    }
    const res = place(parseVmSpec('name=b,vcpus=1,memory=1G,pages=4K'), state, 'numad', { hints: false });
    if (res.ok) throw new Error(`numad placed it on ${res.placement.nodes}: the margin case did not arise`);
    expect(res.reasons.length).toBeGreaterThan(0);
    expect(res.reasons.every((r) => r.detail.startsWith('numad picked nodes 1,0')), JSON.stringify(res.reasons)).toBe(true);
    expect(res.reasons.some((r) => r.resource === 'nodes' && r.node === null && r.need === 2 && r.have === 1), JSON.stringify(res.reasons)).toBe(true);
    // numaplan, whose rule looks at each node, places it.
    expect(place(parseVmSpec('name=b,vcpus=1,memory=1G,pages=4K'), state, 'numaplan', { hints: false }).ok).toBe(true);
  });
});

describe('an explicit layout: every guest node holds whole pages of the chosen size', () => {
  // The generated suite's counterexample: 31,700 MiB is whole 2 MiB pages, its guest nodes of
  // 10,567 MiB are not, and pages=auto chose 2 MiB pages.
  const host = createHostState(
    syntheticTopology({
      source: 'regression-layout-pages',
      packages: 1,
      nodesPerPackage: 2,
      coresPerNode: 4,
      threadsPerCore: 1,
      memoryPerNode: 8 * G,
      hugePages: [{ pageSize: 2 * 1024 ** 2, total: 1024, free: 1024 }],
    }),
  );

  it('pages=auto takes the largest size that divides every guest node, for every policy', () => {
    for (const policy of policyNames()) {
      const r = place(parseVmSpec('name=odd,vcpus=4,memory=3G,pages=auto,layout=2:1537M/2:1535M'), host, policy);
      if (!r.ok) continue;
      expect(r.placement.pageSize, policy).toBe(4096);
      for (const g of r.placement.vnuma?.nodes ?? []) expect(g.memory % r.placement.pageSize, policy).toBe(0);
    }
    // A layout of whole pages changes nothing: the size is the one the VM without a layout gets.
    const even = place(parseVmSpec('name=even,vcpus=4,memory=3G,pages=auto,layout=2:1536M/2:1536M'), host);
    expect(even.ok && even.placement.pageSize).toBe(2 * 1024 ** 2);
  });

  it('an explicit page size that does not divide a guest node is bad input naming the guest node', () => {
    expect(() => parseVmSpec('name=odd,vcpus=4,memory=3G,pages=2M,layout=2:1537M/2:1535M')).toThrow(/layout\[0\]|guest node 0 holds 1611661312 bytes/);
  });
});

describe('explicit host CPUs with a separate memory tier', () => {
  const preset = (name: string): Topology => {
    const p = getPreset(name);
    if (!p) throw new Error(`no preset ${name}`);
    return p.build();
  };
  // The generated referee's counterexample (seed 1111825282): explicit CPUs plus reserved emulator
  // pCPUs made the tier's memory grant fail on a CPU check that does not apply to pinned CPUs, and
  // the VM was accepted with no memory at all.
  const spec = (tier: string, cpus: string): string => `name=g337,vcpus=4,memory=8G,emulator=2,tier=${tier},devices=rdma-vf:2:required,cpus=${cpus}`;

  it.each(policyNames())('%s: a host without the tier refuses it, naming the tier, as without cpus=', (policy) => {
    const host = createHostState(preset('xeon-2s-snc2'));
    for (const s of [spec('hbm', '51,129,199,154'), 'name=g,vcpus=4,memory=8G,emulator=2,tier=hbm,cpus=51,129,199,154']) {
      const r = place(parseVmSpec(s), host, policy);
      expect(r.ok, s).toBe(false);
      if (!r.ok) expect(r.reasons.map((x) => x.resource), s).toContain('hbm-memory');
    }
  });

  it.each(policyNames())('%s: a host with the tier gives all the memory from it', (policy) => {
    const host = createHostState(preset('sapphire-rapids-max-hbm-flat'));
    const r = place(parseVmSpec('name=g,vcpus=4,memory=8G,emulator=2,tier=hbm,cpus=60,61,62,63'), host, policy);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const hbm = new Set(preset('sapphire-rapids-max-hbm-flat').nodes.filter((n) => n.tier === 'hbm').map((n) => n.id));
    const byNode = Object.entries(r.placement.memoryByNode);
    expect(byNode.reduce((s, [, b]) => s + b, 0)).toBe(8 * G);
    for (const [n] of byNode) expect(hbm.has(Number(n)), `node ${n}`).toBe(true);
  });
});
