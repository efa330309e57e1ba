/**
 * The ultimate check of the emitters: Debian's kernel booted with the QEMU command line numaplan
 * emitted (and, for some, the one libvirt's own QEMU driver wrote from numaplan's domain), and the
 * guest's own view compared with the plan. For a few of the generated suite's accepted placements
 * per run (test/support/generated/suite.ts, drawn with this file's seed) and the issue's fixed
 * reproductions: interleaved memory, preferred memory with an uneven split, a memory-tier
 * (CPU-less) node, devices on guest nodes, and a device's own guest node. Nine guests per run, two
 * at a time (one per host core); `-t` boots only the guests of the selected tests.
 *
 * What the booted guest verifies (its kernel's view, read with numactl -H, sysfs and /proc):
 * - its NUMA nodes: which exist, each node's CPUs, each node's memory (the pages the kernel found
 *   present on the node, /proc/zoneinfo, which is the planned size less firmware holes of under
 *   1 MiB; numactl's "size" is MemTotal, less what the kernel reserved), and the distance matrix;
 * - its CPU topology: sockets, dies per socket, threads per core, and that no die straddles nodes;
 * - each passed-through device's node (the stand-in device's numa_node, as the kernel read it from
 *   the expander bridge's _PXM), and each virtio disk's and NIC's (the I/O node's guest node);
 * - for the I/O reproduction (an even split), how the guest kernel spread each multi-queue virtio
 *   device's queue interrupts over its nodes (/proc/interrupts, /proc/irq/N/smp_affinity_list),
 *   against the plan's spread;
 * - that the memory of every node is there for its processes: a process bound to the node with
 *   numactl touches 16 MiB, and its own /proc/self/numa_maps shows bind:N with the pages on N.
 * What it cannot verify: the host side. The memory policy of the guest's RAM (bind, preferred,
 * interleave over host nodes) is the host kernel's binding of QEMU's memory; inside, the guest sees
 * only its vNUMA (an interleaved VM is one node), so the policy is read where it lives: QEMU's own
 * /proc/PID/numa_maps on this machine, one mapping of each planned size with the planned policy.
 * This machine has one node, so the planned host nodes are mapped onto node 0 (the emitted host
 * node ids are checked against the plan before that); vCPU pinning is `numaplan launch`'s (checked
 * by its own suite); the host page size is invisible to a guest (huge-page backends start as plain
 * memfd here); and vfio devices are replaced by QEMU's `edu` device at the same place in the tree.
 * The accelerator is TCG, and the guest harness (test/support/guest) owns the CPU model, console,
 * kernel and root file system.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmitError, diskImage, emitPlacement, emitQemuGuest, guestOf, targetLimit } from '../src/core/emit/index.js';
import { parseCpuList } from '../src/core/topology/cpulist.js';
import { createHostState, parseVmSpec, place } from '../src/core/placement/index.js';
import type { Placement } from '../src/core/placement/types.js';
import { seededRandom } from '../src/core/random.js';
import type { Topology } from '../src/core/topology/model.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { type Guest, guestAvailable, shq } from './support/guest/index.js';
import { GUEST_BUSYBOX } from './support/guest/initramfs.js';
import { type GuestPlan, type GuestStep, guestPlan, startPlans } from './support/guest/plan.js';
import { domxmlToNative } from './support/generated/libvirt-native.js';
import { startableEmittedArgv, startableLibvirtArgv } from './support/generated/qemu-probe.js';
import { generatedRequests, type Host } from './support/generated/suite.js';
import { runSeed } from './support/seed.js';
import { tool } from './support/tools.js';

const seed = runSeed();
console.log(`guest-emitted: seed ${seed} (NUMAPLAN_SEED=${seed} replays this run)`);

/** Random samples booted per run: multi-node guests first (the interesting ones), then any. */
const RANDOM_MULTI_NODE = 2;
const RANDOM_ANY = 1;
const MIB = 2 ** 20;
/**
 * The generated placements booted: those a TCG guest boots in seconds here (4-10 s; 16 vCPUs took
 * 15-25 s while other guests ran), so that the run stays a small share of CI.
 */
const BOOT_MAX_VCPUS = 8;
const BOOT_MAX_MEMORY = 8 * 1024 * MIB;
/**
 * Memory each guest node with memory needs here: Debian's kernel, the harness's initramfs and a
 * process touching TOUCH_MIB live in it (a 73 MiB node keeps 26 MiB free after boot; 2 x 32 MiB
 * does not boot). Smaller plans are judged by the generated suite's QMP check only.
 */
const BOOT_MIN_NODE_MEMORY = 256 * MIB;
/** Bytes each node-bound process touches in the guest. */
const TOUCH_MIB = 16;

const isRoot = process.getuid?.() === 0;
const have = guestAvailable() && ['numactl', 'virsh', 'lstopo-no-graphics'].every((t) => tool(t));

/** One guest to boot: a placement and the command line it starts from. */
interface BootCase {
  id: string;
  what: string;
  host: Host;
  spec: string;
  placement: Placement;
  via: 'qemu' | 'libvirt';
  /** What the emitter (or libvirt) wrote. */
  emitted: string[];
  /** The same made startable here (startableEmittedArgv / startableLibvirtArgv). */
  argv: string[];
}

/** The guest the plan describes. */
interface PlannedGuest {
  nodes: { id: number; vcpus: number[]; memory: number; hostNode: number }[];
  distances: number[][];
  /** Guest node of each device (-1: none, on the root bus). */
  deviceNodes: number[];
  /** Each virtio disk and NIC: its guest node (-1: none) and its queues' guest nodes. */
  virtio: { kind: 'disk' | 'net'; guestNode: number; queueNodes: number[] }[];
  policy: 'bind' | 'preferred' | 'interleave';
  /** Each memory backend's size, and the host nodes it is bound to. */
  backends: { size: number; hostNodes: number[] }[];
  topology: { sockets: number; dies: number; threads: number };
}

function plannedGuest(p: Placement, t: Topology): PlannedGuest {
  const g = guestOf(p, t);
  const nodes = p.vnuma
    ? p.vnuma.nodes.map((n) => ({ id: n.id, vcpus: [...n.vcpus].sort((a, b) => a - b), memory: n.memory, hostNode: n.hostNode }))
    : [{ id: 0, vcpus: p.cpus.map((_, i) => i), memory: Object.values(p.memoryByNode).reduce((a, b) => a + b, 0), hostNode: -1 }];
  const memoryNodes = Object.entries(p.memoryByNode).filter(([, b]) => b > 0).map(([k]) => Number(k)).sort((a, b) => a - b);
  const guestNodeOf = new Map((p.vnuma?.devices ?? []).map((d) => [d.address, d.guestNode]));
  return {
    nodes,
    distances: p.vnuma ? p.vnuma.distances.map((r) => [...r]) : [[10]],
    deviceNodes: p.devices.map((d) => (p.vnuma ? (guestNodeOf.get(d.address) ?? -1) : -1)),
    virtio: (p.io?.devices ?? []).map((d) => ({ kind: d.kind, guestNode: g.io?.guestNode ?? -1, queueNodes: d.queueNodes })),
    policy: p.memoryPolicy,
    backends: p.vnuma ? nodes.filter((n) => n.memory > 0).map((n) => ({ size: n.memory, hostNodes: [n.hostNode] })) : [{ size: nodes[0]?.memory as number, hostNodes: memoryNodes }],
    topology: { sockets: g.topology.sockets, dies: g.topology.dies, threads: g.topology.threads },
  };
}

/** What the guest and QEMU's host process showed. */
interface Observed {
  numactl: string;
  /** Pages present per guest node (/proc/zoneinfo). */
  present: Map<number, number>;
  /** Per online CPU: package, die, core. */
  cpus: { cpu: number; pkg: number; die: number; core: number }[];
  /** numa_node of each stand-in device. */
  deviceNodes: number[];
  /** Each virtio PCI device (disk or NIC, in PCI address order): numa_node and its queue interrupts' CPUs. */
  virtio: { kind: 'disk' | 'net'; node: number; queues: { name: string; cpus: number[] }[] }[];
  /** Per guest node with memory: the numa_maps of a process bound there that touched TOUCH_MIB. */
  bound: Map<number, string>;
  /** QEMU's mappings with a memory policy other than default: size and policy. */
  hostPolicies: { size: number; policy: string }[];
  bootMs: number;
}

/** Reads the guest's view and QEMU's host mappings. */
async function observe(g: Guest, planned: PlannedGuest): Promise<Observed> {
  // The loops read sysfs with the harness's static busybox (cat, basename, ls, head): a dynamically
  // linked program takes ~75 ms to start under TCG, and the loops run dozens.
  const out = await g.runOk(
    [
      `bb=${GUEST_BUSYBOX}`,
      'echo @@numactl; numactl -H',
      "echo @@zone; awk '/^Node/ { n = $2 + 0 } /^ *present/ { p[n] += $2 } END { for (k in p) print k, p[k] }' /proc/zoneinfo",
      'echo @@cpus; for c in /sys/devices/system/cpu/cpu[0-9]*; do [ -d $c/topology ] && echo ${c##*cpu} $($bb cat $c/topology/physical_package_id $c/topology/die_id $c/topology/core_id); done',
      'echo @@pci; for d in /sys/bus/pci/devices/*; do [ "$($bb cat $d/vendor):$($bb cat $d/device)" = 0x1234:0x11e8 ] && $bb cat $d/numa_node; done; true',
      // virtio PCI devices (modern 0x1041 net, 0x1042 block; transitional 0x1000, 0x1001): node, then
      // each of its queue interrupts (virtioN-req.Q, virtioN-input.Q, virtioN-output.Q) and their CPUs.
      'echo @@virtio; for d in /sys/bus/pci/devices/*; do case "$($bb cat $d/vendor):$($bb cat $d/device)" in 0x1af4:0x1042|0x1af4:0x1001) k=disk;; 0x1af4:0x1041|0x1af4:0x1000) k=net;; *) continue;; esac; v=$($bb basename $($bb ls -d $d/virtio* | $bb head -1)); echo "dev $k $($bb cat $d/numa_node)"; grep -E " $v-(req|input|output)\\." /proc/interrupts | while read irq rest; do irq=${irq%:}; echo "q ${rest##* } $($bb cat /proc/irq/$irq/smp_affinity_list)"; done; done; true',
    ].join('\n'),
  );
  const sec = (name: string): string => {
    const lines = (out.split(`@@${name}\n`)[1] ?? '').split('\n');
    const end = lines.findIndex((l) => l.startsWith('@@'));
    return (end < 0 ? lines : lines.slice(0, end)).join('\n');
  };
  const present = new Map(
    sec('zone')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').map(Number) as [number, number]),
  );
  const cpus = sec('cpus')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [cpu, pkg, die, core] = l.split(' ').map(Number) as [number, number, number, number];
      return { cpu, pkg, die, core };
    });
  const bound = new Map<number, string>();
  const perl = `$x = "a" x (${TOUCH_MIB} << 20); open F, "/proc/self/numa_maps"; print <F>`;
  // One process per node with memory, one after the other, in one guest command.
  const withMemory = planned.nodes.filter((x) => x.memory > 0);
  const maps = await g.runOk(withMemory.map((n) => `echo @@bound ${n.id}; numactl --membind=${n.id} perl -e ${shq(perl)} || exit $?`).join('\n'));
  for (const block of maps.split('@@bound ').slice(1)) {
    const nl = block.indexOf('\n');
    bound.set(Number(block.slice(0, nl)), block.slice(nl + 1));
  }
  // QEMU's own mappings: each planned backend is one mapping of its size (plus guard pages of its own).
  const pid = g.qemuPid as number;
  const sizes = new Map(
    readFileSync(`/proc/${pid}/maps`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const [a, b] = (l.split(' ')[0] as string).split('-').map((x) => BigInt(`0x${x}`)) as [bigint, bigint];
        return [a.toString(16), Number(b - a)] as const;
      }),
  );
  const hostPolicies = readFileSync(`/proc/${pid}/numa_maps`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[1] !== 'default')
    .map((f) => ({ size: sizes.get((f[0] as string).replace(/^0+/, '')) ?? -1, policy: f[1] as string }));
  const virtio: Observed['virtio'] = [];
  for (const l of sec('virtio').trim().split('\n').filter(Boolean)) {
    const f = l.split(' ');
    if (f[0] === 'dev') virtio.push({ kind: f[1] as 'disk' | 'net', node: Number(f[2]), queues: [] });
    else virtio[virtio.length - 1]?.queues.push({ name: f[1] as string, cpus: parseCpuList(f[2] ?? '') });
  }
  return { numactl: sec('numactl'), present, cpus, deviceNodes: sec('pci').trim().split('\n').filter(Boolean).map(Number), virtio, bound, hostPolicies, bootMs: g.bootMs };
}

/** numactl -H: the nodes, each node's CPUs and size (MB), the distance matrix. */
function parseNumactl(text: string): { nodes: number[]; cpus: Map<number, number[]>; sizeMB: Map<number, number>; distances: number[][] } {
  const avail = /^available: \d+ nodes \(([^)]*)\)/m.exec(text)?.[1] ?? '';
  const nodes = avail.split(',').flatMap((r) => {
    const [a, b] = r.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
  const cpus = new Map([...text.matchAll(/^node (\d+) cpus:(.*)$/gm)].map((m) => [Number(m[1]), (m[2] as string).trim().split(/\s+/).filter(Boolean).map(Number)]));
  const sizeMB = new Map([...text.matchAll(/^node (\d+) size: (\d+) MB$/gm)].map((m) => [Number(m[1]), Number(m[2])]));
  const table = text.split('node distances:\n')[1] ?? '';
  const distances = table
    .split('\n')
    .filter((l) => /^\s*\d+:/.test(l))
    .map((l) => (l.split(':')[1] as string).trim().split(/\s+/).map(Number));
  return { nodes, cpus, sizeMB, distances };
}

const sortedJson = (xs: readonly number[]): string => JSON.stringify([...xs].sort((a, b) => a - b));

/** The guest's and QEMU's view against the plan: the list of differences. */
function compare(c: BootCase, o: Observed): string[] {
  const want = plannedGuest(c.placement, c.host.topology);
  const bad: string[] = [];
  const n = parseNumactl(o.numactl);
  const ids = want.nodes.map((x) => x.id);
  if (JSON.stringify(n.nodes) !== JSON.stringify(ids)) bad.push(`numactl -H: nodes ${JSON.stringify(n.nodes)}, planned ${JSON.stringify(ids)}`);
  for (const node of want.nodes) {
    if (JSON.stringify(n.cpus.get(node.id) ?? null) !== JSON.stringify(node.vcpus)) bad.push(`node ${node.id}: CPUs ${JSON.stringify(n.cpus.get(node.id))}, planned ${JSON.stringify(node.vcpus)}`);
    const mib = Math.ceil(((o.present.get(node.id) ?? 0) * 4096) / MIB);
    if (mib !== node.memory / MIB) bad.push(`node ${node.id}: ${mib} MiB present, planned ${node.memory / MIB} MiB`);
    const size = n.sizeMB.get(node.id) ?? -1;
    if (size > node.memory / MIB || (size > 0) !== (node.memory > 0)) bad.push(`node ${node.id}: numactl size ${size} MB, planned ${node.memory / MIB} MiB`);
    if (node.memory > 0) {
      const maps = o.bound.get(node.id) ?? '';
      const big = maps
        .split('\n')
        .map((l) => ({ l, anon: Number(/ anon=(\d+)/.exec(l)?.[1] ?? 0) }))
        .sort((a, b) => b.anon - a.anon)[0];
      const onNode = Number(new RegExp(` N${node.id}=(\\d+)`).exec(big?.l ?? '')?.[1] ?? 0);
      const elsewhere = (big?.l ?? '').match(/ N\d+=/g)?.length ?? 0;
      if (!big || !big.l.includes(` bind:${node.id} `) || big.anon < (TOUCH_MIB * MIB) / 4096 || onNode !== big.anon || elsewhere !== 1) {
        bad.push(`node ${node.id}: a process bound there does not get its ${TOUCH_MIB} MiB there: ${big?.l ?? maps.slice(0, 300)}`);
      }
    }
  }
  if (JSON.stringify(n.distances) !== JSON.stringify(want.distances)) bad.push(`distances ${JSON.stringify(n.distances)}, planned ${JSON.stringify(want.distances)}`);
  // CPU topology: the emitter's sockets, dies and threads, and no die across two guest nodes.
  const packages = new Set(o.cpus.map((x) => x.pkg));
  const dies = new Set(o.cpus.map((x) => `${x.pkg}/${x.die}`));
  const cores = new Map<string, number>();
  for (const x of o.cpus) cores.set(`${x.pkg}/${x.die}/${x.core}`, (cores.get(`${x.pkg}/${x.die}/${x.core}`) ?? 0) + 1);
  if (o.cpus.length !== c.placement.cpus.length) bad.push(`${o.cpus.length} CPUs, planned ${c.placement.cpus.length}`);
  if (packages.size !== want.topology.sockets) bad.push(`${packages.size} sockets, planned ${want.topology.sockets}`);
  if (dies.size !== want.topology.sockets * want.topology.dies) bad.push(`${dies.size} dies, planned ${want.topology.sockets * want.topology.dies}`);
  if ([...cores.values()].some((k) => k !== want.topology.threads)) bad.push(`threads per core ${JSON.stringify([...new Set(cores.values())])}, planned ${want.topology.threads}`);
  const nodeOfCpu = new Map(want.nodes.flatMap((x) => x.vcpus.map((v) => [v, x.id] as const)));
  const dieNodes = new Map<string, Set<number>>();
  for (const x of o.cpus) dieNodes.set(`${x.pkg}/${x.die}`, (dieNodes.get(`${x.pkg}/${x.die}`) ?? new Set()).add(nodeOfCpu.get(x.cpu) ?? -1));
  for (const [d, set] of dieNodes) if (set.size > 1) bad.push(`die ${d} holds CPUs of guest nodes ${[...set]}`);
  if (sortedJson(o.deviceNodes) !== sortedJson(want.deviceNodes)) bad.push(`devices on guest nodes ${sortedJson(o.deviceNodes)}, planned ${sortedJson(want.deviceNodes)}`);
  // The virtio disks and NICs: on the I/O node's guest node; for the I/O reproduction, each device's
  // queues spread over the guest nodes as planned (per guest node, the queues whose CPUs are there).
  for (const kind of ['disk', 'net'] as const) {
    const w = want.virtio.filter((x) => x.kind === kind);
    const g = o.virtio.filter((x) => x.kind === kind);
    if (w.length !== g.length) {
      bad.push(`${g.length} virtio ${kind}s in the guest, planned ${w.length}`);
      continue;
    }
    w.forEach((x, k) => {
      const d = g[k] as Observed['virtio'][number];
      if (d.node !== x.guestNode) bad.push(`virtio ${kind} ${k} on guest node ${d.node}, planned ${x.guestNode}`);
      if (c.id !== 'io') return;
      const queues = d.queues.filter((q) => !q.name.includes('-output.'));
      const spread = (nodes: number[]): string => JSON.stringify([...new Set(nodes)].sort((a, b) => a - b).map((n) => [n, nodes.filter((y) => y === n).length]));
      const got = queues.map((q) => (q.cpus.every((cpu) => nodeOfCpu.get(cpu) === nodeOfCpu.get(q.cpus[0] as number)) ? (nodeOfCpu.get(q.cpus[0] as number) ?? -1) : -1));
      if (spread(got) !== spread(x.queueNodes)) bad.push(`virtio ${kind} ${k}: queues on guest nodes ${spread(got)}, planned ${spread(x.queueNodes)} (${queues.map((q) => `${q.name}:${q.cpus.join(',')}`).join(' ')})`);
    });
  }
  // The host side: each backend one mapping of its size with the planned policy (over node 0 here).
  const mode = { bind: 'bind', preferred: 'prefer', interleave: 'interleave' }[want.policy];
  const got = o.hostPolicies.map((h) => `${h.size}:${h.policy}`).sort();
  const planned = want.backends.map((b) => `${b.size}:${mode}:0`).sort();
  if (JSON.stringify(got) !== JSON.stringify(planned)) bad.push(`QEMU's numa_maps: ${JSON.stringify(got)}, planned ${JSON.stringify(planned)}`);
  if (c.via === 'qemu') {
    const emittedNodes = c.emitted
      .filter((a, i) => c.emitted[i - 1] === '-object' && a.startsWith('memory-backend'))
      .map((a) => [...a.matchAll(/host-nodes=(\d+)/g)].map((m) => Number(m[1])));
    if (JSON.stringify(emittedNodes) !== JSON.stringify(want.backends.map((b) => b.hostNodes))) bad.push(`emitted backends bound to host nodes ${JSON.stringify(emittedNodes)}, planned ${JSON.stringify(want.backends.map((b) => b.hostNodes))}`);
  }
  return bad;
}

function placeOn(host: Host, spec: string, deviceNodes = false): Placement {
  const r = place(parseVmSpec(spec), createHostState(host.topology), undefined, { deviceNodes, hints: false });
  if (!r.ok) throw new Error(`${host.name} ${spec}: does not fit: ${JSON.stringify(r.reasons)}`);
  return r.placement;
}

/** Emitter options of the booted guests: the virtio disks' images in the run's folder (created by imagesOf). */
const EMIT: { diskDir?: string } = {};

/**
 * The same, for the guests booted through libvirt: images of their own, since a generated sample
 * boots both ways and two QEMUs may not hold one image's write lock at once.
 */
const EMIT_LIBVIRT: { diskDir?: string } = {};

/** Creates the (empty, 16 MiB) images of a placement's virtio disks. */
function imagesOf(p: Placement, o: { diskDir?: string } = EMIT): void {
  for (const d of p.io?.devices ?? []) if (d.kind === 'disk') writeFileSync(diskImage(o, 'qemu', p.name, d.index), Buffer.alloc(16 * MIB));
}

function qemuCase(id: string, what: string, host: Host, spec: string, placement: Placement): BootCase {
  imagesOf(placement);
  const emitted = emitPlacement(placement, host.topology, 'qemu', EMIT).argv as string[];
  return { id, what, host, spec, placement, via: 'qemu', emitted, argv: startableEmittedArgv(emitted) };
}

const preset = (name: string): Host => ({ name: `preset:${name}`, topology: (getPreset(name) as { build(): Topology }).build() });

describe.skipIf(!have)(`booted guests from emitted configurations (seed ${seed})`, () => {
  const dir = join(tmpdir(), `numaplan-guest-emitted-${process.pid}`);
  const broadwell = preset('broadwell-2s');
  const cxl = preset('cxl-2s');
  /** The issue's reproductions, sized to boot in seconds. */
  const fixed: { id: string; what: string; host: Host; spec: string }[] = [
    { id: 'interleave', what: 'numa=interleave: one guest node, memory interleaved over both host nodes', host: broadwell, spec: 'name=il,vcpus=4,memory=2G,numa=interleave' },
    { id: 'preferred-uneven', what: 'numa=preferred over two nodes, split unevenly (3+2 vCPUs: one socket of one-core dies)', host: broadwell, spec: 'name=pf,vcpus=5,memory=3G,numa=preferred,layout=3:2G/2:1G' },
    { id: 'tier', what: 'a CXL memory tier: a CPU-less guest node with the memory, a memory-less one with the vCPUs', host: cxl, spec: 'name=cx,vcpus=4,memory=2G,tier=cxl' },
    { id: 'devices', what: 'devices near two guest nodes (a NIC on node 0, a GPU on node 1)', host: broadwell, spec: 'name=dv,vcpus=4,memory=2G,layout=2:1G/2:1G,devices=nic:1:required+gpu:1:required' },
    {
      id: 'io',
      what: 'I/O on the GPU\'s node: 2 I/O threads, 2 virtio disks and a NIC of 4 queues each on guest node 1, queues spread 2+2 over the guest nodes',
      host: broadwell,
      spec: 'name=io,vcpus=4,memory=2G,layout=2:1G/2:1G,devices=gpu:1:required,iothreads=2,disks=2,nets=1,queues=4',
    },
  ];
  const cases: BootCase[] = [];
  /** The argv QEMU would have started for a device's own guest node, had the emitter not refused it. */
  let deviceOnly: { placement: Placement; argv: string[]; refusal: string | null } | null = null;
  const plans = new Map<string, GuestPlan<Record<string, GuestStep>>>();
  let all: Promise<void> = Promise.resolve();
  const counts = { eligible: 0, eligibleMulti: 0, placed: 0 };

  /** Each test's title and the guest it judges (known once the cases are drawn). */
  const tests: { title: string; guest: () => string | undefined }[] = [
    ...['interleave', 'preferred-uneven', 'tier', 'devices', 'io'].map((f) => ({ title: `${f}: the booted guest shows the plan`, guest: () => f })),
    { title: 'devices, through libvirt: the booted guest shows the plan', guest: () => 'devices-libvirt' },
    ...Array.from({ length: RANDOM_MULTI_NODE + RANDOM_ANY }, (_, k) => ({ title: `generated sample ${k}: the booted guest shows the plan`, guest: () => `random-${k}` })),
    { title: 'a generated sample through libvirt: the booted guest shows the plan', guest: () => cases.find((x) => x.via === 'libvirt' && x.id.startsWith('random-'))?.id },
    { title: "a device's own guest node (--device-nodes) is refused for QEMU: a booted guest does not see it", guest: () => 'device-only' },
  ];

  beforeAll(async ({}, suite) => {
    mkdirSync(dir, { recursive: true });
    EMIT.diskDir = join(dir, 'images');
    mkdirSync(EMIT.diskDir, { recursive: true });
    EMIT_LIBVIRT.diskDir = join(dir, 'images-libvirt');
    mkdirSync(EMIT_LIBVIRT.diskDir, { recursive: true });
    for (const f of fixed) cases.push(qemuCase(f.id, f.what, f.host, f.spec, placeOn(f.host, f.spec)));
    // A device's own guest node (--device-nodes): QEMU accepts the argv, the guest must not be
    // believed to see it; the emitter refuses it (see qemuLimit), and this guest shows why.
    const dn = placeOn(broadwell, 'name=dn,vcpus=4,memory=2G,devices=gpu:1:none', true);
    deviceOnly = { placement: dn, argv: startableEmittedArgv(emitQemuGuest(guestOf(dn, broadwell.topology)).argv), refusal: targetLimit(dn, broadwell.topology, 'qemu') };

    // A sample of the generated suite's accepted placements that boot here in seconds.
    const rand = seededRandom(seed ^ 0xb007ed);
    const { queue } = await generatedRequests(rand, dir);
    const eligible: { host: Host; spec: string; placement: Placement }[] = [];
    for (const q of queue) {
      let r;
      try {
        r = place(parseVmSpec(q.spec), createHostState(q.host.topology), undefined, { deviceNodes: q.deviceNodes, hints: false });
      } catch {
        continue; // the grammar's refusals are the generated suite's business
      }
      if (!r.ok) continue;
      counts.placed++;
      const p = r.placement;
      if (p.cpus.length > BOOT_MAX_VCPUS || Object.values(p.memoryByNode).reduce((a, b) => a + b, 0) > BOOT_MAX_MEMORY) continue;
      if (plannedGuest(p, q.host.topology).nodes.some((n) => n.memory > 0 && n.memory < BOOT_MIN_NODE_MEMORY)) continue;
      if (targetLimit(p, q.host.topology, 'qemu') !== null) continue;
      eligible.push({ host: q.host, spec: q.spec, placement: p });
    }
    counts.eligible = eligible.length;
    const multi = eligible.filter((e) => (e.placement.vnuma?.nodes.length ?? 1) > 1);
    counts.eligibleMulti = multi.length;
    const draw = <T>(from: T[]): T | undefined => from.splice(Math.floor(rand() * from.length), 1)[0];
    const picked: typeof eligible = [];
    for (let k = 0; k < RANDOM_MULTI_NODE && multi.length > 0; k++) picked.push(draw(multi) as (typeof eligible)[number]);
    const rest = eligible.filter((e) => !picked.includes(e));
    for (let k = 0; k < RANDOM_ANY && rest.length > 0; k++) picked.push(draw(rest) as (typeof eligible)[number]);
    picked.forEach((e, k) => cases.push(qemuCase(`random-${k}`, `generated: ${e.host.name} ${e.spec}`, e.host, e.spec, e.placement)));

    // libvirt: the domain numaplan writes, turned into QEMU's command line by libvirt's own QEMU
    // driver, for the devices reproduction and a generated sample libvirt can express (one of
    // those above when there is one, else one more draw).
    if (isRoot) {
      const libvirtCan = (e: { host: Host; placement: Placement }): boolean => targetLimit(e.placement, e.host.topology, 'libvirt') === null;
      let sample = cases.find((c) => c.id.startsWith('random-') && libvirtCan(c));
      if (!sample) {
        const e = draw(eligible.filter((x) => !picked.includes(x) && libvirtCan(x)));
        if (e) sample = qemuCase('random-libvirt', `generated: ${e.host.name} ${e.spec}`, e.host, e.spec, e.placement);
      }
      const viaLibvirt = [cases.find((c) => c.id === 'devices'), sample].filter((c): c is BootCase => c !== undefined);
      for (const [k, c] of viaLibvirt.entries()) {
        const file = join(dir, `${c.id}.xml`);
        imagesOf(c.placement, EMIT_LIBVIRT);
        writeFileSync(file, emitPlacement(c.placement, c.host.topology, 'libvirt', EMIT_LIBVIRT).text);
        const line = (await domxmlToNative(dir, c.host.topology, [file], k)).get(file) as string;
        if (line.startsWith('ERROR')) throw new Error(`libvirt's QEMU driver refused ${c.id} (${c.host.name} ${c.spec}): ${line}`);
        const argv = startableLibvirtArgv(line);
        cases.push({ ...c, id: `${c.id}-libvirt`, what: `${c.what}, through libvirt`, via: 'libvirt', emitted: argv, argv });
      }
    }
    console.log(
      `guest-emitted: ${counts.placed} generated placements, ${counts.eligible} bootable here (${counts.eligibleMulti} with several guest nodes); ${cases.length + 1} guests: ${cases.map((c) => c.id).join(', ')}, device-only`,
    );
    // Largest guests first, so that both host cores finish together.
    const order = [...cases].sort((a, b) => b.placement.cpus.length - a.placement.cpus.length);
    for (const c of order) {
      const planned = plannedGuest(c.placement, c.host.topology);
      // The virtio disk and NIC drivers, for guests that have such devices.
      const modules = c.placement.io ? { modules: ['virtio_blk', 'virtio_net'] } : {};
      plans.set(c.id, guestPlan({ name: `emit-${c.id}`.replace(/[^a-z0-9-]/g, '-'), argv: c.argv }, { view: (g: Guest) => observe(g, planned) }, modules) as GuestPlan<Record<string, GuestStep>>);
    }
    plans.set(
      'device-only',
      guestPlan({ name: 'emit-device-only', argv: deviceOnly.argv }, {
        view: async (g: Guest) => ({
          numactl: await g.runOk('numactl -H'),
          devices: await g.runOk(`bb=${GUEST_BUSYBOX}; for d in /sys/bus/pci/devices/*; do [ "$($bb cat $d/vendor):$($bb cat $d/device)" = 0x1234:0x11e8 ] && $bb cat $d/numa_node; done; true`),
        }),
      }) as GuestPlan<Record<string, GuestStep>>,
    );
    // Only the guests of the tests selected to run (vitest -t) boot.
    const selected = new Set(tests.filter((t) => suite.tasks.some((x) => x.name === t.title && x.mode === 'run')).map((t) => t.guest()));
    all = startPlans([...plans.entries()].filter(([id]) => selected.has(id)).map(([, plan]) => ({ plan })));
  }, 300_000);

  afterAll(async () => {
    await all;
    rmSync(dir, { recursive: true, force: true });
  }, 600_000);

  const judge = async (id: string): Promise<void> => {
    const c = cases.find((x) => x.id === id);
    if (!c) throw new Error(`no case ${id}`);
    const o = (await plans.get(id)?.result('view')) as Observed;
    const bad = compare(c, o);
    console.log(`guest-emitted ${id}: ${c.what}; booted in ${(o.bootMs / 1000).toFixed(1)} s from ${c.via === 'qemu' ? "numaplan's argv" : "libvirt's command line"}${bad.length === 0 ? ', as planned' : ''}`);
    expect(bad, `${c.host.name} ${c.spec}\n${c.via} argv: ${c.emitted.join(' ')}\nguest: ${o.numactl}`).toEqual([]);
  };

  for (const t of tests.filter((x) => x.guest() !== 'device-only')) {
    it(
      t.title,
      async () => {
        const id = t.guest();
        if (id === undefined || !cases.some((c) => c.id === id)) {
          throw new Error(`no guest for this test this run: ${counts.eligible} bootable generated placements, ${cases.length} cases (${cases.map((c) => c.id).join(', ')})`);
        }
        await judge(id);
      },
      600_000,
    );
  }

  it("a device's own guest node (--device-nodes) is refused for QEMU: a booted guest does not see it", async () => {
    const d = deviceOnly as NonNullable<typeof deviceOnly>;
    expect(d.refusal).toMatch(/hold only devices.*generic initiator/);
    expect(() => emitPlacement(d.placement, broadwell.topology, 'qemu')).toThrow(EmitError);
    // What QEMU 7.2 would start: guest nodes 0 (vCPUs, memory) and 1 (the GPU's), distance 21.
    expect(d.placement.vnuma?.nodes.map((n) => [n.vcpus.length, n.memory])).toEqual([[4, 2 * 1024 * MIB], [0, 0]]);
    const o = (await plans.get('device-only')?.result('view')) as { numactl: string; devices: string };
    // The guest has one node, no distance to the device's, and the device on no node.
    expect(parseNumactl(o.numactl).nodes).toEqual([0]);
    expect(o.devices.trim()).toBe('-1');
  }, 600_000);
});
