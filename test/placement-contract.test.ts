/**
 * The contract every registered placement policy keeps (numaplan's engine and every baseline):
 * results have the documented shape; nothing is handed out twice over random request streams; hard
 * constraints (strict, maxnodes, required devices, explicit CPUs and nodes) are honoured or the VM is
 * refused with reasons {resource, node, need, have}; the host reserve is never handed out; the same
 * input gives the same output.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type HostState,
  type Placement,
  type PlacementResult,
  type VmRequest,
  commitPlacement,
  createHostState,
  getPolicy,
  listPolicies,
  parseVmRequest,
  place,
  policyNames,
  stateFromJson,
  stateToJson,
} from '../src/core/placement/index.js';
import { hostArb, requestArb } from './placement-arbitraries.js';
import type { VmRequestInput } from '../src/core/placement/request.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { checkPlacement, checkState } from './support/placement-invariants.js';

const BASELINES = [
  'first-fit',
  'interleave',
  'k8s-single-numa-node',
  'k8s-restricted',
  'k8s-best-effort',
  'k8s-best-effort-closest',
  'nova-pack',
  'nova-spread',
  'libxl',
  'numad',
];

const num = z.number().finite();
const Reason = z.object({ resource: z.string().min(1), node: z.number().int().nullable(), need: num, have: num, shortfall: num.optional(), nodes: z.array(z.number().int()).optional(), detail: z.string() }).strict();
const Term = z.object({ name: z.string(), value: num, weight: num, note: z.string() }).strict();
const PlacementShape = z
  .object({
    name: z.string(),
    policy: z.string(),
    nodes: z.array(z.number().int()).min(1),
    cpus: z.array(z.number().int().nonnegative()),
    heldCpus: z.array(z.number().int()),
    memoryPolicy: z.enum(['bind', 'preferred', 'interleave']),
    cpuPolicy: z.enum(['dedicated', 'shared']),
    emulatorCpus: z.array(z.number().int()),
    memoryByNode: z.record(z.string().regex(/^\d+$/), z.number().int().nonnegative()),
    pageSize: z.number().int().positive(),
    memory: z.array(z.object({ node: z.number().int(), pageSize: z.number().int(), bytes: z.number().int().nonnegative() }).strict()),
    devices: z.array(z.object({ address: z.string(), kind: z.string(), node: z.number().int().nullable(), local: z.boolean(), physfn: z.string().nullable() }).strict()),
    vnuma: z
      .object({
        nodes: z.array(z.object({ id: z.number().int(), hostNode: z.number().int(), vcpus: z.array(z.number().int()), memory: z.number(), cpuless: z.boolean() }).strict()),
        distances: z.array(z.array(num)),
        devices: z.array(z.object({ address: z.string(), guestNode: z.number().int() }).strict()),
      })
      .strict()
      .nullable(),
    explanation: z
      .object({
        policy: z.string(),
        summary: z.string(),
        smt: z.string(),
        pageSize: z.string(),
        chosen: z.object({ nodes: z.array(z.number().int()), cost: num, score: z.array(Term) }).strict(),
        alternatives: z.array(z.object({ nodes: z.array(z.number().int()), cost: num.nullable(), lostBecause: z.string() }).strict()),
        notes: z.array(z.string()),
        cost: z.record(z.string(), z.unknown()),
      })
      .strict(),
  })
  .strict();
const ResultShape = z.union([z.object({ ok: z.literal(true), placement: PlacementShape }).strict(), z.object({ ok: z.literal(false), reasons: z.array(Reason).min(1), hints: z.array(z.string()) }).strict()]);


function checkResult(res: PlacementResult): void {
  const parsed = ResultShape.safeParse(res);
  if (!parsed.success) throw new Error(`result shape: ${parsed.error.message.slice(0, 600)}`);
  if (!res.ok) for (const r of res.reasons) expect(r.shortfall).toBe(Math.max(0, r.need - r.have));
}


describe('policy registry', () => {
  it('holds numaplan first and every baseline', () => {
    const names = policyNames();
    expect(names[0]).toBe('numaplan');
    for (const b of BASELINES) expect(names).toContain(b);
    for (const p of listPolicies()) expect(p.description.length).toBeGreaterThan(10);
  });

  it('names every valid policy when asked for an unknown one', () => {
    expect(() => getPolicy('no-such-policy')).toThrow(/known: numaplan, .*k8s-restricted.*nova-pack/);
  });
});

const stream = fc.tuple(hostArb(8), fc.array(requestArb, { minLength: 1, maxLength: 8 }));

const G = 1024 ** 3;
const M2 = 2 * 1024 ** 2;
/** A roomy 4-node host (4 cores x 2 threads, 32 GiB, 2M and 1G pools per node) with an RDMA NIC and two VFs on node 1. */
const ROOMY = syntheticTopology({
  source: 'contract-roomy',
  packages: 2,
  nodesPerPackage: 2,
  coresPerNode: 4,
  threadsPerCore: 2,
  memoryPerNode: 32 * G,
  hugePages: [
    { pageSize: M2, total: 2048, free: 2048 },
    { pageSize: G, total: 4, free: 4 },
  ],
  devices: [
    { address: '0000:10:00.0', class: 'rdma', classCode: 0x020000, vendorId: 0x15b3, deviceId: 0x1017, node: 1, sriov: { totalVfs: 8, numVfs: 2, vfs: ['0000:10:00.1', '0000:10:00.2'] }, rdmaDevices: ['mlx5_0'] },
  ],
});

/**
 * One request of every shape the random streams draw (each option value of the request grammar the
 * arbitraries use, and the escape hatches), on an empty roomy host: a policy must place each one it
 * supports, and refuse, with reasons, each one its peer's rule refuses (UNSUPPORTED). A policy that
 * refused everything, or placed what its peer cannot, fails here.
 */
const SHAPES: Record<string, Partial<VmRequestInput>> = {
  'pages=4K': { pageSize: 4096 },
  'pages=2M': { pageSize: M2 },
  'pages=1G': { pageSize: G },
  'pages=auto': { pageSize: 'auto' },
  'cpu=shared': { cpuPolicy: 'shared' },
  'smt=prefer': { smt: 'prefer' },
  'smt=isolate': { smt: 'isolate' },
  'smt=require': { smt: 'require' },
  'numa=strict': { numa: 'strict' },
  'numa=preferred': { numa: 'preferred' },
  'numa=interleave': { numa: 'interleave' },
  'emulator=1': { emulator: 1 },
  'rdma-vf required': { devices: [{ kind: 'rdma-vf', count: 1, locality: 'required' }] },
  'rdma preferred': { devices: [{ kind: 'rdma', count: 1, locality: 'preferred' }] },
  'wider than a node': { vcpus: 12, memory: 8 * G },
  'maxnodes=2': { vcpus: 12, memory: 8 * G, maxNodes: 2 },
  'nodes=2': { nodes: [2] },
  'cpus=5,6': { cpus: [5, 6] },
};
/** Shapes a policy refuses by its peer's rule, and why. */
const UNSUPPORTED: Record<string, Record<string, string>> = {
  'k8s-single-numa-node': { 'wider than a node': 'one NUMA node or nothing', 'maxnodes=2': 'one NUMA node or nothing' },
  'nova-pack': { 'wider than a node': 'one guest cell unless hw:numa_nodes (maxnodes) says more' },
  'nova-spread': { 'wider than a node': 'one guest cell unless hw:numa_nodes (maxnodes) says more' },
};

describe.each(['numaplan', ...BASELINES])('contract: %s', (policy) => {
  it('gives well-shaped results, hands nothing out twice and honours hard constraints over request streams', () => {
    fc.assert(
      fc.property(stream, ([topo, reqs]) => {
        let state = createHostState(topo);
        reqs.forEach((raw, i) => {
          const r = parseVmRequest({ ...raw, name: `vm${i}` });
          const res = place(r, state, policy, { hints: false });
          checkResult(res);
          if (!res.ok) return;
          expect(res.placement.policy).toBe(policy);
          checkPlacement(state, r, res.placement);
          state = commitPlacement(state, res.placement, r);
          checkState(state);
        });
      }),
      { numRuns: 30 },
    );
  });

  it.each(Object.keys(SHAPES))('places a request with %s on an empty roomy host, or refuses it with reasons when its peer cannot', (shape) => {
    const state = createHostState(ROOMY);
    const r = parseVmRequest({ name: 'x', vcpus: 2, memory: 2 * G, ...SHAPES[shape] });
    const res = place(r, state, policy, { hints: false });
    checkResult(res);
    if (UNSUPPORTED[policy]?.[shape]) {
      expect(res.ok, `${policy} should refuse "${shape}" (${UNSUPPORTED[policy]?.[shape]})`).toBe(false);
      return;
    }
    if (!res.ok) throw new Error(`${policy} refused "${shape}": ${res.reasons.map((x) => x.detail).join('; ')}`);
    checkPlacement(state, r, res.placement);
    checkState(commitPlacement(state, res.placement, r));
  });

  it('is deterministic (also after a JSON round trip of the state)', () => {
    fc.assert(
      fc.property(stream, ([topo, reqs]) => {
        let state = createHostState(topo);
        for (const [i, raw] of reqs.slice(0, 4).entries()) {
          const r = parseVmRequest({ ...raw, name: `vm${i}` });
          const a = JSON.stringify(place(r, state, policy));
          expect(JSON.stringify(place(r, stateFromJson(stateToJson(state)), policy))).toBe(a);
          const res = place(r, state, policy, { hints: false });
          if (res.ok) state = commitPlacement(state, res.placement, r);
        }
      }),
      { numRuns: 8 },
    );
  });

  it('honours explicit CPUs exactly or refuses naming the taken CPU', () => {
    fc.assert(
      fc.property(hostArb(4), fc.integer({ min: 1, max: 4 }), fc.boolean(), (topo, k, fromStart) => {
        const state = createHostState(topo);
        const all = topo.pus.map((u) => u.os);
        const cpus = fromStart ? all.slice(0, k) : all.slice(-k);
        const r = parseVmRequest({ name: 'x', vcpus: cpus.length, memory: 1024 ** 3, smt: 'prefer', cpus });
        const res = place(r, state, policy);
        checkResult(res);
        const reserved = cpus.filter((c) => state.reserve.cpus.includes(c));
        if (reserved.length > 0) {
          expect(res.ok).toBe(false);
          if (!res.ok) expect(res.reasons.some((x) => x.resource === `cpu:${reserved[0]}`)).toBe(true);
        } else if (res.ok) expect(res.placement.cpus).toEqual(cpus);
      }),
      { numRuns: 25 },
    );
  });

  it('honours explicit nodes and required devices, or refuses with reasons', () => {
    fc.assert(
      fc.property(hostArb(6), fc.nat(), fc.integer({ min: 1, max: 6 }), (topo, pick, vcpus) => {
        const state = createHostState(topo);
        const node = topo.nodes[pick % topo.nodes.length]?.id ?? 0;
        for (const raw of [
          { name: 'n', vcpus, memory: 1024 ** 3, nodes: [node] },
          { name: 'd', vcpus, memory: 1024 ** 3, devices: [{ kind: 'rdma-vf' as const, count: 1, locality: 'required' as const }] },
        ]) {
          const r = parseVmRequest(raw);
          const res = place(r, state, policy, { hints: false });
          checkResult(res);
          if (res.ok) checkPlacement(state, r, res.placement);
          else expect(res.reasons.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 25 },
    );
  });
});
