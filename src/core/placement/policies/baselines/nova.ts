/**
 * OpenStack Nova's NUMA fitting (nova/virt/hardware.py, numa_fit_instance_to_host), pack and spread.
 *
 * What Nova does, and what is reproduced here:
 * - The instance has a fixed number of guest NUMA cells: the flavor's `hw:numa_nodes` (with
 *   `hw:numa_cpus.N`/`hw:numa_mem.N` for an asymmetric layout); a pinned or huge-page instance
 *   without it gets one cell. Nova never chooses the count itself. Here: an explicit layout gives
 *   the cells, else `maxnodes=N` plays `hw:numa_nodes=N`, else one cell. vCPUs and memory are split
 *   evenly over the cells (Nova rejects flavors whose vCPUs do not divide; here the remainder goes
 *   to the first cells); reserved emulator pCPUs count on the first cell.
 * - The host cells are ordered by stable sorts (`[compute] packing_host_numa_cells_allocation_strategy`):
 *   first by free memory, then by free pinnable CPUs, then by PCI devices (the last sort wins):
 *   pack puts the *most used* cells first, spread the *most free*; a VM asking for devices puts
 *   the cells with more free devices first, a device-less VM the cells without devices first.
 * - `itertools.permutations(host_cells, len(instance_cells))` is walked in order and the first
 *   permutation where every instance cell fits its host cell (free CPUs, free pages of the size)
 *   wins; the PCI/device check then runs on that fit. Distances are ignored entirely.
 *
 * Simplifications: the chosen set is judged again by the shared evaluation (devices, emulator
 * threads) and its split; a set failing it makes the walk continue. The walk is capped at
 * NOVA_MAX_PERMUTATIONS permutations (P(n, k) explodes for k >= 3 on large hosts): beyond it the VM
 * is refused with a `permutations` reason.
 */
import type { PlacementContext, SetEvaluation } from '../../context.js';
import { type NodeChoice, type PlacementPolicy, type PolicyRefusal, definePolicy } from '../../policy.js';
import { choiceOf, explicitChoice } from './common.js';

/** Permutations walked at most before giving up (P(256, 2) = 65,280 fits; P(64, 3) = 249,984 does not). */
export const NOVA_MAX_PERMUTATIONS = 100_000;

/** Nova's two host-cell orderings. */
export type NovaStrategy = 'pack' | 'spread';

/** The host cells in Nova's order for a strategy (ids). */
export function novaCellOrder(ctx: PlacementContext, strategy: NovaStrategy): number[] {
  const wantsDevices = ctx.request.devices.length > 0;
  const sign = strategy === 'pack' ? 1 : -1;
  const cells = ctx.cpuNodes.map((c, i) => ({
    id: c.id,
    i,
    mem: ctx.separateMemory ? 0 : ctx.memCap(c.id),
    cpu: ctx.cpuCap(c.id),
    dev: wantsDevices ? -c.devices.length : c.devices.length > 0 ? 1 : 0,
  }));
  cells.sort((a, b) => a.dev - b.dev || sign * (a.cpu - b.cpu) || sign * (a.mem - b.mem) || a.i - b.i);
  return cells.map((c) => c.id);
}

/** The instance cells: vCPU slots and bytes per guest cell. */
export function novaInstanceCells(ctx: PlacementContext): { cpus: number; memory: number }[] {
  const r = ctx.request;
  const emulator = ctx.slots - r.vcpus;
  if (r.layout) return r.layout.map((g, i) => ({ cpus: g.vcpus + (i === 0 ? emulator : 0), memory: g.memory }));
  const k = r.numa === 'strict' ? 1 : (r.maxNodes ?? 1);
  const units = r.memory / ctx.memUnit;
  return Array.from({ length: k }, (_, i) => ({
    cpus: Math.floor(r.vcpus / k) + (i < r.vcpus % k ? 1 : 0) + (i === 0 ? emulator : 0),
    memory: (Math.floor(units / k) + (i < units % k ? 1 : 0)) * ctx.memUnit,
  }));
}

/** The Nova chooser for a strategy: the first fitting permutation, or a refusal naming the cap when the walk gave up. */
export function novaChooser(strategy: NovaStrategy, name: string): (ctx: PlacementContext) => NodeChoice | PolicyRefusal | null {
  return (ctx) => {
    let capHit = false;
    const explicit = explicitChoice(ctx, name);
    if (explicit !== undefined) return explicit;
    // Every choice below is an evaluation that holds the VM: none can when all the free capacity together does not.
    if (!Number.isFinite(ctx.minNodes())) return null;
    const host = novaCellOrder(ctx, strategy);
    const cells = novaInstanceCells(ctx);
    const k = cells.length;
    if (k > host.length || cells.some((c) => c.cpus === 0)) return null;
    const fits = cells.map((c) => host.map((h) => ctx.cpuCap(h) >= c.cpus && (ctx.separateMemory || ctx.memCap(h) >= c.memory)));
    const judged = new Map<string, SetEvaluation>();
    const used = new Uint8Array(host.length);
    const perm: number[] = [];
    let walked = 0;
    let found: SetEvaluation | null = null;
    // itertools.permutations order: position 0 varies slowest.
    const rec = (depth: number): boolean => {
      if (depth === k) {
        walked++;
        if (walked > NOVA_MAX_PERMUTATIONS) {
          capHit = true;
          return true;
        }
        for (let c = 0; c < k; c++) if (!(fits[c] as boolean[])[perm[c] as number]) return false;
        const ids = perm.map((p) => host[p] as number);
        const key = [...ids].sort((a, b) => a - b).join(',');
        let ev = judged.get(key);
        if (!ev) {
          ev = ctx.evaluate(ids);
          judged.set(key, ev);
        }
        if (ev.ok) {
          found = ev;
          return true;
        }
        return false;
      }
      for (let p = 0; p < host.length; p++) {
        if (used[p]) continue;
        used[p] = 1;
        perm.push(p);
        const stop = rec(depth + 1);
        perm.pop();
        used[p] = 0;
        if (stop) return true;
      }
      return false;
    };
    rec(0);
    if (!found) {
      if (!capHit) return null;
      return {
        refused: [
          {
            resource: 'permutations',
            node: null,
            need: NOVA_MAX_PERMUTATIONS + 1,
            have: NOVA_MAX_PERMUTATIONS,
            detail: `${name}: gave up after NOVA_MAX_PERMUTATIONS (${NOVA_MAX_PERMUTATIONS}) host-cell permutations`,
          },
        ],
      };
    }
    const ev = found as SetEvaluation;
    return choiceOf(ev, [
      `${name}: host cells ordered ${host.slice(0, 16).join(',')}${host.length > 16 ? ',...' : ''} (${strategy}); first fitting permutation of ${k} cell(s) after ${walked} permutation(s); distances ignored`,
    ]);
  };
}

function nova(name: string, strategy: NovaStrategy, description: string): PlacementPolicy {
  return definePolicy(name, description, novaChooser(strategy, name));
}

/** Nova with packing_host_numa_cells_allocation_strategy = True (most used cells first). */
export const novaPackPolicy = nova('nova-pack', 'pack', 'OpenStack Nova numa_fit_instance_to_host, pack: first fitting permutation of the most used host cells; fixed cell count; distances ignored');
/** Nova with packing_host_numa_cells_allocation_strategy = False (most free cells first; the default since Zed). */
export const novaSpreadPolicy = nova('nova-spread', 'spread', 'OpenStack Nova numa_fit_instance_to_host, spread: first fitting permutation of the most free host cells; fixed cell count; distances ignored');
