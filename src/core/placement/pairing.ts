/**
 * Gang placement for AI hosts: `devices=gpu:N+rdma:N,pairing=switch` gives the VM N GPUs, each with
 * a NIC of its own as close to it on the PCI tree as the request allows, the way training jobs pair a
 * GPU with the NIC that moves its data (GPUDirect RDMA goes through the switch they share).
 *
 * `pairing` names the loosest acceptable link (device-matrix.ts classes): `switch` (PIX: behind one
 * PCIe switch), `root-port` (PIX or PXB: below one root port), `host-bridge` (up to PHB), `node` (up
 * to NODE: the same NUMA node). Closer links are always preferred: pairs are made level by level,
 * the closest first, over the GPUs in the order assignment prefers them (on the VM's nodes first).
 *
 * The node-set judgement counts only pairable devices (a GPU with a free partner within the level,
 * a NIC with a free GPU within it), so that a policy steers to the nodes whose pairs are free; the
 * assignment then pairs for real and, when fewer than N pairs can be made, refuses naming each GPU
 * left without a partner and the nearest free NIC it has.
 */
import { type LinkClass, linkRank, linker } from '../topology/device-matrix.js';
import type { Topology } from '../topology/model.js';
import type { DeviceSlot } from './capacity.js';
import type { DeviceRequest, VmRequest } from './request.js';

/** Loosest link each pairing level accepts. */
export const PAIRING_LEVELS = ['switch', 'root-port', 'host-bridge', 'node'] as const;
export type Pairing = (typeof PAIRING_LEVELS)[number];

/** The loosest link each level accepts. */
export const LOOSEST_LINK: Record<Pairing, LinkClass> = { switch: 'PIX', 'root-port': 'PXB', 'host-bridge': 'PHB', node: 'NODE' };

/** Words for a link class in explanations. */
export const LINK_WORDS: Partial<Record<LinkClass, string>> = {
  PIX: 'behind one PCIe switch',
  PXB: 'below one root port',
  PHB: 'on one host bridge',
  NODE: 'on one NUMA node',
  SYS: 'on different nodes',
  '?': 'at an unknown distance',
};

/** The NIC-like kinds a GPU can be paired with. */
const NIC_KINDS: readonly DeviceRequest['kind'][] = ['rdma', 'rdma-vf', 'nic', 'vf'];

/** The two device wishes a pairing joins (validated by the request schema): indexes into request.devices. */
export function pairedWishes(request: Pick<VmRequest, 'devices'>): { gpu: number; nic: number } | null {
  const gpu = request.devices.findIndex((d) => d.kind === 'gpu');
  const nic = request.devices.findIndex((d) => NIC_KINDS.includes(d.kind));
  return gpu < 0 || nic < 0 ? null : { gpu, nic };
}

/** Why a pairing request is malformed, or null: one gpu wish and one NIC wish of equal counts. */
export function pairingProblem(request: Pick<VmRequest, 'devices'>): string | null {
  const gpus = request.devices.filter((d) => d.kind === 'gpu');
  const nics = request.devices.filter((d) => NIC_KINDS.includes(d.kind));
  if (gpus.length !== 1 || nics.length !== 1) {
    return `pairs each GPU with a NIC: it needs exactly one gpu wish and one rdma, rdma-vf, nic or vf wish (e.g. devices=gpu:4+rdma:4), the request has ${gpus.length} and ${nics.length}`;
  }
  const g = gpus[0] as DeviceRequest;
  const n = nics[0] as DeviceRequest;
  if (g.count !== n.count) return `pairs each GPU with a NIC of its own: gpu:${g.count} and ${n.kind}:${n.count} differ`;
  return null;
}

/** One GPU and its NIC. */
export interface DevicePair {
  gpu: string;
  nic: string;
  link: LinkClass;
  /** Where their PCI paths meet (the common bridge or host bridge), as device-matrix.ts says. */
  via: string | null;
}

/** The result of pairing: the pairs, or which GPUs lack a partner and why. */
export type PairingResult = { ok: true; pairs: DevicePair[] } | { ok: false; have: number; detail: string };

/**
 * Pairs `count` GPUs with NICs. `gpus` come in the order assignment prefers them, `nics` are the
 * candidates (free, matching, allowed by locality); a NIC serves one GPU.
 */
export function pairDevices(topology: Topology, pairing: Pairing, count: number, gpus: readonly DeviceSlot[], nics: readonly DeviceSlot[], nicKind: string): PairingResult {
  const link = linker(topology);
  const limit = linkRank(LOOSEST_LINK[pairing]);
  const links = gpus.map((g) => nics.map((n) => link(g.address, n.address)));
  const gpuUsed = new Set<number>();
  const nicUsed = new Set<number>();
  const pairs: { g: number; n: number }[] = [];
  // Level by level, closest first: a GPU takes the closest free NIC within this level.
  for (let level = linkRank('PIX'); level <= limit && pairs.length < count; level++) {
    for (let g = 0; g < gpus.length && pairs.length < count; g++) {
      if (gpuUsed.has(g)) continue;
      let best = -1;
      for (let n = 0; n < nics.length; n++) {
        if (nicUsed.has(n)) continue;
        if (linkRank((links[g]?.[n] as { class: LinkClass }).class) === level) {
          best = n;
          break;
        }
      }
      if (best < 0) continue;
      gpuUsed.add(g);
      nicUsed.add(best);
      pairs.push({ g, n: best });
    }
  }
  if (pairs.length < count) {
    const lonely = gpus
      .map((gpu, g) => ({ gpu, g }))
      .filter(({ g }) => !gpuUsed.has(g))
      .slice(0, 8)
      .map(({ gpu, g }) => {
        let nearest = -1;
        for (let n = 0; n < nics.length; n++) {
          if (nicUsed.has(n)) continue;
          if (nearest < 0 || linkRank((links[g]?.[n] as { class: LinkClass }).class) < linkRank((links[g]?.[nearest] as { class: LinkClass }).class)) nearest = n;
        }
        const l = nearest < 0 ? null : links[g]?.[nearest];
        return `GPU ${gpu.address} has no free ${nicKind} ${LINK_WORDS[LOOSEST_LINK[pairing]]}${l ? ` (nearest free: ${nics[nearest]?.address}, ${l.class}: ${LINK_WORDS[l.class] ?? l.class})` : ' (none free at all)'}`;
      });
    const free = gpus.length === 0 ? `no free GPU` : lonely.join('; ');
    return { ok: false, have: pairs.length, detail: `pairing=${pairing}: ${pairs.length} of ${count} GPU-${nicKind} pairs; ${free}` };
  }
  return {
    ok: true,
    pairs: pairs
      .sort((a, b) => a.g - b.g)
      .map(({ g, n }) => {
        const l = links[g]?.[n] as { class: LinkClass; via: string | null };
        return { gpu: (gpus[g] as DeviceSlot).address, nic: (nics[n] as DeviceSlot).address, link: l.class, via: l.via };
      }),
  };
}

/**
 * Of `gpus` and `nics` (free, matching), those that have a partner on the other side within the
 * level: what a node-set judgement may count for a pairing request.
 */
export function pairable(topology: Topology, pairing: Pairing, gpus: readonly DeviceSlot[], nics: readonly DeviceSlot[]): { gpus: DeviceSlot[]; nics: DeviceSlot[] } {
  const link = linker(topology);
  const limit = linkRank(LOOSEST_LINK[pairing]);
  const okGpu = new Set<DeviceSlot>();
  const okNic = new Set<DeviceSlot>();
  for (const g of gpus) {
    for (const n of nics) {
      if (linkRank(link(g.address, n.address).class) <= limit) {
        okGpu.add(g);
        okNic.add(n);
      }
    }
  }
  return { gpus: gpus.filter((g) => okGpu.has(g)), nics: nics.filter((n) => okNic.has(n)) };
}
