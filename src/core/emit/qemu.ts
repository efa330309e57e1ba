/**
 * QEMU command line (argv without the binary's name) for a placement, and the vCPU pinning plan
 * that QEMU cannot express on its command line (apply it over QMP: `numaplan launch qemu`).
 *
 * Shape (QEMU's -numa and memory-backend documentation):
 *   -machine q35,accel=kvm[,kernel-irqchip=split][,memory-backend=mem0]
 *                                                    (memory-backend= only without guest NUMA; split
 *                                                    irqchip when an APIC ID exceeds 254, with
 *   -device intel-iommu,intremap=on,eim=on          interrupt remapping in x2APIC mode)
 *   -cpu host                                        (with KVM, or the `cpu` option)
 *   -smp V,sockets=S,dies=D,cores=C,threads=T
 *   -m SIZE
 *   -object memory-backend-ram|memfd|file,id=memN,size=..,[hugetlb=on,hugetlbsize=..,prealloc=on|
 *           mem-path=..,prealloc=on],host-nodes=H,policy=bind|preferred|interleave
 *                                                    (one per guest node holding memory; huge pages
 *                                                    are preallocated at start, as libvirt does, so a
 *                                                    short pool fails the start, not the running guest)
 *   -numa node,nodeid=N[,memdev=memN]                (no memdev: a memory-less guest node)
 *   -numa cpu,node-id=N,socket-id=S[,die-id=D]       (sockets, or dies when the split is uneven: guest.ts)
 *   -numa dist,src=A,dst=B,val=D                     (every ordered pair A != B)
 *   -device pxb-pcie,id=pxbN,bus_nr=..,numa_node=N,bus=pcie.0   (a guest node with devices)
 *   -device pcie-root-port,id=rpK,bus=pxbN,chassis=K
 *   -device vfio-pci,host=ADDR,id=hostdevK[,bus=rpK]
 * The I/O part (io-threads.ts; QEMU's iothread, virtio-blk and virtio-net documentation):
 *   -object iothread,id=iothreadN                    (one per I/O thread)
 *   -blockdev driver=raw,node-name=diskK,file.driver=file,file.filename=DIR/NAME-diskK.img
 *   -device virtio-blk-pci,drive=diskK,id=vdiskK[,iothread=iothreadN][,num-queues=Q][,bus=rpJ]
 *   -netdev tap,id=netK,script=no,downscript=no,vhost=on|off[,queues=Q]
 *   -device virtio-net-pci,netdev=netK,id=vnetK[,mq=on,vectors=2Q+2][,bus=rpJ]
 *                                                    (a tap QEMU creates, attached to nothing: bridge
 *                                                    it, or use libvirt's network)
 * The virtio devices sit behind the expander bus of the I/O node's guest node. Where QEMU's threads
 * run is not on its command line: the pin plan carries the emulator CPUs, each I/O thread's CPUs and
 * the vhost workers' CPUs, which `numaplan launch qemu` applies over QMP (query-iothreads) and /proc.
 */
import type { Topology } from '../topology/model.js';
import { pageSizeLabel } from '../topology/sizes.js';
import { EmitError } from './errors.js';
import type { MemoryPolicy } from '../placement/types.js';
import { type Guest, deviceGuestNodes, dieOf, formatSizeSuffix, guestOf, needsX2apic, socketOf, type PlacementLike } from './guest.js';
import { type EmitOptions, diskImage, hugePageBackendOf } from './options.js';

/** Where one vCPU thread goes. */
export interface VcpuPin {
  vcpu: number;
  /** The placement's CPU of this vCPU. */
  hostCpu: number;
  /** Where the thread may run: [hostCpu] for a dedicated VM, the vCPU's set for a shared one. */
  hostCpus: number[];
}

/** What `launch` applies after QEMU starts. */
export interface PinPlan {
  vcpus: VcpuPin[];
  /** Host CPUs for QEMU's other threads (main loop, I/O). */
  emulatorCpus: number[];
  /** Each I/O thread (QEMU object id, e.g. "iothread1") and its host CPUs; absent without I/O threads. */
  iothreads?: { id: string; cpus: number[] }[];
  /** Host CPUs of the vhost-net workers of the virtio NICs; absent without vhost. */
  vhostCpus?: number[];
}

/** The QEMU emitter's result. */
export interface QemuConfig {
  argv: string[];
  pins: PinPlan;
}

/** First bus number of the first expander bridge; each next one starts 16 buses higher. */
const PXB_FIRST_BUS = 0x80;
const PXB_BUS_STEP = 0x10;

/**
 * vCPUs the q35 machine takes: 288 in QEMU 7.2 (Debian 12's; QEMU 8.0 raised it to 1024). libvirt
 * drives the same QEMU, so the limit is libvirt's too.
 */
export const QEMU_Q35_MAX_CPUS = 288;

/**
 * Why QEMU cannot give the guest what was planned, or null.
 *
 * A guest node with neither vCPUs nor memory (a device's own node, `--device-nodes`) starts, but the
 * guest never sees it: QEMU 7.2 writes SRAT entries only for vCPUs and memory, so the node's
 * proximity domain appears only in the expander bridge's _PXM and the SLIT, and Linux creates no
 * node for it (the device's numa_node is -1, the SLIT row is dropped). ACPI's answer is a Generic
 * Initiator affinity entry, which QEMU writes from 9.0 on (`-object acpi-generic-initiator`).
 * Observed by booting Debian 12's kernel with the emitted argv (test/guest-emitted.test.ts).
 */
export function qemuLimit(g: Guest): string | null {
  if (g.vcpus > QEMU_Q35_MAX_CPUS) return `QEMU's q35 machine takes at most ${QEMU_Q35_MAX_CPUS} vCPUs (QEMU 7.2); the placement has ${g.vcpus}`;
  const deviceOnly = g.numa ? g.cells.filter((c) => c.vcpus.length === 0 && c.memory === 0) : [];
  if (deviceOnly.length > 0) {
    return `guest node(s) ${deviceOnly.map((c) => c.id).join(',')} hold only devices; QEMU 7.2 describes a node to the guest only through its vCPUs and memory (a device-only node needs an ACPI generic initiator, QEMU 9.0's acpi-generic-initiator), so the guest would not see it: emit cloud-hypervisor instead, or place without --device-nodes`;
  }
  return null;
}

/** QEMU argv and pinning plan of a placement on a host. Throws EmitError (ERR_TARGET) for what QEMU cannot start. */
export function emitQemu(placement: PlacementLike, topology: Topology, options: EmitOptions = {}): QemuConfig {
  const g = guestOf(placement, topology);
  const why = qemuLimit(g);
  if (why) throw new EmitError('placement', why, 'ERR_TARGET');
  return emitQemuGuest(g, options);
}

/** The same, from an already-built guest. */
export function emitQemuGuest(g: Guest, options: EmitOptions = {}): QemuConfig {
  const bind = options.hostBinding !== false;
  const machine = options.machine ?? 'q35';
  const accel = options.accel ?? 'kvm';
  const t = g.topology;
  const argv: string[] = [];
  const x2apic = needsX2apic(g);
  argv.push('-machine', `${machine},accel=${accel}${x2apic ? ',kernel-irqchip=split' : ''}${g.numa ? '' : ',memory-backend=mem0'}`);
  const cpu = options.cpu ?? (accel === 'kvm' ? 'host' : undefined);
  if (cpu !== undefined) argv.push('-cpu', cpu);
  argv.push('-smp', `${g.vcpus},sockets=${t.sockets},${t.dies > 1 ? `dies=${t.dies},` : ''}cores=${t.cores},threads=${t.threads}`);
  argv.push('-m', formatSizeSuffix(g.memory));
  const backends = g.numa
    ? g.cells.filter((c) => c.memory > 0).map((c) => ({ id: `mem${c.id}`, size: c.memory, nodes: [c.hostNode] }))
    : [{ id: 'mem0', size: g.memory, nodes: g.memoryNodes }];
  for (const b of backends) argv.push('-object', backend(b.id, b.size, b.nodes, g.pageSize, bind, g.memoryPolicy, options));
  if (g.numa) {
    for (const c of g.cells) argv.push('-numa', c.memory > 0 ? `node,nodeid=${c.id},memdev=mem${c.id}` : `node,nodeid=${c.id}`);
    for (const c of g.cells) {
      const units = [...new Set(c.vcpus.map((v) => (t.dies > 1 ? `socket-id=${socketOf(t, v)},die-id=${dieOf(t, v)}` : `socket-id=${socketOf(t, v)}`)))];
      for (const u of units) argv.push('-numa', `cpu,node-id=${c.id},${u}`);
    }
    for (const a of g.cells) {
      for (const b of g.cells) {
        if (a.id === b.id) continue;
        argv.push('-numa', `dist,src=${a.id},dst=${b.id},val=${g.distances[a.id]?.[b.id] ?? 10}`);
      }
    }
  }
  for (const t of g.io?.iothreads ?? []) argv.push('-object', `iothread,id=iothread${t.id}`);
  // APIC IDs above 254 need x2APIC with interrupt remapping in extended mode; the IOMMU comes first.
  if (x2apic) argv.push('-device', 'intel-iommu,intremap=on,eim=on');
  argv.push(...deviceArgs(g, machine, options));
  const pins: PinPlan = { vcpus: g.pins.map((hostCpu, vcpu) => ({ vcpu, hostCpu, hostCpus: [...(g.pinSets[vcpu] ?? [hostCpu])] })), emulatorCpus: [...g.emulatorCpus] };
  if (g.io && g.io.iothreads.length > 0) pins.iothreads = g.io.iothreads.map((t) => ({ id: `iothread${t.id}`, cpus: [...t.cpus] }));
  if (g.io?.devices.some((d) => d.kind === 'net' && d.vhost)) pins.vhostCpus = [...g.io.cpus];
  return { argv, pins };
}

/** QEMU's memory-backend policy of each memory policy. */
const QEMU_POLICY = { bind: 'bind', preferred: 'preferred', interleave: 'interleave' } as const;

function backend(id: string, size: number, nodes: readonly number[], pageSize: number, bind: boolean, policy: MemoryPolicy, o: EmitOptions): string {
  const parts: string[] = [];
  if (pageSize <= 4096) {
    parts.push('memory-backend-ram', `id=${id}`, `size=${formatSizeSuffix(size)}`);
  } else if (o.hugetlb === false) {
    parts.push('memory-backend-memfd', `id=${id}`, `size=${formatSizeSuffix(size)}`);
  } else if (hugePageBackendOf(o) === 'memfd') {
    parts.push('memory-backend-memfd', `id=${id}`, `size=${formatSizeSuffix(size)}`, 'hugetlb=on', `hugetlbsize=${pageSizeLabel(pageSize)}`, 'prealloc=on');
  } else {
    const path = o.hugetlbfsPath;
    if (path === undefined) throw new EmitError('hugetlbfsPath', `the file backend needs the hugetlbfs mount of ${pageSizeLabel(pageSize)} pages (or use the memfd backend)`);
    parts.push('memory-backend-file', `id=${id}`, `size=${formatSizeSuffix(size)}`, `mem-path=${path}`, 'prealloc=on');
  }
  if (bind) {
    for (const n of nodes) parts.push(`host-nodes=${n}`);
    parts.push(`policy=${QEMU_POLICY[policy]}`);
  }
  if (o.reserve === false) parts.push('reserve=off');
  return parts.join(',');
}

function deviceArgs(g: Guest, machine: string, o: EmitOptions): string[] {
  const args: string[] = [];
  const model = (address: string): string => (o.deviceStandIn ? o.deviceStandIn : `vfio-pci,host=${address}`);
  const nearNodes = deviceGuestNodes(g);
  if (nearNodes.length > 0 && !/q35/.test(machine)) {
    throw new EmitError('machine', `devices near guest NUMA nodes need a PCI Express machine (q35); got "${machine}"`);
  }
  nearNodes.forEach((node, i) => {
    args.push('-device', `pxb-pcie,id=pxb${node},bus_nr=${PXB_FIRST_BUS + PXB_BUS_STEP * i},numa_node=${node},bus=pcie.0`);
  });
  g.devices.forEach((d, k) => {
    if (d.guestNode === null) {
      args.push('-device', `${model(d.address)},id=hostdev${k}`);
    } else {
      args.push('-device', `pcie-root-port,id=rp${k},bus=pxb${d.guestNode},chassis=${k + 1}`);
      args.push('-device', `${model(d.address)},id=hostdev${k},bus=rp${k}`);
    }
  });
  // The virtio devices, behind root ports of the I/O node's expander bus (numbered after the host devices').
  const io = g.io;
  if (io) {
    io.devices.forEach((d, j) => {
      const k = g.devices.length + j;
      let bus = '';
      if (io.guestNode !== null) {
        args.push('-device', `pcie-root-port,id=rp${k},bus=pxb${io.guestNode},chassis=${k + 1}`);
        bus = `,bus=rp${k}`;
      }
      const q = d.queues;
      if (d.kind === 'disk') {
        args.push('-blockdev', `driver=raw,node-name=disk${d.index},file.driver=file,file.filename=${diskImage(o, 'qemu', g.name, d.index).replace(/,/g, ',,')}`);
        args.push('-device', `virtio-blk-pci,drive=disk${d.index},id=vdisk${d.index}${d.iothread !== null ? `,iothread=iothread${d.iothread}` : ''}${q !== null ? `,num-queues=${q}` : ''}${bus}`);
      } else {
        args.push('-netdev', `tap,id=net${d.index},script=no,downscript=no,vhost=${d.vhost ? 'on' : 'off'}${q !== null ? `,queues=${q}` : ''}`);
        // virtio-net needs a vector per queue of each pair, plus the configuration and control queues.
        args.push('-device', `virtio-net-pci,netdev=net${d.index},id=vnet${d.index}${q !== null && q > 1 ? `,mq=on,vectors=${2 * q + 2}` : ''}${bus}`);
      }
    });
  }
  return args;
}
