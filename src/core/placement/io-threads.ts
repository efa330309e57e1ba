/**
 * The I/O part of a placement: where the emulator thread, the QEMU I/O threads and the vhost-net
 * workers run, which guest node the virtio disks and NICs sit on, and how each multi-queue device's
 * queues spread over the guest nodes. One pure function, `planIo`, called once by the shared
 * machinery after the vCPUs and devices are chosen; it returns the plan, or the reason it cannot be
 * made (a refusal of the placement).
 *
 * The rules (documented defaults of the product):
 * - **The node the I/O is served from** is the node of the devices the threads serve: the host node
 *   holding most of the VM's host devices (ties: more of the VM's vCPUs there, then the lower id);
 *   a VM without host devices serves its I/O from the node of most of its vCPUs (the first such part).
 *   Its virtio disks and NICs are attached to the guest node of that host node (behind a PCIe
 *   expander bus, as host devices are), so the guest sees them where their threads run.
 * - **CPUs** (`iocpus=`):
 *   - `share` (default): the VM's own vCPU pCPUs on that node; nothing more is taken. A VM with no
 *     vCPU there uses its nearest node (and the explanation says how far, and that `iocpus=N`
 *     would put the threads on the device's node itself).
 *   - `N`: N pCPUs of their own on that node, held for the VM like reserved emulator pCPUs: completely
 *     free (not the host reserve, no other tenant), never an SMT sibling of the VM's vCPUs, and
 *     PUs of wholly free cores first, one per core before the cores' second threads. Too few is a refusal (`io-cpus`).
 *   - `siblings`: the sibling threads of the VM's vCPU cores on that node that are free or held idle
 *     for the VM (smt=isolate), one per I/O thread at most; none is a refusal.
 * - **Threads**: the emulator thread runs on the reserved emulator pCPUs when the request has them
 *   (`emulator=N`; reserved on another node, they move to the I/O node when it has as many free CPUs
 *   that are not siblings of the VM's vCPUs, else they stay and the explanation says so), else on
 *   the I/O CPUs. With dedicated I/O CPUs at least as many as I/O threads,
 *   I/O thread i runs on CPU i of them; otherwise every I/O thread floats over the whole set. Disk k is
 *   served by I/O thread (k mod iothreads) + 1, or by the main loop (the emulator thread) without
 *   I/O threads. Each virtio NIC's vhost-net workers (vhost=on) run on the I/O CPUs; with vhost=off
 *   its queues run in the hypervisor's own threads, with the emulator thread.
 * - **Queues**: a device's queues (queue pairs for a NIC) are spread over the guest's CPU nodes in
 *   proportion to their vCPUs (largest remainder, lower guest node first on ties), which is how the
 *   guest kernel spreads the managed interrupt vectors of a multi-queue virtio device over its nodes
 *   (irq_create_affinity_masks: vectors per node in proportion to the node's CPUs); fewer queues than
 *   guest nodes leave nodes without a queue of their own, and the explanation says so.
 */
import { formatCpuList } from '../topology/cpulist.js';
import type { RequestIo } from './request.js';

/** What the plan needs of the request: its I/O part with defaults (`ioOf`). */
export type IoRequest = RequestIo;

/** Everything `planIo` reads: the decision made so far, and the host's free CPUs. */
export interface IoInput {
  request: IoRequest;
  /** vCPU parts in vCPU order: host node and the host CPU of each of its vCPUs. */
  parts: readonly { node: number; cpus: readonly number[] }[];
  /** Reserved emulator pCPUs (`emulator=N`) already chosen, with no I/O role yet. */
  emulatorCpus: readonly number[];
  /** CPUs held idle for the VM (isolated siblings). */
  heldCpus: readonly number[];
  /** The VM's host devices and their nodes. */
  devices: readonly { address: string; node: number | null }[];
  /** Completely free PUs of a node (no tenant, not the reserve, not held), in topology order, before this VM. */
  freeCpus(node: number): readonly number[];
  /** The PUs of a CPU's core (itself included). */
  coreOf(cpu: number): readonly number[];
  /** Whether every PU of a CPU's core is free (before this VM). */
  wholeCoreFree(cpu: number): boolean;
  /** The node of a CPU. */
  nodeOf(cpu: number): number | null;
  distance(a: number, b: number): number;
}

/** One I/O thread of the plan. */
export interface IoThreadPlan {
  /** 1-based, as QEMU's `iothreadN` and libvirt's `iothread='N'`. */
  id: number;
  cpus: number[];
  /** Indexes of the disks it serves. */
  disks: number[];
}

/** One virtio device of the plan. */
export interface VirtioDevicePlan {
  kind: 'disk' | 'net';
  /** Index among the devices of its kind (disk0, net0...). */
  index: number;
  /** Queues of a disk, queue pairs of a NIC; null: the hypervisor's default (one). */
  queues: number | null;
  /** A disk's I/O thread id, or null (the main loop). Always null for a NIC. */
  iothread: number | null;
  /** A NIC served by vhost-net workers. */
  vhost: boolean;
  /** The guest CPU node (index into the VM's parts) of each queue, in queue order. */
  queueNodes: number[];
}

/** The I/O plan of a placement. */
export interface IoPlan {
  /** The host node the I/O is served from (see the module comment). */
  node: number;
  /** The node of the devices served, when it differs from `node` (iocpus=share without a vCPU there). */
  deviceNode: number | null;
  /** Why this node, for the explanation. */
  why: string;
  /** Where the I/O threads' CPUs come from. */
  source: 'vcpus' | 'dedicated' | 'siblings';
  /** The I/O CPUs: iothreads and vhost workers run here (and the emulator thread, without emulator=N). */
  cpus: number[];
  /** Where the emulator thread runs. */
  emulatorCpus: number[];
  iothreads: IoThreadPlan[];
  devices: VirtioDevicePlan[];
  /** CPUs taken for the VM by this plan (dedicated I/O CPUs, free siblings), to hold with the VM's emulator pCPUs. */
  taken: number[];
  /** Reserved emulator pCPUs the plan moved to the I/O node: the new ones are in `emulatorCpus`, these are given back. */
  released: number[];
  /** Sentences for the explanation. */
  notes: string[];
}

/** Why no plan could be made: a refusal reason's fields. */
export interface IoRefusal {
  ok: false;
  resource: 'io-cpus';
  node: number;
  need: number;
  have: number;
  detail: string;
}

/** True when a request has an I/O part (`planIo` returns a plan for it). */
export function hasIo(r: IoRequest): boolean {
  return r.iothreads > 0 || r.disks > 0 || r.nets > 0;
}

const byNum = (a: number, b: number): number => a - b;

/**
 * Spreads `queues` over parts in proportion to their vCPUs (largest remainder, lower index first on
 * ties), as the guest kernel spreads a device's vectors over its nodes; returns the part of each queue.
 */
export function spreadQueues(queues: number, vcpusPerPart: readonly number[]): number[] {
  const total = vcpusPerPart.reduce((s, v) => s + v, 0);
  if (total === 0 || vcpusPerPart.length === 0) return new Array<number>(queues).fill(0);
  const share = vcpusPerPart.map((v) => Math.floor((queues * v) / total));
  let left = queues - share.reduce((s, x) => s + x, 0);
  const order = vcpusPerPart
    .map((v, i) => ({ i, rem: (queues * v) % total }))
    .sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    share[i] = (share[i] as number) + 1;
    left--;
  }
  const out: number[] = [];
  share.forEach((n, i) => {
    for (let k = 0; k < n; k++) out.push(i);
  });
  return out;
}

/** The I/O plan of a decision, null for a request without an I/O part, or the reason it cannot be made. */
export function planIo(input: IoInput): { ok: true; plan: IoPlan | null } | IoRefusal {
  const r = input.request;
  if (!hasIo(r)) return { ok: true, plan: null };
  const vcpuNodes = input.parts.map((p) => p.node);
  const vcpusOn = (node: number): number => input.parts.filter((p) => p.node === node).reduce((s, p) => s + p.cpus.length, 0);

  // The node of the devices served.
  const count = new Map<number, string[]>();
  for (const d of input.devices) if (d.node !== null) count.set(d.node, [...(count.get(d.node) ?? []), d.address]);
  let target: number;
  let why: string;
  if (count.size > 0) {
    target = [...count.keys()].sort((a, b) => (count.get(b)?.length ?? 0) - (count.get(a)?.length ?? 0) || vcpusOn(b) - vcpusOn(a) || a - b)[0] as number;
    const list = count.get(target) ?? [];
    why = `the node of device${list.length > 1 ? 's' : ''} ${list.join(', ')}`;
  } else {
    let best = 0;
    input.parts.forEach((p, i) => {
      if (p.cpus.length > (input.parts[best]?.cpus.length ?? 0)) best = i;
    });
    target = input.parts[best]?.node ?? (vcpuNodes[0] as number);
    why = input.parts.length > 1 ? 'the node of most of its vCPUs (it has no host devices)' : 'its node (it has no host devices)';
  }

  const notes: string[] = [];
  const mine = new Set<number>(input.parts.flatMap((p) => p.cpus));
  const vcpuCores = new Set<number>();
  for (const c of mine) for (const s of input.coreOf(c)) vcpuCores.add(s);
  const threads = r.iothreads + (r.vhost === 'on' ? r.nets : 0) + (input.emulatorCpus.length > 0 ? 0 : 1);
  const held = new Set(input.heldCpus);
  /**
   * Free CPUs of a node for threads of their own: not the VM's, not siblings of its vCPUs; wholly free
   * cores first, one thread per core before the cores' second threads.
   */
  const ownCandidates = (n: number, exclude: ReadonlySet<number>): number[] =>
    input
      .freeCpus(n)
      .filter((c) => !mine.has(c) && !exclude.has(c) && !vcpuCores.has(c) && !held.has(c))
      .map((c, i) => ({ c, i, whole: input.wholeCoreFree(c) ? 0 : 1, thread: input.coreOf(c).indexOf(c) }))
      .sort((a, b) => a.whole - b.whole || a.thread - b.thread || a.i - b.i)
      .map((x) => x.c);
  let node = target;
  let deviceNode: number | null = null;
  let source: IoPlan['source'];
  let cpus: number[];
  let taken: number[] = [];
  if (r.iocpus === 'share' || r.iocpus === 'siblings') {
    if (!vcpuNodes.includes(target)) {
      node = [...new Set(vcpuNodes)].sort((a, b) => input.distance(target, a) - input.distance(target, b) || vcpusOn(b) - vcpusOn(a) || a - b)[0] as number;
      deviceNode = target;
      notes.push(
        `the VM has no vCPU on node ${target}: its I/O threads run on node ${node}, its nearest node (distance ${input.distance(target, node)})${r.iocpus === 'share' ? `; iocpus=N would give them CPUs of their own on node ${target}` : ''}`,
      );
    }
    const onNode = input.parts.filter((p) => p.node === node).flatMap((p) => p.cpus);
    if (r.iocpus === 'share') {
      source = 'vcpus';
      cpus = [...new Set(onNode)].sort(byNum);
    } else {
      source = 'siblings';
      const free = new Set(input.freeCpus(node));
      const sibs: number[] = [];
      for (const c of onNode) for (const s of input.coreOf(c)) if (!mine.has(s) && (free.has(s) || held.has(s)) && !sibs.includes(s)) sibs.push(s);
      if (sibs.length === 0) {
        return {
          ok: false,
          resource: 'io-cpus',
          node,
          need: 1,
          have: 0,
          detail: `iocpus=siblings: no sibling thread of the VM's vCPU cores on node ${node} is free (no SMT, or other tenants hold them)`,
        };
      }
      cpus = sibs.slice(0, Math.max(1, threads)).sort(byNum);
      taken = cpus.filter((c) => !held.has(c));
    }
  } else {
    source = 'dedicated';
    const want = r.iocpus;
    const candidates = ownCandidates(target, new Set(input.emulatorCpus));
    if (candidates.length < want) {
      return {
        ok: false,
        resource: 'io-cpus',
        node: target,
        need: want,
        have: candidates.length,
        detail: `${want} I/O pCPU(s) on node ${target} (${why}) must be free CPUs that are not SMT siblings of the VM's vCPUs; node ${target} has ${candidates.length}`,
      };
    }
    cpus = candidates.slice(0, want).sort(byNum);
    taken = [...cpus];
  }

  // Reserved emulator pCPUs on another node move to the I/O node when it has room.
  let emulatorCpus = [...input.emulatorCpus].sort(byNum);
  let released: number[] = [];
  const away = emulatorCpus.filter((c) => input.nodeOf(c) !== node);
  if (away.length > 0) {
    const room = ownCandidates(node, new Set([...input.emulatorCpus, ...taken]));
    if (room.length >= away.length) {
      const moved = room.slice(0, away.length);
      released = away;
      emulatorCpus = [...emulatorCpus.filter((c) => !away.includes(c)), ...moved].sort(byNum);
      notes.push(`reserved emulator pCPU(s) ${away.join(',')} moved to node ${node}, the I/O node: ${moved.join(',')}`);
    } else {
      notes.push(`the reserved emulator pCPU(s) ${away.join(',')} stay off node ${node}, the I/O node: it has ${room.length} free CPU(s) that are not siblings of the VM's vCPUs`);
    }
  }

  const own = source !== 'vcpus' && cpus.length >= r.iothreads && r.iothreads > 1;
  const iothreads: IoThreadPlan[] = Array.from({ length: r.iothreads }, (_, k) => ({ id: k + 1, cpus: own ? [cpus[k] as number] : [...cpus], disks: [] }));
  const vcpusPerPart = input.parts.map((p) => p.cpus.length);
  const devices: VirtioDevicePlan[] = [];
  const queues = r.queues ?? null;
  for (let k = 0; k < r.disks; k++) {
    const t = r.iothreads > 0 ? (k % r.iothreads) + 1 : null;
    if (t !== null) iothreads[t - 1]?.disks.push(k);
    devices.push({ kind: 'disk', index: k, queues, iothread: t, vhost: false, queueNodes: spreadQueues(queues ?? 1, vcpusPerPart) });
  }
  for (let k = 0; k < r.nets; k++) {
    devices.push({ kind: 'net', index: k, queues, iothread: null, vhost: r.vhost === 'on', queueNodes: spreadQueues(queues ?? 1, vcpusPerPart) });
  }
  if (emulatorCpus.length === 0) emulatorCpus = [...cpus];
  if (r.iothreads > 0 && r.disks === 0) notes.push(`${r.iothreads} I/O thread(s) and no virtio disk: the threads wait for hot-plugged disks`);
  return { ok: true, plan: { node, deviceNode, why, source, cpus, emulatorCpus, iothreads, devices, taken, released, notes } };
}

/**
 * The plan for a guest that sees one NUMA node (no vNUMA: a one-node VM, interleaved memory): every
 * queue on guest node 0.
 */
export function withOneGuestNode(plan: IoPlan): IoPlan {
  return { ...plan, devices: plan.devices.map((d) => ({ ...d, queueNodes: d.queueNodes.map(() => 0) })) };
}

/** One sentence of the plan for the explanation; `guestNodes`: the guest's CPU nodes. */
export function describeIo(plan: IoPlan, guestNodes = 1): string {
  const what: string[] = [];
  if (plan.iothreads.length > 0) what.push(`${plan.iothreads.length} I/O thread${plan.iothreads.length > 1 ? 's' : ''}`);
  const vhost = plan.devices.filter((d) => d.kind === 'net' && d.vhost).length;
  if (vhost > 0) what.push(`the vhost-net workers of ${vhost} NIC${vhost > 1 ? 's' : ''}`);
  const emulatorHere = plan.emulatorCpus.join(',') === plan.cpus.join(',');
  if (emulatorHere) what.unshift('the emulator thread');
  const cpus = formatCpuList(plan.cpus);
  const source = plan.source === 'vcpus' ? "the VM's vCPU pCPUs" : plan.source === 'dedicated' ? 'pCPUs of their own' : "free sibling threads of the VM's vCPU cores";
  const list = what.length === 0 ? 'I/O' : what.length === 1 ? what[0] : `${what.slice(0, -1).join(', ')} and ${what[what.length - 1]}`;
  const first = `${list} on node ${plan.node} (${plan.deviceNode === null ? plan.why : `nearest to node ${plan.deviceNode}, ${plan.why}`}), CPUs ${cpus}: ${source}`;
  const extra = emulatorHere ? '' : `; the emulator thread on its reserved pCPUs ${formatCpuList(plan.emulatorCpus)}`;
  const disks = plan.devices.filter((d) => d.kind === 'disk');
  const nets = plan.devices.filter((d) => d.kind === 'net');
  const parts: string[] = [];
  if (disks.length > 0) parts.push(`${disks.length} virtio disk${disks.length > 1 ? 's' : ''}`);
  if (nets.length > 0) parts.push(`${nets.length} virtio NIC${nets.length > 1 ? 's' : ''}${nets[0]?.vhost ? ' (vhost-net)' : ''}`);
  const q = plan.devices[0];
  const queueText = q && q.queues !== null ? `, ${q.queues} queue${q.queues > 1 ? 's' : ''} each spread over guest nodes ${queueSpread(q.queueNodes)}` : '';
  const devText = parts.length > 0 ? `; ${parts.join(' and ')} on the guest node of host node ${plan.node}${queueText}` : '';
  const missing = q && q.queues !== null ? [...Array(guestNodes).keys()].filter((g) => !q.queueNodes.includes(g)) : [];
  const few = missing.length > 0 ? `; with ${q?.queues} queue(s) per device over ${guestNodes} guest nodes, guest node(s) ${missing.join(',')} have no queue of their own` : '';
  return `${first}${extra}${devText}${few}`;
}

/** "0:2 1:2": queues per guest node. */
export function queueSpread(queueNodes: readonly number[]): string {
  const m = new Map<number, number>();
  for (const g of queueNodes) m.set(g, (m.get(g) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([g, n]) => `${g}:${n}`).join(' ');
}
