/**
 * The case, end to end through every target and its consumer: on the EPYC NPS4 preset, a VM
 * with an RDMA VF on node 5, two I/O threads, two virtio disks and a virtio NIC of four queues each.
 * The emulator thread and both I/O threads go on node 5's CPUs in every emitter that can place them,
 * the explanation says so, and the real consumers agree:
 * - libvirt: virt-xml-validate; `virsh define` on the test driver and its `iothreadinfo` (libvirt's own
 *   reading of the pins); its QEMU driver's command line (domxml-to-native, as root) started paused in
 *   QEMU with QMP's query-iothreads and each disk's iothread and num-queues;
 * - QEMU: numaplan's argv started paused, the same QMP checks, and the pin plan `launch qemu` applies;
 * - Cloud Hypervisor (vhost=off: it has no vhost-net): its ported parser and validator, each disk queue
 *   pinned to node 5's I/O CPUs (queue_affinity);
 * - xl: refused with the reason (Xen has no per-guest I/O threads or queue counts); without them, the
 *   PV disks and vif read by xl's own parser (libxlutil).
 * The booted kernel's side (threads pinned in a running QEMU, read back over QMP and /proc) is in
 * test/guest-io.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmitError, type EmitOptions, diskImage, emitPlacement, targetLimit } from '../src/core/emit/index.js';
import { createHostState, parseVmSpec, place } from '../src/core/placement/index.js';
import type { Placement } from '../src/core/placement/types.js';
import { formatCpuList } from '../src/core/topology/cpulist.js';
import type { Topology } from '../src/core/topology/model.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { parseChArgv, validateCh } from './support/cloud-hypervisor/ch-rules.js';
import { domxmlToNative, run } from './support/generated/libvirt-native.js';
import { TCG_CPU, mapHostNodesToZero, probeQemu, startableLibvirtArgv, withoutVhost } from './support/generated/qemu-probe.js';
import { tool } from './support/tools.js';
import type { XlDump } from './support/xl/xl-rules.js';

const epyc = (getPreset('epyc-2s-nps4') as { build(): Topology }).build();
const NODE5 = new Set(epyc.nodes.find((n) => n.id === 5)?.cpus ?? []);
const SPEC = 'name=io5,vcpus=16,memory=32G,devices=pci:0000:c1:00.2:required,iothreads=2,disks=2,nets=1,queues=4';
const have = ['virsh', 'virt-xml-validate', 'qemu-system-x86_64', 'cc'].every((t) => tool(t));
const isRoot = process.getuid?.() === 0;

function placed(spec: string): Placement {
  const r = place(parseVmSpec(spec), createHostState(epyc));
  if (!r.ok) throw new Error(`${spec}: ${JSON.stringify(r.reasons)}`);
  return r.placement;
}

const onNode5 = (cpus: readonly number[]): boolean => cpus.length > 0 && cpus.every((c) => NODE5.has(c));

describe.skipIf(!have)('EPYC NPS4: a VM with an RDMA VF on node 5, iothreads=2, queues=4, in every target', () => {
  let dir = '';
  const EMIT: EmitOptions = {};
  const p = placed(SPEC);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'numaplan-io-emit-'));
    EMIT.diskDir = join(dir, 'images');
    mkdirSync(EMIT.diskDir);
    for (const k of [0, 1]) writeFileSync(diskImage(EMIT, 'qemu', p.name, k), Buffer.alloc(0));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('plans the emulator thread and both I/O threads on node 5 (the VF\'s), and the explanation says so', () => {
    expect(p.devices.map((d) => [d.address, d.node])).toEqual([['0000:c1:00.2', 5]]);
    expect(p.io?.node).toBe(5);
    expect(onNode5(p.io?.emulatorCpus ?? [])).toBe(true);
    for (const t of p.io?.iothreads ?? []) expect(onNode5(t.cpus)).toBe(true);
    expect(p.io?.devices.map((d) => d.queues)).toEqual([4, 4, 4]);
    const notes = p.explanation.notes.join('\n');
    expect(notes).toContain('I/O: the emulator thread, 2 I/O threads and the vhost-net workers of 1 NIC on node 5 (the node of device 0000:c1:00.2)');
    expect(notes).toContain('that is what pulls the VM to node 5');
  });

  it('libvirt: emulatorpin and iothreadpin on node 5; the schema, define and iothreadinfo accept them', async () => {
    const xml = emitPlacement(p, epyc, 'libvirt', EMIT).text;
    const pins = [...xml.matchAll(/<(emulatorpin|iothreadpin)(?: iothread='(\d)')? cpuset='([^']+)'/g)].map((m) => [m[1], m[2] ?? null, m[3]]);
    const cpus = formatCpuList(p.io?.iothreads[0]?.cpus ?? []);
    expect(pins).toEqual([
      ['emulatorpin', null, formatCpuList(p.io?.emulatorCpus ?? [])],
      ['iothreadpin', '1', cpus],
      ['iothreadpin', '2', formatCpuList(p.io?.iothreads[1]?.cpus ?? [])],
    ]);
    expect(xml).toContain("<driver name='qemu' type='raw' queues='4' iothread='1'/>");
    expect(xml).toContain("<driver name='vhost' queues='4'/>");
    const file = join(dir, 'io5.xml');
    writeFileSync(file, xml);
    const valid = await run('virt-xml-validate', [file, 'domain']);
    expect(valid.code, valid.stderr + valid.stdout).toBe(0);
    const info = await run('virsh', ['-c', 'test:///default', `define '${file}'; iothreadinfo io5 --config`]);
    expect(info.code, info.stderr).toBe(0);
    const readBack = [...info.stdout.matchAll(/^\s*(\d+)\s+(\S+)\s*$/gm)].map((m) => [Number(m[1]), m[2]]);
    expect(readBack).toEqual(p.io?.iothreads.map((t) => [t.id, formatCpuList(t.cpus)]));
    for (const [, c] of readBack) expect(onNode5((c as string).split(',').flatMap((r) => { const [a, b] = r.split('-').map(Number) as [number, number?]; return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i); }))).toBe(true);
  });

  it.skipIf(!isRoot)("libvirt's QEMU driver writes the I/O threads and disks, and QEMU started from its line shows them", async () => {
    const file = join(dir, 'io5.xml');
    const line = (await domxmlToNative(dir, epyc, [file], 0)).get(file) as string;
    expect(line.startsWith('ERROR'), line).toBe(false);
    const argv = startableLibvirtArgv(line);
    const pxbs = argv.filter((a, j) => argv[j - 1] === '-device' && a.includes('"driver":"pxb-pcie"')).map((a) => `/machine/peripheral/${(JSON.parse(a) as { id: string }).id}`);
    const v = await probeQemu(argv, pxbs);
    expect(v.code, v.stderr).toBe(0);
    expect(v.iothreads.map((t) => t.id).sort()).toEqual(['iothread1', 'iothread2']);
    expect(v.virtio.filter((d) => d.kind === 'disk').map((d) => [d.numQueues, d.iothread])).toEqual([
      [4, '/objects/iothread1'],
      [4, '/objects/iothread2'],
    ]);
  }, 120_000);

  it("QEMU: the pin plan puts the emulator and the I/O threads on node 5; QEMU started from the argv shows them", async () => {
    const e = emitPlacement(p, epyc, 'qemu', { ...EMIT, accel: 'tcg', cpu: TCG_CPU, reserve: false, deviceStandIn: 'edu' });
    expect(onNode5(e.pins?.emulatorCpus ?? [])).toBe(true);
    expect(e.pins?.iothreads?.map((t) => t.id)).toEqual(['iothread1', 'iothread2']);
    for (const t of e.pins?.iothreads ?? []) expect(onNode5(t.cpus)).toBe(true);
    expect(onNode5(e.pins?.vhostCpus ?? [])).toBe(true);
    const argv = withoutVhost(mapHostNodesToZero(e.argv as string[]));
    const v = await probeQemu([...argv, '-display', 'none', '-nodefaults'], []);
    expect(v.code, v.stderr).toBe(0);
    expect(v.iothreads.map((t) => t.id).sort()).toEqual(['iothread1', 'iothread2']);
    expect(v.virtio.map((d) => [d.kind, d.numQueues, d.iothread, d.mq, d.vectors])).toEqual([
      ['disk', 4, '/objects/iothread1', null, null],
      ['disk', 4, '/objects/iothread2', null, null],
      ['net', null, null, true, 10],
    ]);
  }, 120_000);

  it('Cloud Hypervisor (vhost=off): every disk queue pinned to node 5, accepted by its parser and validator', () => {
    const q = placed(`${SPEC},vhost=off`);
    expect(targetLimit(p, epyc, 'cloud-hypervisor')).toMatch(/no vhost-net/);
    const argv = emitPlacement(q, epyc, 'cloud-hypervisor', EMIT).argv as string[];
    const c = parseChArgv(argv);
    expect(validateCh(c)).toEqual([]);
    expect(c.disks?.map((d) => d.numQueues)).toEqual([4, 4]);
    for (const d of c.disks ?? []) for (const a of d.queueAffinity ?? []) expect(onNode5(a.hostCpus)).toBe(true);
    expect(c.nets?.map((n) => n.numQueues)).toEqual([8]);
  });

  it('xl: refuses I/O threads and queue counts with the reason; the PV disks and vif alone pass xl\'s parser', async () => {
    expect(() => emitPlacement(p, epyc, 'xl', EMIT)).toThrow(EmitError);
    expect(targetLimit(p, epyc, 'xl')).toMatch(/Xen has no per-guest I\/O threads/);
    const plain = placed('name=io5,vcpus=16,memory=32G,devices=pci:0000:c1:00.2:required,disks=2,nets=1');
    const cfg = emitPlacement(plain, epyc, 'xl', EMIT).text;
    expect(cfg).toContain("# I/O: blkback and netback serve these in dom0; run dom0's vCPUs on node 5's CPUs");
    const dump = join(dir, 'xl-cfg-dump');
    const cc = spawnSync('cc', ['-O1', '-o', dump, join(import.meta.dirname, 'support', 'xl', 'xl-cfg-dump.c'), '-lxlutil', '-lxenlight'], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    const file = join(dir, 'io5.cfg');
    writeFileSync(file, cfg);
    const r = await run(dump, [file]);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as XlDump;
    expect(d.disk?.map((x) => x && [x.vdev, x.format, x.readwrite])).toEqual([
      ['xvda', 'raw', 1],
      ['xvdb', 'raw', 1],
    ]);
    expect(d.vif).toEqual(['type=vif']);
  });
});
