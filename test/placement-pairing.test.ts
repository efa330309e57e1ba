/**
 * Gang placement on the 8-GPU preset (dgx-h100): `devices=gpu:N+rdma:N,pairing=LEVEL` gives each GPU
 * a NIC of its own, the one behind its PCIe switch when `switch` is asked (the pairs of the DGX H100
 * user guide), refuses naming the GPUs left without a partner, and, over many requests placed and
 * released in random order, never hands a GPU or NIC out twice nor pairs farther than asked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HostState, commitPlacement, createHostState, parseVmSpec, place, releaseAllocation } from '../src/core/placement/index.js';
import { PAIRING_LEVELS } from '../src/core/placement/pairing.js';
import { type LinkClass, linkBetween, linkRank } from '../src/core/topology/device-matrix.js';
import type { Topology } from '../src/core/topology/model.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { checkState } from './support/placement-invariants.js';
import { runCli } from './support/cli.js';

const dgx = (getPreset('dgx-h100') as { build(): Topology }).build();
const rdmaName = new Map(dgx.pciDevices.map((d) => [d.address, d.rdmaDevices[0] ?? d.address]));
const gpuIndex = new Map(dgx.pciDevices.filter((d) => d.class === 'gpu').map((d) => [d.address, Number(/GPU (\d)/.exec(d.name ?? '')?.[1])]));
/** The DGX H100 user guide's table: the compute NIC serving each GPU. */
const GUIDE = ['mlx5_0', 'mlx5_3', 'mlx5_4', 'mlx5_5', 'mlx5_6', 'mlx5_9', 'mlx5_10', 'mlx5_11'];
/** Each VF's physical function (listed VFs and those a PF announces). */
const pfOf = new Map<string, string>([
  ...dgx.pciDevices.filter((d) => d.physfn !== null).map((d) => [d.address, d.physfn as string] as const),
  ...dgx.pciDevices.flatMap((d) => (d.sriov?.vfs ?? []).map((vf) => [vf, d.address] as const)),
]);
const LOOSEST: Record<string, LinkClass> = { switch: 'PIX', 'root-port': 'PXB', 'host-bridge': 'PHB', node: 'NODE' };

describe('gang placement on dgx-h100', () => {
  it('gpu:4+rdma:4,pairing=switch: each GPU with the ConnectX-7 behind its switch, and the explanation says so', () => {
    const r = place(parseVmSpec('name=train,vcpus=32,memory=256G,devices=gpu:4+rdma:4,pairing=switch'), createHostState(dgx));
    if (!r.ok) throw new Error(JSON.stringify(r.reasons));
    const gpus = r.placement.devices.filter((d) => d.kind === 'gpu');
    expect(gpus).toHaveLength(4);
    for (const g of gpus) {
      expect(g.pairedWith?.link).toBe('PIX');
      expect(rdmaName.get(g.pairedWith?.address as string)).toBe(GUIDE[gpuIndex.get(g.address) as number]);
    }
    expect(r.placement.nodes).toEqual([0]);
    expect(r.placement.explanation.notes.join('\n')).toMatch(/pairing=switch: 4 GPU\(s\) each with a NIC of its own, behind one PCIe switch at worst: 0000:19:00.0 with 0000:18:00.0 \(PIX via 0000:16:00.0\)/);
  });

  it('eight one-pair VMs take the eight pairs of the guide; a ninth is refused naming the GPUs without a NIC', () => {
    let state = createHostState(dgx);
    const got: string[] = [];
    for (let i = 0; i < 8; i++) {
      const req = parseVmSpec(`name=vm${i},vcpus=4,memory=8G,devices=gpu:1+rdma:1,pairing=switch`);
      const r = place(req, state);
      if (!r.ok) throw new Error(`vm${i}: ${JSON.stringify(r.reasons)}`);
      const g = r.placement.devices.find((d) => d.kind === 'gpu');
      got.push(`${gpuIndex.get(g?.address as string)}:${rdmaName.get(g?.pairedWith?.address as string)}`);
      state = commitPlacement(state, r.placement, req);
    }
    expect(got.sort()).toEqual(GUIDE.map((n, i) => `${i}:${n}`));
    const r = place(parseVmSpec('name=late,vcpus=4,memory=8G,devices=gpu:1+rdma:1,pairing=switch'), state);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reasons.map((x) => x.resource)).toContain('device-pairs:switch');
  });

  it('refuses naming each GPU whose switch has no free NIC of the kind, and hints the looser pairing that fits', async () => {
    const r = await runCli(['place', '--host', 'preset:dgx-h100', '--vm', 'name=t,vcpus=4,memory=8G,devices=gpu:2+rdma-vf:2,pairing=switch']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('device-pairs:switch');
    expect(r.out).toContain('GPU 0000:19:00.0 has no free rdma-vf behind one PCIe switch (nearest free: 0000:2a:00.2, NODE: on one NUMA node)');
    expect(r.out).toContain('pairing=node (each GPU\'s NIC on one NUMA node) would fit (nodes 0)');
  });

  it('rejects a malformed pairing request with exit 2 naming the field', async () => {
    for (const [spec, text] of [
      ['devices=gpu:2+rdma:3,pairing=switch', 'gpu:2 and rdma:3 differ'],
      ['devices=gpu:2,pairing=switch', 'exactly one gpu wish and one rdma'],
      ['devices=gpu:2+rdma:2,pairing=rack', 'pairing'],
    ] as const) {
      const r = await runCli(['place', '--host', 'preset:dgx-h100', '--vm', `name=t,vcpus=4,memory=8G,${spec}`]);
      expect(r.code, spec).toBe(2);
      expect(r.err).toContain('pairing');
      expect(r.err).toContain(text);
    }
  });

  it('property: across many requests placed and released, no GPU or NIC is handed out twice and no pair is farther than asked', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('pair' as const),
        count: fc.integer({ min: 1, max: 4 }),
        level: fc.constantFrom(...PAIRING_LEVELS),
        nic: fc.constantFrom('rdma', 'nic', 'rdma-vf'),
        vcpus: fc.integer({ min: 1, max: 24 }),
      }),
      fc.record({ kind: fc.constant('plain' as const), spec: fc.constantFrom('gpu:1', 'rdma:1', 'nic:1', 'rdma-vf:2', 'gpu:2+rdma:1') }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
    );
    let paired = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 5, maxLength: 30 }), (ops) => {
        let state: HostState = createHostState(dgx);
        ops.forEach((o, i) => {
          if (o.kind === 'release') {
            const a = state.allocations[o.pick % Math.max(1, state.allocations.length)];
            if (a) state = releaseAllocation(state, a.name);
            return;
          }
          const spec =
            o.kind === 'pair'
              ? `name=v${i},vcpus=${o.vcpus},memory=4G,devices=gpu:${o.count}+${o.nic}:${o.count},pairing=${o.level}`
              : `name=v${i},vcpus=2,memory=4G,devices=${o.spec}`;
          const req = parseVmSpec(spec);
          const r = place(req, state, undefined, { hints: false });
          if (!r.ok) {
            expect(r.reasons.length).toBeGreaterThan(0);
            return;
          }
          if (o.kind === 'pair') {
            const gpus = r.placement.devices.filter((d) => d.kind === 'gpu');
            expect(gpus).toHaveLength(o.count);
            const partners = gpus.map((g) => g.pairedWith?.address);
            expect(new Set(partners).size).toBe(o.count);
            for (const g of gpus) {
              const link = linkBetween(dgx, g.address, g.pairedWith?.address as string);
              expect(link.class).toBe(g.pairedWith?.link);
              expect(linkRank(link.class)).toBeLessThanOrEqual(linkRank(LOOSEST[o.level] as LinkClass));
              expect(r.placement.devices.some((d) => d.address === g.pairedWith?.address && d.pairedWith?.address === g.address)).toBe(true);
              paired++;
            }
          }
          state = commitPlacement(state, r.placement, req);
          checkState(state);
          // No device, and no VF beside its own PF, twice across the host.
          const held = state.allocations.flatMap((a) => a.devices);
          expect(new Set(held).size).toBe(held.length);
          const heldSet = new Set(held);
          for (const d of held) {
            const pf = pfOf.get(d);
            if (pf) expect(heldSet.has(pf), `${d} and its PF ${pf}`).toBe(false);
          }
        });
      }),
      { numRuns: 60 },
    );
    // The runs did pair GPUs (a property over refusals only would prove nothing).
    expect(paired).toBeGreaterThan(60);
  });
});
