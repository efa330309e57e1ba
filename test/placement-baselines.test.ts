/** Each baseline's characteristic choice on small hand-made hosts, where it differs from numaplan. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HostState, createHostState, parseVmSpec, place, placeMany } from '../src/core/placement/index.js';
import { type TopologyHint, iterateBitMasks, mergeHints } from '../src/core/placement/policies/baselines/k8s-topology.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';

const G = 1024 ** 3;

function host(nodes: number, cores: number, distance?: (i: number, j: number) => number): HostState {
  return createHostState(
    syntheticTopology({ source: 'hand-made', packages: nodes, nodesPerPackage: 1, coresPerNode: cores, threadsPerCore: 1, memoryPerNode: 64 * G, ...(distance ? { distance } : {}) }),
  );
}
function nodesOf(r: ReturnType<typeof place>): number[] {
  if (!r.ok) throw new Error(`refused: ${r.reasons.map((x) => x.detail).join('; ')}`);
  return r.placement.nodes;
}


describe('baselines', () => {
  it('nova-pack ignores distances: the most used cells come first and it takes a far pair', () => {
    // pairs 0-1 and 2-3 are close (12), every other pair far (30)
    const near = (i: number, j: number): number => (i === j ? 10 : Math.floor(i / 2) === Math.floor(j / 2) ? 12 : 30);
    const base = placeMany([parseVmSpec('name=pre,vcpus=1,memory=8G,nodes=2')], host(4, 4, near)).state;
    const vm = parseVmSpec('name=wide,vcpus=6,memory=8G,maxnodes=2');
    expect(nodesOf(place(vm, base, 'nova-pack'))).toEqual([0, 2]);
    expect(nodesOf(place(vm, base, 'numaplan'))).toEqual([0, 1]);
    // spread: most free cells first (nodes 1 and 3 have no reserve and no VM)
    expect(nodesOf(place(vm, base, 'nova-spread'))).toEqual([1, 3]);
  });

  it('nova refuses a VM larger than one cell unless the flavor asks for more cells (maxnodes)', () => {
    const state = createHostState(getPreset('broadwell-2s')?.build() as never);
    // smt=isolate: one vCPU per core, 10 cores per node
    expect(place(parseVmSpec('name=web,vcpus=12,memory=16G,smt=isolate'), state, 'nova-pack').ok).toBe(false);
    expect(nodesOf(place(parseVmSpec('name=web,vcpus=12,memory=16G,smt=isolate,maxnodes=2'), state, 'nova-pack'))).toEqual([0, 1]);
  });

  it('k8s-single-numa-node refuses a VM needing two nodes; restricted and best-effort admit it', () => {
    const state = createHostState(getPreset('broadwell-2s')?.build() as never);
    const vm = parseVmSpec('name=web,vcpus=12,memory=16G,smt=isolate');
    const single = place(vm, state, 'k8s-single-numa-node');
    expect(single.ok).toBe(false);
    if (!single.ok) for (const r of single.reasons) expect(r).toMatchObject({ resource: expect.any(String), need: expect.any(Number), have: expect.any(Number) });
    expect(nodesOf(place(vm, state, 'k8s-restricted'))).toEqual([0, 1]);
    expect(nodesOf(place(vm, state, 'k8s-best-effort'))).toEqual([0, 1]);
    expect(nodesOf(place(vm, state, 'numaplan'))).toEqual([0, 1]);
  });

  it('k8s picks the narrowest mask by value and ignores distances unless prefer-closest is on', () => {
    // 4 nodes of 4 cores and 64G; pair 0-1 far (30), pair 0-2 close (12). A shared-CPU VM (no CPU
    // hint) of 100G: the memory manager's preferred masks have two nodes
    const d = (i: number, j: number): number => (i === j ? 10 : (i === 0 && j === 1) || (i === 1 && j === 0) ? 30 : (i + j) % 2 === 0 ? 12 : 21);
    const state = host(4, 4, d);
    const vm = parseVmSpec('name=w,vcpus=2,memory=100G,cpu=shared');
    expect(nodesOf(place(vm, state, 'k8s-best-effort'))).toEqual([0, 1]);
    expect(nodesOf(place(vm, state, 'k8s-best-effort-closest'))).toEqual([0, 2]);
  });

  it('k8s refuses hosts above 8 NUMA nodes, as the kubelet does', () => {
    const r = place(parseVmSpec('name=a,vcpus=1,memory=1G'), host(9, 2), 'k8s-best-effort');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reasons[0]).toMatchObject({ resource: 'numa-nodes', node: null, need: 9, have: 8 });
  });

  it('the folded hint merge gives the same best hint as the literal cross product', () => {
    const hintArb = (n: number): fc.Arbitrary<TopologyHint[]> =>
      fc.subarray(iterateBitMasks(n)).chain((masks) => fc.tuple(...masks.map((m) => fc.boolean().map((p) => ({ mask: m, preferred: p })))).map((h) => h as TopologyHint[]));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(fc.constant(n), fc.array(hintArb(n), { minLength: 1, maxLength: 3 }), fc.boolean())),
        ([n, providers, closest]) => {
          const distance = (a: number, b: number): number => (a === b ? 10 : 10 + ((a * 7 + b * 7) % 13));
          const lists = providers.map((l) => (l.length === 0 ? [{ mask: 0, preferred: false, any: true }] : l));
          const folded = mergeHints(lists, n, { preferClosest: closest, distance });
          const literal = mergeHints(lists, n, { preferClosest: closest, distance, literal: true });
          expect({ mask: folded.hint.mask, preferred: folded.hint.preferred }).toEqual({ mask: literal.hint.mask, preferred: literal.hint.preferred });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('libxl prefers the candidate where fewer vCPUs already run, even with less free memory, and states soft affinity', () => {
    const base = placeMany([parseVmSpec('name=busy,vcpus=3,memory=1G,nodes=1'), parseVmSpec('name=big,vcpus=1,memory=40G,nodes=0')], host(2, 8)).state;
    const r = place(parseVmSpec('name=x,vcpus=2,memory=2G'), base, 'libxl');
    expect(nodesOf(r)).toEqual([0]);
    if (r.ok) expect(r.placement.explanation.notes.join('\n')).toMatch(/soft affinity: vCPUs may run on CPUs 0-7/);
    const big = place(parseVmSpec('name=a,vcpus=1,memory=1G'), host(17, 1), 'libxl');
    expect(big.ok).toBe(false);
    if (!big.ok) expect(big.reasons[0]).toMatchObject({ resource: 'numa-nodes', need: 17, have: 16 });
  });

  it('numad takes the node with the largest free CPU x free memory', () => {
    const base = placeMany([parseVmSpec('name=m,vcpus=1,memory=30G,nodes=1'), parseVmSpec('name=c,vcpus=5,memory=1G,nodes=2')], host(3, 8)).state;
    // node 0: 7 cores (reserve) x ~63G; node 1: 7 x 34G; node 2: 3 x 63G
    expect(nodesOf(place(parseVmSpec('name=x,vcpus=2,memory=2G'), base, 'numad'))).toEqual([0]);
  });

  it('first-fit takes the lowest node; interleave spreads memory over every node', () => {
    const state = host(4, 4);
    expect(nodesOf(place(parseVmSpec('name=a,vcpus=2,memory=4G'), state, 'first-fit'))).toEqual([0]);
    const r = place(parseVmSpec('name=i,vcpus=2,memory=8G'), state, 'interleave');
    if (!r.ok) throw new Error('refused');
    expect(r.placement.memoryByNode).toEqual({ '0': 2 * G, '1': 2 * G, '2': 2 * G, '3': 2 * G });
    expect(new Set(r.placement.cpus.map((c) => state.topology.pus.find((p) => p.os === c)?.node))).toEqual(new Set([0]));
  });
});
