/**
 * Turning a judged node set into concrete resources: host CPUs per vCPU, held siblings, emulator
 * pCPUs, memory grants and devices. Shared by every policy; deterministic (topology order, then
 * lowest OS index / address).
 *
 * CPU choice per node, by mode:
 * - core / isolate: the first free whole cores in topology order, one vCPU on each core's first PU
 *   (isolate also holds the other siblings);
 * - fill: whole cores, vCPUs on all their threads; unused threads of the last core are held;
 * - thread: cores already partly used first (their free siblings), then whole cores, all threads of
 *   each core before the next, so whole cores stay whole for others as long as possible;
 * - shared: the PUs with the fewest shared tenants, then lowest OS index.
 * Emulator pCPUs are the last slots of the part that carries them. In shared mode they are held
 * exclusively like a dedicated VM's CPUs, so they come only from completely free PUs (no shared
 * tenant, not the reserve, not held): the node's last free PUs in topology order, taken before the
 * vCPUs pick theirs; too few is a refusal (`emulator-cpus`), never a CPU another VM uses.
 */
import type { DeviceSlot } from './capacity.js';
import { type PlacementContext, type SetEvaluation, matchingDevices } from './context.js';
import { type IoPlan, hasIo, planIo } from './io-threads.js';
import { pairDevices, pairedWishes } from './pairing.js';
import { type DeviceRequest, ioOf } from './request.js';
import { topologyIndex } from './topology-index.js';
import type { PlacedDevice } from './types.js';

/** Concrete resources of a placement. */
export interface Assignment {
  cpus: number[];
  heldCpus: number[];
  emulatorCpus: number[];
  /** vCPU indexes per part, same order as evaluation.parts. */
  vcpuIndexes: number[][];
  devices: PlacedDevice[];
  /** The I/O plan (io-threads.ts); null for a request without an I/O part. Its `taken` CPUs are in `emulatorCpus`. */
  io: IoPlan | null;
}

/** Why concrete resources could not be picked (devices ran out, or free CPUs for emulator pCPUs). */
export interface AssignFailure {
  ok: false;
  resource: string;
  node: number | null;
  need: number;
  have: number;
  detail: string;
}

/**
 * What assignment reads of a placement context: the request, the host and its capacity view, the CPU
 * mode and the distances. A caller that already knows the node set (fleet mode committing a memoised
 * judgement) passes just these instead of building a whole context.
 */
export type AssignContext = Pick<PlacementContext, 'request' | 'topology' | 'capacity' | 'mode' | 'pageSize' | 'distance'>;

let wholeMarks = new Uint8Array(256);

/** Marks the first PU of each whole core in a shared scratch array (cleared by the caller after use). */
function markWholeCores(cores: readonly (readonly number[])[]): Uint8Array {
  let max = 0;
  for (const core of cores) max = Math.max(max, core[0] as number);
  if (max >= wholeMarks.length) wholeMarks = new Uint8Array(Math.max(max + 1, wholeMarks.length * 2));
  for (const core of cores) wholeMarks[core[0] as number] = 1;
  return wholeMarks;
}

/** Picks concrete CPUs and devices for an evaluated (ok) node set; a failure names the resource short. */
export function assign(ctx: AssignContext, ev: SetEvaluation): { ok: true; assignment: Assignment } | AssignFailure {
  const cpus: number[] = [];
  const held: number[] = [];
  const emulatorCpus: number[] = [];
  const vcpuIndexes: number[][] = [];
  for (const part of ev.parts) {
    const node = ctx.capacity.byId.get(part.node);
    if (!node) throw new Error(`no capacity for node ${part.node}`);
    const want = part.vcpus + part.emulator;
    const picked: number[] = [];
    let emulatorPicked: number[] | null = null;
    switch (ctx.mode) {
      case 'core':
      case 'isolate':
        for (const core of node.wholeCores.slice(0, want)) {
          picked.push(core[0] as number);
          if (ctx.mode === 'isolate') held.push(...core.slice(1));
        }
        break;
      case 'fill': {
        for (const core of node.wholeCores) {
          if (picked.length >= want) break;
          for (const pu of core) {
            if (picked.length < want) picked.push(pu);
            else held.push(pu);
          }
        }
        break;
      }
      case 'thread': {
        // Runs of free PUs of one core, in freePus order: partly used cores' runs first, then whole cores'.
        const coreOf = topologyIndex(ctx.topology).puCore;
        const whole = markWholeCores(node.wholeCores);
        for (let pass = 0; pass < 2 && picked.length < want; pass++) {
          let lastCore = -1;
          let take = false;
          let first = true;
          for (const pu of node.freePus) {
            const c = coreOf.get(pu) ?? -1;
            if (first || c !== lastCore) take = (whole[pu] === 1) === (pass === 1); // a run starts: its first PU says whole or not
            first = false;
            lastCore = c;
            if (take && picked.length < want) picked.push(pu);
          }
        }
        for (const core of node.wholeCores) whole[core[0] as number] = 0;
        break;
      }
      case 'shared': {
        if (part.emulator > 0) {
          const free = node.freePus;
          if (free.length < part.emulator) {
            return {
              ok: false,
              resource: 'emulator-cpus',
              node: part.node,
              need: part.emulator,
              have: free.length,
              detail: `reserved emulator pCPUs must be completely free CPUs; node ${part.node} has ${free.length}`,
            };
          }
          emulatorPicked = free.slice(free.length - part.emulator);
        }
        const taken = new Set(emulatorPicked ?? []);
        const order = node.sharedPus.filter((s) => !taken.has(s.cpu)).sort((a, b) => a.tenants - b.tenants || a.cpu - b.cpu);
        for (const s of order.slice(0, part.vcpus)) picked.push(s.cpu);
        if (emulatorPicked) picked.push(...emulatorPicked);
        break;
      }
    }
    if (picked.length < want) throw new Error(`internal: node ${part.node} had ${picked.length} of ${want} CPUs`);
    const vcpuCpus = picked.slice(0, part.vcpus);
    emulatorCpus.push(...picked.slice(part.vcpus));
    vcpuIndexes.push(vcpuCpus.map((_, i) => cpus.length + i));
    cpus.push(...vcpuCpus);
  }

  const dev = assignDevices(ctx, ev.parts);
  if (!dev.ok) return { ...dev, node: null, detail: dev.detail ?? 'not enough free devices of this kind' };
  return withIo(ctx, ev.parts, { cpus, heldCpus: held.sort((a, b) => a - b), emulatorCpus, vcpuIndexes, devices: dev.devices, io: null });
}

/**
 * Completes an assignment with its I/O plan (io-threads.ts): the one place the shared machinery
 * plans I/O, for chosen node sets and explicit CPUs alike. CPUs the plan takes join the VM's
 * emulator pCPUs (held exclusively with the VM).
 */
export function withIo(
  ctx: AssignContext,
  parts: readonly { node: number }[],
  a: Assignment,
): { ok: true; assignment: Assignment } | AssignFailure {
  const r = ioOf(ctx.request);
  if (!hasIo(r)) return { ok: true, assignment: a };
  const topo = ctx.topology;
  const tix = topologyIndex(topo);
  const coreOfCpu = (c: number): readonly number[] => {
    const core = topo.cores[tix.puCore.get(c) ?? -1];
    return core ? core.pus : [c];
  };
  let whole: Set<number> | null = null;
  const io = planIo({
    request: r,
    parts: parts.map((p, i) => ({ node: p.node, cpus: (a.vcpuIndexes[i] ?? []).map((v) => a.cpus[v] as number) })),
    emulatorCpus: a.emulatorCpus,
    heldCpus: a.heldCpus,
    devices: a.devices,
    freeCpus: (node) => ctx.capacity.byId.get(node)?.freePus ?? [],
    coreOf: coreOfCpu,
    wholeCoreFree: (c) => {
      if (!whole) {
        whole = new Set<number>();
        for (const n of ctx.capacity.nodes) for (const core of n.wholeCores) for (const pu of core) whole.add(pu);
      }
      return whole.has(c);
    },
    nodeOf: (c) => topo.pus.find((p) => p.os === c)?.node ?? null,
    distance: ctx.distance,
  });
  if (!io.ok) return io;
  const plan = io.plan;
  if (!plan) return { ok: true, assignment: a };
  // The VM holds its reserved emulator pCPUs (wherever the plan put them) and the CPUs the plan took.
  const taken = plan.taken.filter((c) => !a.heldCpus.includes(c));
  const reserved = a.emulatorCpus.length > 0 ? plan.emulatorCpus : [];
  return { ok: true, assignment: { ...a, emulatorCpus: [...new Set([...reserved, ...taken])], io: plan } };
}

/** Picks devices for vCPU parts: local first (node running the most vCPUs first), then nearest, then address. */
export function assignDevices(
  ctx: AssignContext,
  parts: readonly { node: number; vcpus: number }[],
): { ok: true; devices: PlacedDevice[] } | { ok: false; resource: string; need: number; have: number; detail?: string } {
  if (ctx.request.devices.length === 0) return { ok: true, devices: [] };
  const ev = { parts };
  const cpuNodes = new Set(ev.parts.map((p) => p.node));
  const weight = new Map(ev.parts.map((p) => [p.node, p.vcpus]));
  const nearest = (d: DeviceSlot): number =>
    d.node === null ? Number.POSITIVE_INFINITY : Math.min(...ev.parts.map((p) => ctx.distance(p.node, d.node as number)));
  const used = new Set<string>();
  const devices: PlacedDevice[] = [];
  const candidatesFor = (req: DeviceRequest): DeviceSlot[] =>
    matchingDevices(ctx.capacity, req)
      .filter((d) => !used.has(d.address) && !(d.physfn !== null && used.has(d.physfn)) && !d.vfs.some((v) => used.has(v)))
      .filter((d) => req.locality !== 'required' || (d.node !== null && cpuNodes.has(d.node)))
      .map((d) => ({
        d,
        local: d.node !== null && cpuNodes.has(d.node) ? 0 : 1,
        w: d.node === null ? 0 : -(weight.get(d.node) ?? 0),
        dist: nearest(d),
        plain: req.kind === 'nic' && d.rdma ? 1 : 0,
      }))
      .sort((a, b) => a.local - b.local || a.w - b.w || a.dist - b.dist || a.plain - b.plain || (a.d.address < b.d.address ? -1 : 1))
      .map((c) => c.d);
  const place = (d: DeviceSlot, kind: DeviceRequest['kind'], pairedWith?: PlacedDevice['pairedWith']): void => {
    used.add(d.address);
    devices.push({ address: d.address, kind, node: d.node, local: d.node !== null && cpuNodes.has(d.node), physfn: d.physfn, ...(pairedWith ? { pairedWith } : {}) });
  };
  const wishes = ctx.request.pairing ? pairedWishes(ctx.request) : null;
  for (const [i, req] of ctx.request.devices.entries()) {
    if (wishes && i === wishes.nic) continue; // placed with the GPUs
    if (wishes && ctx.request.pairing && i === wishes.gpu) {
      const nicReq = ctx.request.devices[wishes.nic] as DeviceRequest;
      const gpus = candidatesFor(req);
      const nics = candidatesFor(nicReq);
      const r = pairDevices(ctx.topology, ctx.request.pairing, req.count, gpus, nics, nicReq.kind);
      if (!r.ok) return { ok: false, resource: `device-pairs:${ctx.request.pairing}`, need: req.count, have: r.have, detail: r.detail };
      const slot = new Map([...gpus, ...nics].map((d) => [d.address, d]));
      for (const p of r.pairs) {
        place(slot.get(p.gpu) as DeviceSlot, req.kind, { address: p.nic, link: p.link, via: p.via });
        place(slot.get(p.nic) as DeviceSlot, nicReq.kind, { address: p.gpu, link: p.link, via: p.via });
      }
      continue;
    }
    const candidates = candidatesFor(req);
    if (candidates.length < req.count) {
      return { ok: false, resource: req.kind === 'pci' ? `device:${req.address}` : `device:${req.kind}`, need: req.count, have: candidates.length };
    }
    for (const d of candidates.slice(0, req.count)) place(d, req.kind);
  }
  return { ok: true, devices };
}
