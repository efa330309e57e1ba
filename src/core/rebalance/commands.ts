/**
 * The host commands that carry out a move on a KVM host running the VM under libvirt (the domain is
 * named after the VM), in the order they are run:
 * 1. `virsh numatune DOMAIN --mode M --nodeset NODES --live`: the VM's memory policy widened to its
 *    target nodes (old and new: no allocation fails while pages move), M from the VM's numa= setting;
 * 2. `virsh vcpupin DOMAIN VCPU CPU --live` per re-pinned vCPU, `virsh emulatorpin` when the
 *    emulator threads' pCPUs change (their own, or the vCPUs' when they share them): the vCPUs go
 *    first, so that the VM's new allocations are already local to its target;
 * 3. `migratepages PID FROM TO` per transfer, node by node (the QEMU process's pid from libvirt's pid
 *    file): the pages move node by node, at the pace the plan priced, before the policy is narrowed
 *    (a cgroup v2 cpuset also migrates what is left outside its nodes when cpuset.mems narrows);
 * 4. `virsh numatune ... --nodeset TARGET --live` narrowed to the target nodes.
 * libvirt cannot change a vNUMA guest's per-guest-node memory binding (memnode) of a running domain:
 * `notes` says so for a VM on several nodes (its guest nodes keep their old binding in the domain
 * definition until it is restarted).
 */
import { formatCpuList } from '../topology/cpulist.js';
import type { Move, VmMove } from './plan.js';

/** One VM's commands and what to know about them. */
export interface VmCommands {
  vm: string;
  commands: string[];
  notes: string[];
}

function nodesOfMemory(a: VmMove['after']): number[] {
  return [...new Set(a.memory.filter((m) => m.bytes > 0).map((m) => m.node))].sort((x, y) => x - y);
}

const MODES = { auto: 'strict', strict: 'strict', preferred: 'preferred', interleave: 'interleave' } as const;

/** Shell-quotes a word when it needs it. */
function q(word: string): string {
  return /^[A-Za-z0-9_.,:/=@+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The commands for one VM's part of a move. */
export function vmCommands(v: VmMove): VmCommands {
  const dom = q(v.vm);
  const mode = MODES[v.after.request.numa];
  const before = nodesOfMemory(v.before);
  const after = nodesOfMemory(v.after);
  const union = [...new Set([...before, ...after])].sort((x, y) => x - y);
  const commands: string[] = [];
  const notes: string[] = [];
  const memoryMoves = v.memory.length > 0;
  if (memoryMoves) commands.push(`virsh numatune ${dom} --mode ${mode} --nodeset ${formatCpuList(union)} --live`);
  for (const r of v.repins) commands.push(`virsh vcpupin ${dom} ${r.vcpu} ${r.to} --live`);
  const emulatorBefore = v.before.emulatorCpus.length > 0 ? v.before.emulatorCpus : v.before.cpus;
  const emulatorAfter = v.after.emulatorCpus.length > 0 ? v.after.emulatorCpus : v.after.cpus;
  if (formatCpuList(emulatorBefore) !== formatCpuList(emulatorAfter)) commands.push(`virsh emulatorpin ${dom} ${formatCpuList(emulatorAfter)} --live`);
  for (const t of v.memory) commands.push(`migratepages "$(cat /run/libvirt/qemu/${v.vm}.pid)" ${t.from} ${t.to}`);
  if (memoryMoves && union.join(',') !== after.join(',')) commands.push(`virsh numatune ${dom} --mode ${mode} --nodeset ${formatCpuList(after)} --live`);
  if (v.before.nodes.length > 1 && v.after.request.numa !== 'interleave') {
    notes.push("libvirt cannot rebind a running guest's per-guest-node memory (memnode): the domain definition keeps its old vNUMA binding until the guest restarts");
  }
  if (v.after.request.cpuPolicy === 'shared') notes.push('shared vCPUs: vcpupin pins each vCPU to one of the CPUs it may float over');
  return { vm: v.vm, commands, notes };
}

/** The commands of a move, VM by VM (a swap: the first VM's, then the second's). */
export function moveCommands(m: Move): VmCommands[] {
  return m.vms.map(vmCommands);
}
