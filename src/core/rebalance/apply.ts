/**
 * Applying a plan's steps to a host state, one at a time, each checked on the state as it is now:
 * placements may have arrived, VMs left or moved since the plan was made. A step applies only when
 * every VM it moves still holds exactly what the plan saw (`before`) and its target (`after`) breaks
 * none of the host's invariants (`judgeAllocations`: no CPU, page or device handed out twice, nothing
 * over capacity, the reserve untouched); otherwise it is refused with the reasons, and nothing
 * changes (the caller plans again). An applied step stamps its VMs with `movedAt` (the cool-down).
 */
import { judgeAllocations } from '../placement/host-update.js';
import type { Allocation, HostState } from '../placement/state.js';
import type { Move } from './plan.js';

/** Why a step was refused. */
export interface StepRefusal {
  ok: false;
  step: number;
  /** `stale`: a VM changed or left since planning; `taken`: the target is no longer free. */
  code: 'stale' | 'taken';
  reasons: string[];
}

/** The outcome of one step. */
export type StepResult = { ok: true; step: number; state: HostState } | StepRefusal;

function spotKey(a: Allocation): string {
  const mem = [...a.memory].sort((p, q) => p.node - q.node || p.pageSize - q.pageSize).map((m) => `${m.node}:${m.pageSize}:${m.bytes}`);
  return `${a.cpus.join(',')}|${a.heldCpus.join(',')}|${a.emulatorCpus.join(',')}|${a.devices.join(',')}|${mem.join(',')}`;
}

/** Applies one step to a state (see the module comment). The input state is not changed. */
export function applyMove(state: HostState, move: Move, now: number): StepResult {
  const reasons: string[] = [];
  for (const v of move.vms) {
    const cur = state.allocations.find((a) => a.name === v.vm);
    if (!cur) reasons.push(`${v.vm} is no longer on the host`);
    else if (spotKey(cur) !== spotKey(v.before)) reasons.push(`${v.vm} no longer holds what the plan saw (it moved or was re-placed)`);
    else if (cur.status !== 'committed') reasons.push(`${v.vm} is not committed`);
  }
  if (reasons.length > 0) return { ok: false, step: move.step, code: 'stale', reasons };
  const moved = new Set(move.vms.map((v) => v.vm));
  const afters = move.vms.map((v) => {
    const cur = state.allocations.find((a) => a.name === v.vm) as Allocation;
    return { ...cur, cpus: [...v.after.cpus], heldCpus: [...v.after.heldCpus], emulatorCpus: [...v.after.emulatorCpus], memory: v.after.memory.map((m) => ({ ...m })), devices: [...v.after.devices], nodes: [...v.after.nodes], movedAt: now };
  });
  const allocations = [...state.allocations.filter((a) => !moved.has(a.name)), ...afters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // What was already broken (displaced VMs) is not this step's doing; only new breakage refuses it.
  const key = (b: { vm: string; resource: string; node: number | null }): string => `${b.vm}|${b.resource}|${b.node}`;
  const already = new Set(judgeAllocations(state.topology, state.reserve, state.allocations).map(key));
  const broken = judgeAllocations(state.topology, state.reserve, allocations).filter((b) => !already.has(key(b)));
  if (broken.length > 0) {
    return { ok: false, step: move.step, code: 'taken', reasons: broken.slice(0, 8).map((b) => `${b.vm}: ${b.resource}${b.node === null ? '' : ` on node ${b.node}`}: ${b.detail}`) };
  }
  return { ok: true, step: move.step, state: { ...state, allocations } };
}
