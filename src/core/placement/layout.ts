/**
 * An explicit guest layout (`layout=8:32G/8:32G`) against a node set: which host node each guest
 * node goes to, and why no assignment fits. Guest node i goes to the i-th node of the set (ascending
 * ids) when every guest node fits there, else to the lexicographically first assignment that fits
 * (guest 0 on the lowest node that leaves a fitting assignment for the rest, and so on), found with
 * a bipartite-matching check of the rest (Kuhn's augmenting paths, O(k^3) per check, O(k^5) at
 * worst; k = guest nodes, a handful). The reserved emulator pCPUs go with the guest node with the
 * most vCPUs (ties: lowest index).
 *
 * Built only for requests with a layout; it reads capacities through `LayoutHost` (the evaluator).
 */
import { formatSize } from '../topology/sizes.js';
import type { CpuMode } from './context.js';
import type { GuestLayout } from './request.js';
import type { RefusalReason } from './types.js';

/** What the layout fit reads of the evaluator it belongs to. */
export interface LayoutHost {
  readonly mode: CpuMode;
  readonly pageSize: number;
  readonly separateMemory: boolean;
  cpuCap(node: number): number;
  memCap(node: number): number;
  emulatorCap(node: number): number;
}

/** The guest node carrying the reserved emulator pCPUs: the most vCPUs, ties to the lowest index. */
export function layoutPrimary(layout: readonly GuestLayout[]): number {
  let primary = 0;
  for (let i = 1; i < layout.length; i++) if ((layout[i] as GuestLayout).vcpus > (layout[primary] as GuestLayout).vcpus) primary = i;
  return primary;
}

/** Resource name of memory of a page size: "memory" for 4K, "hugepages-2M", "hugepages-1G". */
export function memResource(pageSize: number): string {
  if (pageSize === 4096) return 'memory';
  return pageSize >= 1024 ** 3 ? `hugepages-${pageSize / 1024 ** 3}G` : `hugepages-${pageSize / 1024 ** 2}M`;
}

/** Human label of a CPU mode. */
export function modeLabel(mode: CpuMode): string {
  switch (mode) {
    case 'core':
      return 'whole cores (one vCPU per core)';
    case 'thread':
      return 'hardware threads';
    case 'isolate':
      return 'whole cores (one vCPU per core, siblings held)';
    case 'fill':
      return 'threads of whole cores';
    case 'shared':
      return 'shared PUs';
  }
}

/** The CPU resource name of a mode in refusals. */
export function cpuResource(mode: CpuMode): string {
  return mode === 'thread' || mode === 'shared' ? 'cpus' : mode === 'fill' ? 'threads-of-whole-cores' : 'cores';
}

/** The fit of one explicit layout on one evaluator's capacities. */
export class LayoutFit {
  readonly primary: number;

  constructor(
    private readonly host: LayoutHost,
    readonly layout: readonly GuestLayout[],
    private readonly emulator: number,
  ) {
    this.primary = layoutPrimary(layout);
  }

  private guestLabel(g: number): string {
    const guest = this.layout[g] as GuestLayout;
    const emu = g === this.primary ? this.emulator : 0;
    return `guest node ${g} (${guest.vcpus} vCPUs${emu > 0 ? ` + ${emu} emulator pCPUs` : ''}, ${formatSize(guest.memory)})`;
  }

  /** The first thing guest node g lacks on host node h, or null when it fits there alone. */
  guestMisfit(g: number, h: number): RefusalReason | null {
    const host = this.host;
    const guest = this.layout[g] as GuestLayout;
    const emu = g === this.primary ? this.emulator : 0;
    const label = this.guestLabel(g);
    if (guest.vcpus + emu > host.cpuCap(h)) {
      return { resource: cpuResource(host.mode), node: h, need: guest.vcpus + emu, have: host.cpuCap(h), detail: `${label} on host node ${h}: ${modeLabel(host.mode)}` };
    }
    if (emu > 0 && host.emulatorCap(h) < emu) {
      return { resource: 'emulator-cpus', node: h, need: emu, have: host.emulatorCap(h), detail: `${label} on host node ${h}: emulator pCPUs need completely free CPUs` };
    }
    if (!host.separateMemory && guest.memory > host.memCap(h)) {
      return { resource: memResource(host.pageSize), node: h, need: guest.memory, have: host.memCap(h), detail: `${label} on host node ${h}` };
    }
    return null;
  }

  /**
   * Host node per guest node for a set (ascending ids) of layout.length nodes, or null when no
   * assignment fits: the identity (guest i on the i-th node) when it fits, else the
   * lexicographically first fitting assignment.
   */
  hosts(nodes: readonly number[]): number[] | null {
    const layout = this.layout;
    const k = layout.length;
    let identity = true;
    for (let g = 0; g < k && identity; g++) if (this.guestMisfit(g, nodes[g] as number)) identity = false;
    if (identity) return nodes.slice(0, k);
    const fits: boolean[][] = layout.map((_, g) => nodes.map((h) => this.guestMisfit(g, h) === null));
    const hostOf = new Array<number>(k).fill(-1);
    const used = new Array<boolean>(k).fill(false);
    // Can guests from..k-1 be matched to the unused hosts?
    const matchable = (from: number): boolean => {
      const owner = new Array<number>(k).fill(-1);
      const tryGuest = (g: number, seen: boolean[]): boolean => {
        for (let h = 0; h < k; h++) {
          if (used[h] || seen[h] || !(fits[g] as boolean[])[h]) continue;
          seen[h] = true;
          if (owner[h] === -1 || tryGuest(owner[h] as number, seen)) {
            owner[h] = g;
            return true;
          }
        }
        return false;
      };
      for (let g = from; g < k; g++) if (!tryGuest(g, new Array<boolean>(k).fill(false))) return false;
      return true;
    };
    for (let g = 0; g < k; g++) {
      let placed = false;
      for (let h = 0; h < k && !placed; h++) {
        if (used[h] || !(fits[g] as boolean[])[h]) continue;
        used[h] = true;
        if (matchable(g + 1)) {
          hostOf[g] = h;
          placed = true;
        } else used[h] = false;
      }
      if (!placed) return null;
    }
    return hostOf.map((h) => nodes[h] as number);
  }

  /**
   * Why no assignment of the layout fits a set: for each guest node that fits on none of the set's
   * nodes, what it lacks on the node closest to holding it; if each fits somewhere, the set as a
   * whole. `unmatched`: the caller already knows that no assignment of exactly this set fits.
   */
  shortfalls(nodes: readonly number[], unmatched = false): RefusalReason[] {
    const layout = this.layout;
    const out: RefusalReason[] = [];
    layout.forEach((_, g) => {
      let worst: RefusalReason | null = null;
      for (const h of nodes) {
        const m = this.guestMisfit(g, h);
        if (!m) return;
        if (!worst || m.need - m.have < worst.need - worst.have) worst = m;
      }
      if (worst) out.push({ ...worst, detail: `${this.guestLabel(g)} fits on no node of ${nodes.join(',')}; closest: node ${worst.node}, short of ${worst.resource}` });
    });
    if (out.length === 0 && nodes.length >= layout.length) {
      if (!unmatched) {
        // Over a larger set (the whole host), try every subset's worth at once: a matching of the
        // guest nodes into the set, each guest node on its own node.
        const hostsOf = layout.map((_, g) => nodes.filter((h) => this.guestMisfit(g, h) === null));
        const owner = new Map<number, number>();
        const tryGuest = (g: number, seen: Set<number>): boolean => {
          for (const h of hostsOf[g] as number[]) {
            if (seen.has(h)) continue;
            seen.add(h);
            const o = owner.get(h);
            if (o === undefined || tryGuest(o, seen)) {
              owner.set(h, g);
              return true;
            }
          }
          return false;
        };
        let all = true;
        for (let g = 0; g < layout.length && all; g++) all = tryGuest(g, new Set());
        if (all) return out;
      }
      out.push({
        resource: 'layout',
        node: null,
        nodes: [...nodes],
        need: layout.length,
        have: layout.length - 1,
        detail: `each guest node fits on some node of ${nodes.join(',')}, but no assignment puts every guest node on a different one`,
      });
    }
    return out;
  }
}
