/**
 * `numaplan irq` on a generated host tree (a preset written as sysfs/procfs, plus a device's MSI-X
 * vectors, /proc/interrupts and /proc/irq files): the plan (spread over the node's cores, avoiding
 * the CPUs a state file's VMs hold), the dry run that changes nothing, --apply writing and reading
 * back, irqbalance found and the IRQs it would undo named, and the refusals. The real kernel's view
 * is judged in a multi-node guest (test/guest-io.test.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSysfsTree } from '../src/adapters/sysfs-writer/write-sysfs-tree.js';
import { parseProcInterrupts } from '../src/adapters/irq/proc-irqs.js';
import { planIrqAffinity, spreadOrder } from '../src/core/irq/plan.js';
import { commitPlacement, createHostState, parseVmSpec, place, stateToJson } from '../src/core/placement/index.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import type { Topology } from '../src/core/topology/model.js';
import { runCli } from './support/cli.js';

const broadwell = (getPreset('broadwell-2s') as { build(): Topology }).build();
const NIC = '0000:03:00.0'; // the RDMA NIC of broadwell-2s, on node 0 (CPUs 0-9, 20-29)
const IRQS = [60, 61, 62, 63];

describe('numaplan irq', () => {
  let root = '';
  let state = '';
  const affinity = (irq: number): string => readFileSync(join(root, 'proc', 'irq', String(irq), 'smp_affinity_list'), 'utf8').trim();

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'numaplan-irq-'));
    root = join(dir, 'host');
    writeSysfsTree(broadwell, root);
    const dev = join(root, 'sys', 'bus', 'pci', 'devices', NIC);
    mkdirSync(join(dev, 'msi_irqs'), { recursive: true });
    for (const i of IRQS) writeFileSync(join(dev, 'msi_irqs', String(i)), 'msix\n');
    const cpus = Array.from({ length: 40 }, (_, k) => `CPU${k}`.padStart(11)).join('');
    const counts = Array.from({ length: 40 }, () => '0'.padStart(11)).join('');
    const names = ['mlx5_async0@pci:0000:03:00.0', 'mlx5_comp0@pci:0000:03:00.0', 'mlx5_comp1@pci:0000:03:00.0', 'mlx5_comp2@pci:0000:03:00.0'];
    writeFileSync(join(root, 'proc', 'interrupts'), `${cpus}\n${IRQS.map((i, k) => ` ${i}:${counts}  IR-PCI-MSIX-${NIC}   ${k}-edge      ${names[k]}`).join('\n')}\n`);
    for (const [k, i] of IRQS.entries()) {
      mkdirSync(join(root, 'proc', 'irq', String(i)), { recursive: true });
      writeFileSync(join(root, 'proc', 'irq', String(i), 'smp_affinity_list'), k === 0 ? '0-39\n' : `${10 + k}\n`);
    }
    mkdirSync(join(root, 'proc', '4242'), { recursive: true });
    writeFileSync(join(root, 'proc', '4242', 'comm'), 'irqbalance\n');
    writeFileSync(join(root, 'proc', '4242', 'cmdline'), 'irqbalance\0--foreground\0--banirq=60\0');
    // A VM holding CPUs 1-4 of node 0 (the host reserve keeps CPU 0 and its sibling 20).
    const req = parseVmSpec('name=vm,vcpus=4,memory=4G,nodes=0');
    const r = place(req, createHostState(broadwell));
    if (!r.ok) throw new Error('no placement');
    expect(r.placement.cpus).toEqual([1, 2, 3, 4]);
    state = join(dir, 'state.json');
    writeFileSync(state, stateToJson(commitPlacement(createHostState(broadwell), r.placement, req)));
  });
  afterAll(() => rmSync(join(root, '..'), { recursive: true, force: true }));

  it('lists the devices that have vectors, with their class and node', async () => {
    const r = await runCli(['irq', '--root', root, '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).devices).toEqual([{ address: NIC, class: 'rdma', node: 0, vectors: 4 }]);
  });

  it('plans one CPU of the node per vector, first threads of its cores first, avoiding CPUs VMs hold; the dry run changes nothing', async () => {
    const r = await runCli(['irq', '--root', root, '--device', '03:00.0', '--state', state, '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.applied).toBe(false);
    const d = j.devices[0];
    expect(d.node).toBe(0);
    expect(d.targets.slice(0, 6)).toEqual([0, 5, 6, 7, 8, 9]);
    expect(d.vectors.map((v: { irq: number; name: string; current: number[]; planned: number[] }) => [v.irq, v.name, v.planned])).toEqual([
      [60, 'mlx5_async0@pci:0000:03:00.0', [0]],
      [61, 'mlx5_comp0@pci:0000:03:00.0', [5]],
      [62, 'mlx5_comp1@pci:0000:03:00.0', [6]],
      [63, 'mlx5_comp2@pci:0000:03:00.0', [7]],
    ]);
    expect(d.notes.join(' ')).toContain('CPUs 1-4 of node 0 avoided');
    expect(IRQS.map(affinity)).toEqual(['0-39', '11', '12', '13']);
    // irqbalance runs; it leaves IRQ 60 alone (--banirq) and would undo the rest.
    expect(j.irqbalance.pid).toBe(4242);
    expect(j.irqbalance.wouldUndo).toEqual([61, 62, 63]);
    expect(j.irqbalance.advice).toContain('--banirq=61 --banirq=62 --banirq=63');
  });

  it('--apply writes each vector and reads it back', async () => {
    const r = await runCli(['irq', '--root', root, '--device', NIC, '--state', state, '--apply']);
    expect(r.code, r.err).toBe(0);
    expect(IRQS.map(affinity)).toEqual(['0', '5', '6', '7']);
    expect(r.out).toContain('moved, read back');
    expect(r.out).toContain('irqbalance (pid 4242) runs');
  });

  it('refuses what it cannot do: a device that does not exist (exit 2), one without vectors (exit 1)', async () => {
    const missing = await runCli(['irq', '--root', root, '--device', '0000:99:00.0']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no PCI device 0000:99:00.0');
    const bad = await runCli(['irq', '--root', root, '--device', 'nonsense']);
    expect(bad.code).toBe(2);
    const none = await runCli(['irq', '--root', root, '--device', '0000:04:00.0', '--json']);
    expect(none.code).toBe(1);
    expect(JSON.parse(none.out).devices[0].refused).toContain('no MSI or MSI-X vectors');
  });
});

describe('irq plan (core)', () => {
  it('spreads over cores: first threads, then second threads; skips avoided CPUs', () => {
    expect(spreadOrder([[0, 4], [1, 5], [2, 6]], new Set([1]))).toEqual([0, 2, 4, 5, 6]);
  });
  it('refuses a device without a node, and a node whose CPUs are all taken', () => {
    const v = [{ irq: 1, name: 'x', affinity: [0], effective: null }];
    expect(planIrqAffinity({ device: 'd', node: null, vectors: v, nodeCores: [], avoid: new Set() })).toMatchObject({ reason: expect.stringContaining('unknown') });
    expect(planIrqAffinity({ device: 'd', node: 1, vectors: v, nodeCores: [[2, 3]], avoid: new Set([2, 3]) })).toMatchObject({ reason: expect.stringContaining('every CPU of node 1') });
  });
  it('reads /proc/interrupts names after the per-CPU counts, chip and hardware IRQ', () => {
    const m = parseProcInterrupts('           CPU0       CPU1\n  24:          0          3  PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0\n NMI:   0  0  Non-maskable interrupts\n');
    expect(m.get(24)).toBe('virtio2-input.0');
    expect(m.size).toBe(1);
  });
});
