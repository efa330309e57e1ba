/**
 * I/O locality on a real multi-node kernel: one guest of six NUMA nodes (Debian's kernel under TCG,
 * test/support/guest) whose node 5 holds two CPUs and a virtio-net NIC behind a PCIe expander bus of
 * that node (so the guest's kernel gives the NIC numa_node 5 and MSI-X vectors), booted once:
 *
 * 1. `numaplan irq --device ADDR --apply` moves the NIC's vectors onto node 5's CPUs; the test reads
 *    every vector's /proc/irq/N/smp_affinity_list itself, before (some off the node) and after.
 * 2. A VM on that host, with the NIC as its device, two I/O threads, a virtio disk and a vhost-net
 *    NIC of two queue pairs, I/O CPUs of their own: `numaplan place` plans them on node 5's other
 *    CPU, and `numaplan launch qemu` starts QEMU inside the guest (nested, TCG, paused; the NIC's
 *    vfio-pci replaced by the edu device, since there is no IOMMU to pass it through) and pins its
 *    threads. The test then asks QEMU itself over a QMP socket of its own (query-iothreads: each I/O
 *    thread's id; query-cpus-fast: the vCPU threads) and reads each thread's affinity, and the vhost-net
 *    worker's (the kernel thread vhost-PID), from the guest's /proc.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';
import { QMP_SCRIPT } from './support/qmp-script.js';
import { guestCli } from './support/guest/cli.js';
import { type GuestShape, guestAvailable, nicOnNode, shq, useGuest } from './support/guest/index.js';
import { assertBuilt } from './guest-live-checks.js';
import { tool } from './support/tools.js';

/** numaplan as a process of its own, for `launch` (its report comes while QEMU runs); the other commands go to the guest's CLI server (guestCli). */
const NUMAPLAN = `node ${shq(join(REPO_ROOT, 'bin', 'numaplan.js'))}`;

/** Six nodes, one CPU each, node 5 two; node 5 also holds the memory of the nested VM. */
const SHAPE: GuestShape = {
  name: 'io-six-node',
  cpu: { sockets: 1, cores: 7, threads: 1 },
  nodes: [
    { cpus: '0', memory: '320M' },
    { cpus: '1', memory: '192M' },
    { cpus: '2', memory: '192M' },
    { cpus: '3', memory: '192M' },
    { cpus: '4', memory: '192M' },
    { cpus: '5-6', memory: '640M' },
  ],
  distances: [
    [10, 12, 12, 21, 21, 21],
    [12, 10, 12, 21, 21, 21],
    [12, 12, 10, 21, 21, 21],
    [21, 21, 21, 10, 12, 12],
    [21, 21, 21, 12, 10, 12],
    [21, 21, 21, 12, 12, 10],
  ],
};
const NODE5 = [5, 6];

const have = guestAvailable() && tool('qemu-system-x86_64');

/** Reads every vector of a PCI function: "IRQ CPULIST" lines. */
const VECTORS = (address: string): string => `for i in /sys/bus/pci/devices/${address}/msi_irqs/*; do n=\${i##*/}; echo "$n $(cat /proc/irq/$n/smp_affinity_list)"; done`;

const parseList = (s: string): number[] =>
  s.split(',').flatMap((r) => {
    const [a, b] = r.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (b ?? a) - a + 1 }, (_, k) => a + k);
  });

const QMP = QMP_SCRIPT;

describe.skipIf(!have)('I/O locality in a six-node guest: interrupts and I/O threads on the device node', () => {
  const guest = useGuest(SHAPE, { qemuArgs: nicOnNode(5), modules: ['virtio_net', 'tun', 'vhost_net'] });
  let nic = '';

  it('numaplan irq --apply moves the NIC\'s vectors to node 5\'s CPUs, and /proc reads them back there', async () => {
    assertBuilt();
    const g = guest();
    const np = await guestCli(g);
    const listed = JSON.parse(await g.runOk(`${np} irq --json`)) as { devices: { address: string; class: string; node: number | null; vectors: number }[] };
    // Node 5 holds the NIC and the root port it sits behind (PCIe port services take a vector too).
    const onNode5 = listed.devices.filter((d) => d.node === 5 && d.class === 'nic');
    expect(onNode5).toHaveLength(1);
    nic = (onNode5[0] as { address: string }).address;
    const before = (await g.runOk(VECTORS(nic))).trim().split('\n').map((l) => l.split(' '));
    expect(before.length).toBe((onNode5[0] as { vectors: number }).vectors);
    // Before: the kernel's spread (the configuration vector on every CPU) is not all on node 5.
    expect(before.some(([, cpus]) => parseList(cpus as string).some((c) => !NODE5.includes(c)))).toBe(true);
    const dry = JSON.parse(await g.runOk(`${np} irq --device ${nic} --json`)) as { applied: boolean; devices: { node: number; targets: number[] }[] };
    expect(dry.applied).toBe(false);
    expect(dry.devices[0]).toMatchObject({ node: 5, targets: NODE5 });
    // The dry run changed nothing.
    expect((await g.runOk(VECTORS(nic))).trim().split('\n').map((l) => l.split(' '))).toEqual(before);
    const r = await g.run(`${np} irq --device ${nic} --apply --json`);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; devices: { applied: { irq: number; ok: boolean; observed: string }[] }[] };
    expect(report.ok).toBe(true);
    // The test's own reading: every vector on exactly one CPU of node 5, both CPUs used.
    const after = (await g.runOk(VECTORS(nic))).trim().split('\n').map((l) => l.split(' '));
    const used = new Set<number>();
    for (const [irq, cpus] of after) {
      const list = parseList(cpus as string);
      expect(list, `IRQ ${irq}`).toHaveLength(1);
      expect(NODE5, `IRQ ${irq} on CPU ${cpus}`).toContain(list[0]);
      used.add(list[0] as number);
    }
    expect([...used].sort()).toEqual(NODE5);
    expect(report.devices[0]?.applied.map((a) => [a.irq, a.observed])).toEqual(after.map(([irq, cpus]) => [Number(irq), cpus]));
  }, 180_000);

  it('a VM with I/O threads, a disk and a vhost-net NIC: launch pins them on node 5, QMP and /proc show it', async () => {
    assertBuilt();
    const g = guest();
    const np = await guestCli(g);
    const spec = 'name=io,vcpus=1,memory=128M,devices=nic:1:required,iothreads=2,disks=1,nets=1,queues=2,iocpus=1';
    const placed = JSON.parse(await g.runOk(`${np} place --host sysfs --vm ${shq(spec)} --json`)) as {
      placements: { cpus: number[]; io: { node: number; cpus: number[]; emulatorCpus: number[]; iothreads: { id: number; cpus: number[] }[] }; explanation: { notes: string[] } }[];
    };
    const p = placed.placements[0];
    expect(p?.io.node).toBe(5);
    expect(p?.cpus.every((c) => NODE5.includes(c))).toBe(true);
    const ioCpu = NODE5.find((c) => !p?.cpus.includes(c)) as number;
    expect(p?.io.cpus).toEqual([ioCpu]);
    expect(p?.io.iothreads.map((t) => t.cpus)).toEqual([[ioCpu], [ioCpu]]);
    expect(p?.explanation.notes.join(' ')).toContain(`on node 5 (the node of device ${nic || ''}`);
    await g.runOk('mkdir -p /tmp/io && : > /tmp/io/io-disk0.img');
    const launch = await g.spawn(
      `exec ${NUMAPLAN} launch qemu --host sysfs --vm ${shq(spec)} --accel tcg --paused --device-stand-in edu --disk-dir /tmp/io --json -- -qmp unix:/tmp/io/t.sock,server=on,wait=off > /tmp/io/launch.json`,
    );
    try {
      // launch prints its report once every thread is pinned and checked, then waits for QEMU.
      const waited = await g.run(`while ! grep -q '^}' /tmp/io/launch.json 2>/dev/null; do kill -0 ${launch.pid} 2>/dev/null || exit 1; sleep 0.2; done`, { timeoutMs: 300_000 });
      if (waited.code !== 0) {
        const o = await launch.output();
        throw new Error(`launch ended: ${await g.readFile('/tmp/io/launch.json')}\n${o.stderr}`);
      }
      const report = JSON.parse(await g.readFile('/tmp/io/launch.json')) as { pid: number; ok: boolean; vcpus: { threadId: number }[]; ioThreads: { id: string; threadId: number }[] };
      expect(report?.ok).toBe(true);
      const pid = report?.pid as number;
      // QEMU's own answer, over the test's QMP socket: its I/O threads and vCPU threads.
      const qmp = JSON.parse(
        await g.runOk(`node -e ${shq(QMP)} /tmp/io/t.sock ${shq(JSON.stringify({ execute: 'query-iothreads' }))} ${shq(JSON.stringify({ execute: 'query-cpus-fast' }))}`),
      ) as [{ return: { id: string; 'thread-id': number }[] }, { return: { 'thread-id': number }[] }];
      const iothreads = qmp[0].return;
      expect(iothreads.map((t) => t.id).sort()).toEqual(['iothread1', 'iothread2']);
      const affinity = async (tid: number): Promise<number[]> => parseList((await g.runOk(`sed -n 's/^Cpus_allowed_list:\\s*//p' /proc/${pid}/task/${tid}/status`)).trim());
      for (const t of iothreads) expect(await affinity(t['thread-id']), t.id).toEqual([ioCpu]);
      for (const c of qmp[1].return) expect(await affinity(c['thread-id']), `vCPU thread ${c['thread-id']}`).toEqual(p?.cpus);
      // The vhost-net worker of the NIC (a kernel thread named vhost-PID in this kernel).
      const vhost = (await g.runOk(`grep -lx vhost-${pid} /proc/[0-9]*/comm 2>/dev/null | sed 's|^/proc/\\([0-9]*\\)/comm$|\\1|'; true`)).trim().split('\n').filter(Boolean);
      expect(vhost.length).toBeGreaterThan(0);
      for (const tid of vhost) expect(parseList((await g.runOk(`sed -n 's/^Cpus_allowed_list:\\s*//p' /proc/${tid}/status`)).trim()), `vhost worker ${tid}`).toEqual([ioCpu]);
      await g.runOk(`node -e ${shq(QMP)} /tmp/io/t.sock ${shq(JSON.stringify({ execute: 'quit' }))}`);
      const done = await launch.wait({ timeoutMs: 60_000 });
      expect(done.code).toBe(0);
    } finally {
      if (await launch.running()) await launch.kill('KILL');
    }
  }, 300_000);
});
