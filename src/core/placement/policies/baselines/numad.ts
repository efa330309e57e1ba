/**
 * numad's node choice (numad.c pick_numa_nodes), the daemon libvirt asks for advice with
 * `<vcpu placement='auto'>` / `<numatune><memory placement='auto'>`.
 *
 * What numad does, and what is reproduced here:
 * - Each node's *magnitude* is its free CPU capacity times its free memory (CPUs_free x MBs_free,
 *   CPUs in hundredths).
 * - Nodes are picked one at a time until the request's memory and CPUs are covered: each step sorts
 *   the nodes by magnitude divided by the distance to the node picked last (no division for the
 *   first pick), takes the top one and subtracts what it can give (memory keeps a 10 MB margin); if
 *   the top node is the one just used, numad gives up and uses every node.
 *
 * Simplifications: CPU capacity is counted in the engine's CPU mode (free whole cores under
 * smt=auto) instead of idle time; numad stops once the remaining CPU request is below a quarter of a
 * node, here the whole request must be covered; ties go to the lower node id. numad binds the VM to
 * the node set and lets the kernel spread it; here the shared machinery's standard split does.
 * numad's margin is on the free memory it reads from the kernel (page cache and slab grow and shrink
 * under it); a huge-page pool is counted in whole pages that nothing else takes, so a VM backed by
 * huge pages is covered exactly, without the margin.
 * When the nodes numad picks cannot hold the VM under the shared split (more nodes than vCPUs, say),
 * the refusal names that pick and what it lacks.
 */
import type { PlacementContext } from '../../context.js';
import { type NodeChoice, type PolicyRefusal, definePolicy } from '../../policy.js';
import { choiceOf, explicitChoice } from './common.js';

const MB = 1024 * 1024;
/** numad's memory margin per node, in MB. */
export const NUMAD_MBS_MARGIN = 10;

/** The nodes numad would pick (ids, in pick order); all eligible nodes when it gives up. */
export function numadPick(ctx: PlacementContext): { nodes: number[]; all: boolean } {
  const nodes = ctx.cpuNodes.map((c) => ({
    id: c.id,
    cpus: ctx.cpuCap(c.id) * 100,
    mbs: Math.floor((ctx.separateMemory ? c.totalMemory : ctx.memCap(c.id)) / MB),
  }));
  const mag = (n: { cpus: number; mbs: number }): number => n.cpus * n.mbs;
  const margin = ctx.pageSize > 4096 ? 0 : NUMAD_MBS_MARGIN;
  let mbs = ctx.separateMemory ? 0 : Math.ceil(ctx.request.memory / MB);
  let cpus = ctx.slots * 100;
  const picked: number[] = [];
  let prev = -1;
  while (mbs > 0 || cpus > 0) {
    let best: (typeof nodes)[number] | null = null;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const n of nodes) {
      const d = prev < 0 ? 1 : ctx.distance(n.id, prev);
      const s = mag(n) / d;
      if (s > bestScore) {
        best = n;
        bestScore = s;
      }
    }
    if (!best || best.id === prev || bestScore <= 0) return { nodes: ctx.cpuNodes.map((c) => c.id), all: true };
    prev = best.id;
    if (!picked.includes(best.id)) picked.push(best.id);
    if (picked.length === nodes.length) return { nodes: picked, all: true };
    if (best.mbs >= mbs + margin) {
      best.mbs -= mbs;
      mbs = 0;
    } else {
      mbs -= best.mbs - margin;
      best.mbs = margin;
    }
    if (best.cpus >= cpus) {
      best.cpus -= cpus;
      cpus = 0;
    } else {
      cpus -= best.cpus;
      best.cpus = 0;
    }
  }
  return { nodes: picked, all: false };
}

/** The numad chooser. */
export function chooseNumad(ctx: PlacementContext): NodeChoice | PolicyRefusal | null {
  const explicit = explicitChoice(ctx, 'numad');
  if (explicit !== undefined) return explicit;
  if (ctx.cpuNodes.length === 0) return null;
  const { nodes, all } = numadPick(ctx);
  const pick = `numad picked nodes ${nodes.join(',')}${all ? ' (gave up: every node)' : ''}`;
  const hi = ctx.maxNodes();
  if (nodes.length > hi) {
    return { refused: [{ resource: 'nodes', node: null, need: nodes.length, have: hi, detail: `${pick}: ${nodes.length} nodes, the request allows ${hi}` }] };
  }
  const ev = ctx.evaluate(nodes);
  if (!ev.ok) return { refused: ev.shortfalls.map((s) => Object.assign({}, s, { detail: `${pick}: ${s.detail}` })) };
  return choiceOf(ev, [
    `numad: nodes picked by free CPU x free memory (divided by the distance to the previous pick): ${nodes.join(',')}${all ? ' (gave up: every node)' : ''}`,
  ]);
}

/** numad policy. */
export const numadPolicy = definePolicy('numad', "numad's advice: nodes by magnitude (free CPUs x free memory), nearest to the previous pick, until the VM is covered", chooseNumad);
