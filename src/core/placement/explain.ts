/**
 * A decision made into the placement the caller reports: concrete CPUs and devices (from the
 * assignment), the guest topology (vNUMA), the cost prediction and the explanation (summary, SMT and
 * page-size sentences, the chosen set's score, the alternatives and notes). Built only for the
 * decision that is reported: the fleet judges many hosts and explains one.
 */
import { type CostDevice, describeDeviceIo, measuredOf, predictCost } from '../cost/model.js';
import { LINK_CLASSES, linkRank } from '../topology/device-matrix.js';
import type { Topology } from '../topology/model.js';
import { pageSizeLabel } from '../topology/sizes.js';
import type { Assignment } from './assign.js';
import type { CpuMode, PlacementContext } from './context.js';
import type { Decision } from './decide.js';
import { describeIo, withOneGuestNode } from './io-threads.js';
import { LINK_WORDS } from './pairing.js';
import type { PlaceOptions } from './policy.js';
import type { VmRequest } from './request.js';
import type { MemoryPolicy, PlacedDevice, Placement } from './types.js';
import { buildVnuma } from './vnuma.js';

function smtText(ctx: PlacementContext, modes: readonly CpuMode[]): string {
  switch (ctx.mode) {
    case 'core':
      return 'one vCPU per physical core; sibling threads left free';
    case 'thread':
      return modes.length > 1
        ? 'no placement with one vCPU per whole core exists: vCPUs share sibling threads'
        : ctx.request.cpus
          ? 'explicit host CPUs'
          : 'vCPUs fill sibling threads (smt=prefer)';
    case 'isolate':
      return 'one vCPU per physical core; its siblings held idle so no other tenant shares the core (smt=isolate)';
    case 'fill':
      return 'whole cores only; vCPUs fill their sibling threads (smt=require)';
    case 'shared':
      return 'shared vCPUs on PUs no dedicated VM holds';
  }
}

/** The memory policy of a request under a policy: the interleave baseline interleaves whatever the request says. */
export function memoryPolicyOf(request: VmRequest, policy: string): MemoryPolicy {
  if (request.numa === 'interleave' || (policy === 'interleave' && request.numa !== 'strict' && !request.layout)) return 'interleave';
  return request.numa === 'preferred' ? 'preferred' : 'bind';
}

const round = (x: number): number => Math.round(x * 1e4) / 1e4;

function fmt(bytes: number): string {
  const g = bytes / 1024 ** 3;
  return Number.isInteger(g) ? `${g} GiB` : `${Math.round((bytes / 1024 ** 2) * 10) / 10} MiB`;
}

/** The placement of a decision (its choice with detail) and its concrete resources. */
export function buildPlacement(d: Decision, a: Assignment, options: PlaceOptions): Placement {
  const policy = d.policy.name;
  const { ctx, choice, modes, pages } = d;
  const ev = choice.evaluation;
  // The decision's request (a decision memoised for another VM of the same shape has its context's).
  const request = d.request;
  const nodes = d.nodes;
  const memoryByNode: Record<string, number> = {};
  for (const m of ev.memory) memoryByNode[String(m.node)] = m.bytes;
  const memoryPolicy = memoryPolicyOf(request, policy);
  // Interleaved memory has no locality to show the guest: it sees one node (see MemoryPolicy).
  const vnuma =
    memoryPolicy === 'interleave'
      ? null
      : buildVnuma(
          { parts: ev.parts.map((p, i) => ({ node: p.node, vcpuIndexes: a.vcpuIndexes[i] ?? [] })), memory: ev.memory, devices: a.devices, distance: ctx.distance },
          options.deviceNodes ? { deviceNodes: true } : {},
        );
  const cost = predictCost({
    distance: ctx.distance,
    vcpusByNode: new Map(ev.parts.map((p) => [p.node, p.vcpus])),
    memoryByNode: new Map(ev.memory.map((m) => [m.node, m.bytes])),
    pageSize: ctx.pageSize,
    deviceNodes: a.devices.map((x) => x.node),
    ...(vnuma ? { guestNodes: vnuma.nodes.map((g) => ({ hostNode: g.hostNode, vcpus: g.vcpus.length, memory: g.memory })) } : {}),
    interleave: memoryPolicy === 'interleave',
    measured: measuredOf(ctx.topology),
    ...(a.devices.length > 0 ? { devices: costDevices(ctx.topology, a.devices), cpuNodes: ctx.topology.nodes.filter((n) => n.cpus.length > 0).map((n) => n.id) } : {}),
  });
  const label = pageSizeLabel(ctx.pageSize);
  const pageText =
    request.pageSize !== 'auto'
      ? `${label} pages (requested)`
      : pages[0] === ctx.pageSize
        ? `${label} pages: the largest size whose pools hold the VM (pages=auto)`
        : `${label} pages: larger sizes (${pages.filter((p) => p > ctx.pageSize).map(pageSizeLabel).join(', ')}) do not fit (pages=auto)`;
  const split = ev.parts.map((p) => `${p.vcpus}`).join('+');
  const notes = [...(choice.notes ?? [])];
  if (ctx.mode === 'thread' && modes.length > 1) notes.push('sibling threads used because no whole-core placement exists (smt=auto)');
  if (request.numa === 'preferred') notes.push('numa=preferred: the memory policy lets the kernel spill to other nodes when these run short');
  if (memoryPolicy === 'interleave') notes.push('numa=interleave: memory interleaved page by page over the nodes, every access costs the average; the guest sees one NUMA node');
  if (memoryPolicy === 'interleave' && options.deviceNodes && a.devices.some((x) => !x.local && x.node !== null)) {
    notes.push('--device-nodes: not applied, an interleaved VM has one guest node, so a device cannot get a guest node of its own');
  }
  for (const x of a.devices) if (!x.local) notes.push(`device ${x.address} is on node ${x.node ?? 'unknown'}, not on the VM's nodes`);
  if (request.pairing) {
    const pairs = a.devices.filter((x) => x.kind === 'gpu' && x.pairedWith);
    const text = pairs.map((x) => `${x.address} with ${x.pairedWith?.address} (${x.pairedWith?.link}${x.pairedWith?.via ? ` via ${x.pairedWith.via}` : ''})`);
    const loosest = pairs.reduce((w, x) => Math.max(w, linkRank(x.pairedWith?.link ?? 'SELF')), 0);
    notes.push(`pairing=${request.pairing}: ${pairs.length} GPU(s) each with a NIC of its own, ${LINK_WORDS[LINK_CLASSES[loosest] ?? '?'] ?? ''} at worst: ${text.join('; ')}`);
  }
  for (const x of cost.deviceIo ?? []) notes.push(describeDeviceIo(x));
  const reserved = a.io ? a.io.emulatorCpus.filter((c) => a.emulatorCpus.includes(c) && !a.io?.taken.includes(c)) : a.emulatorCpus;
  if (reserved.length > 0) notes.push(`emulator${a.io ? '' : '/IO'} threads on their own pCPUs ${reserved.join(',')}`);
  // Queues spread over the guest's nodes: one node for a guest without vNUMA.
  const io = a.io ? (vnuma ? a.io : withOneGuestNode(a.io)) : null;
  if (io) notes.push(`I/O: ${describeIo(io, vnuma ? vnuma.nodes.filter((g) => g.vcpus.length > 0).length : 1)}`, ...io.notes);
  if (a.heldCpus.length > 0) notes.push(`held idle for this VM: CPUs ${a.heldCpus.join(',')}`);
  const summary =
    ev.parts.length === 1
      ? `${request.name}: ${request.vcpus} vCPUs and ${fmt(request.memory)} on node ${ev.parts[0]?.node}${ctx.separateMemory ? ` (memory on ${request.tier} node(s) ${ev.memory.map((m) => m.node).join(',')})` : ''}`
      : `${request.name}: ${request.vcpus} vCPUs split ${split} over nodes ${ev.parts.map((p) => p.node).join(',')} with a ${vnuma?.nodes.length ?? 0}-node vNUMA`;
  return {
    name: request.name,
    policy,
    nodes,
    cpus: a.cpus,
    heldCpus: a.heldCpus,
    emulatorCpus: a.emulatorCpus,
    memoryByNode,
    pageSize: ctx.pageSize,
    memoryPolicy,
    cpuPolicy: request.cpuPolicy,
    memory: ev.memory.map((m) => ({ node: m.node, pageSize: ctx.pageSize, bytes: m.bytes })),
    devices: a.devices,
    vnuma,
    ...(io ? { io } : {}),
    explanation: {
      policy,
      summary,
      smt: smtText(ctx, modes),
      pageSize: pageText,
      chosen: { nodes: ev.parts.map((p) => p.node).sort((x, y) => x - y), cost: round(ev.cost), score: choice.score ?? [] },
      alternatives: choice.alternatives ?? [],
      notes,
      cost,
    },
  };
}

/** The devices of a placement as the cost model reads them: address, class (a VF's is its function's), node. */
function costDevices(topology: Topology, devices: readonly PlacedDevice[]): CostDevice[] {
  const byAddress = new Map(topology.pciDevices.map((d) => [d.address, d]));
  const KIND: Record<string, string> = { gpu: 'gpu', rdma: 'rdma', 'rdma-vf': 'rdma', nic: 'nic', vf: 'nic', pci: 'other' };
  return devices.map((d) => ({
    address: d.address,
    class: byAddress.get(d.address)?.class ?? (d.physfn ? byAddress.get(d.physfn)?.class : undefined) ?? KIND[d.kind] ?? 'other',
    node: d.node,
  }));
}
