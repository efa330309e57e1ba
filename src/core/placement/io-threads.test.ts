import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getPreset } from '../topology/presets/index.js';
import type { Topology } from '../topology/model.js';
import { hostCapacity } from './capacity.js';
import { spreadQueues } from './io-threads.js';
import { place } from './place.js';
import { parseVmSpec } from './request.js';
import { commitPlacement, createHostState, type HostState } from './state.js';
import type { Placement } from './types.js';

const epyc = (getPreset('epyc-2s-nps4') as { build(): Topology }).build();
const broadwell = (getPreset('broadwell-2s') as { build(): Topology }).build();

function placed(spec: string, state: HostState = createHostState(epyc)): Placement {
  const r = place(parseVmSpec(spec), state);
  if (!r.ok) throw new Error(`${spec}: ${JSON.stringify(r.reasons)}`);
  return r.placement;
}

const nodeOf = (t: Topology, cpu: number): number | null => t.pus.find((p) => p.os === cpu)?.node ?? null;
const siblingsOf = (t: Topology, cpu: number): number[] => t.cores[t.pus.find((p) => p.os === cpu)?.core ?? -1]?.pus ?? [];

describe('I/O placement (io-threads.ts)', () => {
  it("puts the emulator thread and the I/O threads on the RDMA VF's node 5 and says so", () => {
    const p = placed('name=io5,vcpus=16,memory=32G,devices=pci:0000:c1:00.2:required,iothreads=2,disks=2,nets=1,queues=4');
    expect(p.devices.map((d) => [d.address, d.node])).toEqual([['0000:c1:00.2', 5]]);
    const io = p.io;
    expect(io?.node).toBe(5);
    expect(io?.source).toBe('vcpus');
    for (const c of [...(io?.cpus ?? []), ...(io?.emulatorCpus ?? []), ...(io?.iothreads.flatMap((t) => t.cpus) ?? [])]) expect(nodeOf(epyc, c)).toBe(5);
    expect(io?.iothreads.map((t) => t.disks)).toEqual([[0], [1]]);
    expect(io?.devices.map((d) => [d.kind, d.queues, d.iothread, d.vhost])).toEqual([
      ['disk', 4, 1, false],
      ['disk', 4, 2, false],
      ['net', 4, null, true],
    ]);
    // Nothing more is held: the threads share the VM's own vCPU pCPUs there.
    expect(p.emulatorCpus).toEqual([]);
    const note = p.explanation.notes.find((n) => n.startsWith('I/O: '));
    expect(note).toContain('on node 5 (the node of device 0000:c1:00.2)');
    expect(note).toContain('2 I/O threads');
  });

  it('iocpus=N takes N free CPUs of the device node of their own: never SMT siblings of the vCPUs, held with the VM', () => {
    const p = placed('name=io,vcpus=8,memory=16G,devices=pci:0000:c1:00.2:required,iothreads=2,disks=2,iocpus=2');
    const io = p.io;
    expect(io?.source).toBe('dedicated');
    expect(io?.cpus).toHaveLength(2);
    const vcpuCores = new Set(p.cpus.flatMap((c) => siblingsOf(epyc, c)));
    for (const c of io?.cpus ?? []) {
      expect(nodeOf(epyc, c)).toBe(5);
      expect(vcpuCores.has(c)).toBe(false);
    }
    // One CPU per I/O thread, on two different cores (one thread per core before second threads).
    expect(io?.iothreads.map((t) => t.cpus.length)).toEqual([1, 1]);
    expect(new Set((io?.cpus ?? []).map((c) => siblingsOf(epyc, c)[0])).size).toBe(2);
    expect(p.emulatorCpus).toEqual(io?.cpus);
    // Held: the next VM cannot get them.
    const state = commitPlacement(createHostState(epyc), p, parseVmSpec('name=io,vcpus=8,memory=16G,devices=pci:0000:c1:00.2:required,iothreads=2,disks=2,iocpus=2'));
    const free = new Set(hostCapacity(state).byId.get(5)?.freePus);
    for (const c of io?.cpus ?? []) expect(free.has(c)).toBe(false);
  });

  it('refuses iocpus=N when the node has too few free CPUs that are not siblings of the vCPUs, naming io-cpus', () => {
    // broadwell node 1: 10 cores; 9 vCPUs on cores of their own (smt=isolate) leave one free core (2 threads).
    const r = place(parseVmSpec('name=x,vcpus=9,memory=8G,smt=isolate,devices=gpu:1:required,disks=1,iocpus=3'), createHostState(broadwell));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const io = r.reasons.find((x) => x.resource === 'io-cpus');
    expect(io).toMatchObject({ node: 1, need: 3, have: 2 });
    expect(r.hints.join(' ')).toContain('iocpus=share');
  });

  it('iocpus=siblings uses the free sibling threads of the vCPU cores (and the siblings smt=isolate holds)', () => {
    const p = placed('name=s,vcpus=4,memory=4G,devices=pci:0000:c1:00.2:required,iothreads=1,disks=1,iocpus=siblings');
    const mine = new Set(p.cpus);
    for (const c of p.io?.cpus ?? []) {
      expect(mine.has(c)).toBe(false);
      expect(p.cpus.some((v) => siblingsOf(epyc, v).includes(c))).toBe(true);
    }
    expect(p.io?.cpus).toHaveLength(2); // the emulator thread and one I/O thread
    const iso = placed('name=s,vcpus=4,memory=4G,devices=pci:0000:c1:00.2:required,iothreads=1,disks=1,iocpus=siblings,smt=isolate');
    // The held siblings serve: nothing more is taken.
    expect(iso.emulatorCpus).toEqual([]);
    for (const c of iso.io?.cpus ?? []) expect(iso.heldCpus).toContain(c);
  });

  it('a device away from the VM: share uses the nearest vCPU node and says so; iocpus=N goes to the device node', () => {
    // Pin the vCPUs to node 4; the VF sits on node 5 (distance 12).
    const cpus = epyc.nodes.find((n) => n.id === 4)?.cpus.slice(0, 4).join(',');
    const p = placed(`name=far,vcpus=4,memory=4G,devices=pci:0000:c1:00.2:preferred,disks=1,cpus=${cpus}`);
    expect(p.io?.node).toBe(4);
    expect(p.io?.deviceNode).toBe(5);
    expect(p.explanation.notes.join(' ')).toContain('the VM has no vCPU on node 5');
    const own = placed(`name=far,vcpus=4,memory=4G,devices=pci:0000:c1:00.2:preferred,disks=1,iocpus=1,cpus=${cpus}`);
    expect(own.io?.node).toBe(5);
    expect(nodeOf(epyc, own.io?.cpus[0] as number)).toBe(5);
  });

  it('moves reserved emulator pCPUs to the I/O node when it has room', () => {
    const p = placed('name=m,vcpus=64,memory=32G,devices=pci:0000:41:00.2:required,disks=1,emulator=1');
    expect(p.nodes.length).toBeGreaterThan(1);
    expect(p.io?.node).toBe(0);
    expect(p.emulatorCpus).toHaveLength(1);
    expect(nodeOf(epyc, p.emulatorCpus[0] as number)).toBe(0);
    expect(p.cpus).not.toContain(p.emulatorCpus[0]);
  });

  it('spreads queues over guest nodes in proportion to their vCPUs', () => {
    expect(spreadQueues(4, [2, 2])).toEqual([0, 0, 1, 1]);
    expect(spreadQueues(4, [21, 21, 22])).toEqual([0, 1, 2, 2]);
    expect(spreadQueues(1, [4, 4])).toEqual([0]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), (q, parts) => {
        const spread = spreadQueues(q, parts);
        const total = parts.reduce((a, b) => a + b, 0);
        expect(spread).toHaveLength(q);
        parts.forEach((v, g) => expect(Math.abs(spread.filter((x) => x === g).length - (q * v) / total)).toBeLessThan(1));
      }),
    );
  });

  it('never hands a CPU out twice: I/O pCPUs of their own stay off every other VM and the reserve', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            vcpus: fc.integer({ min: 1, max: 12 }),
            iocpus: fc.constantFrom('share', 'siblings', '1', '2'),
            disks: fc.integer({ min: 0, max: 2 }),
            nets: fc.integer({ min: 0, max: 1 }),
            iothreads: fc.integer({ min: 0, max: 2 }),
            smt: fc.constantFrom('auto', 'prefer', 'isolate'),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        (vms) => {
          let state = createHostState(broadwell);
          for (const [k, v] of vms.entries()) {
            const io = v.disks + v.nets + v.iothreads > 0;
            const spec = `name=v${k},vcpus=${v.vcpus},memory=1G,smt=${v.smt},disks=${v.disks},nets=${v.nets},iothreads=${v.iothreads}${io ? `,iocpus=${v.iocpus}` : ''}`;
            const r = place(parseVmSpec(spec), state, undefined, { hints: false });
            if (r.ok) state = commitPlacement(state, r.placement, parseVmSpec(spec));
          }
          const seen = new Set<number>(state.reserve.cpus);
          for (const a of state.allocations) {
            for (const c of [...a.cpus, ...a.heldCpus, ...a.emulatorCpus]) {
              expect(seen.has(c), `CPU ${c} of ${a.name} is the reserve's or another VM's`).toBe(false);
              seen.add(c);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
