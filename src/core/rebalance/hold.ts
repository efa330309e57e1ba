/**
 * What a move frees, held while the host carries it out. A step applied through the service records
 * the VMs' new places at once (the next decision sees them), but on the host the move takes time:
 * the vCPUs are re-pinned, then the memory migrates node by node, and until then the VM still uses
 * what it leaves. The service therefore holds the freed part (the exclusive CPUs, memory and devices
 * the step's VMs held before and not after) as a claim that lapses unless released earlier, so that
 * no placement is handed a CPU, page or device the moving VM still uses.
 *
 * Shared vCPUs hold their CPUs without exclusion, so there is nothing to hold for them. Nor is a CPU
 * any VM of the step runs on after it: a swap hands it from one VM to the other, so it is not freed,
 * and a CPU a shared VM runs on can be held by nobody (a held CPU is outside every shared pool).
 */
import { parseVmRequest } from '../placement/request.js';
import type { Allocation } from '../placement/state.js';
import type { MemoryGrant } from '../placement/types.js';
import type { Move } from './plan.js';

/** The hold of a move: null when the move frees nothing (a swap in place, shared vCPUs only). */
export function holdOf(move: Move, name: string, expiresAt: number): Allocation | null {
  const after = new Set<number>();
  const afterDevices = new Set<string>();
  const mem = new Map<string, MemoryGrant>();
  const key = (m: MemoryGrant): string => `${m.node}:${m.pageSize}`;
  const add = (m: MemoryGrant, sign: number): void => {
    const k = key(m);
    const cur = mem.get(k) ?? { node: m.node, pageSize: m.pageSize, bytes: 0 };
    mem.set(k, { ...cur, bytes: cur.bytes + sign * m.bytes });
  };
  for (const v of move.vms) {
    // Shared vCPUs too: a shared VM of a swap may move onto the other VM's old CPUs, which it runs on
    // from now (held as well, they would be the hold's and the shared VM's at once).
    for (const c of [...v.after.cpus, ...v.after.heldCpus, ...v.after.emulatorCpus]) after.add(c);
    for (const d of v.after.devices) afterDevices.add(d);
    for (const m of v.before.memory) add(m, 1);
    for (const m of v.after.memory) add(m, -1);
  }
  const cpus = new Set<number>();
  const devices = new Set<string>();
  for (const v of move.vms) {
    for (const c of [...(v.before.exclusive ? v.before.cpus : []), ...v.before.heldCpus, ...v.before.emulatorCpus]) if (!after.has(c)) cpus.add(c);
    for (const d of v.before.devices) if (!afterDevices.has(d)) devices.add(d);
  }
  const memory = [...mem.values()].filter((m) => m.bytes > 0).sort((a, b) => a.node - b.node || a.pageSize - b.pageSize);
  if (cpus.size === 0 && devices.size === 0 && memory.length === 0) return null;
  const held = [...cpus].sort((a, b) => a - b);
  // The nodes the moving VMs are leaving or still on: where the move is under way.
  const nodes = new Set<number>(memory.map((m) => m.node));
  for (const v of move.vms) for (const n of v.before.nodes) nodes.add(n);
  const bytes = memory.reduce((s, m) => s + m.bytes, 0);
  return {
    name,
    policy: 'hold',
    // What the hold amounts to, as a request (it is never decided: a hold is placed by this module only).
    request: parseVmRequest({ name, vcpus: Math.max(1, held.length), memory: Math.max(4096, Math.ceil(bytes / 4096) * 4096) }),
    cpus: [],
    exclusive: false,
    heldCpus: held,
    emulatorCpus: [],
    memory,
    devices: [...devices].sort(),
    nodes: [...nodes].sort((a, b) => a - b),
    status: 'claimed',
    expiresAt,
  };
}
