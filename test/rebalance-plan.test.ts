import { describe, expect, it } from 'vitest';
import { placeMany } from '../src/core/placement/place.js';
import { parseVmSpec } from '../src/core/placement/request.js';
import { createHostState, releaseAllocation, type HostState } from '../src/core/placement/state.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { applyMove, moveCommands, planRebalance, planOptions, planRoom } from '../src/core/rebalance/index.js';
import { formatCpuList } from '../src/core/topology/cpulist.js';

const G = 1024 ** 3;

/** Two packages of one node each, 8 cores, 32 GiB per node; CPU 0's core and 1 GiB reserved. */
function host(): HostState {
  return createHostState(syntheticTopology({ source: 'two-node', packages: 2, nodesPerPackage: 1, coresPerNode: 8, threadsPerCore: 1, memoryPerNode: 32 * G }));
}

function placed(state: HostState, ...specs: string[]): HostState {
  const r = placeMany(specs.map((s) => parseVmSpec(s)), state);
  expect(r.refusal).toBeNull();
  return r.state;
}

/** `wide` arrived while both nodes were busy and spans them; then `a` left and node 0 can hold it. */
function fragmented(extra = ''): HostState {
  let s = placed(host(), 'name=a,vcpus=5,memory=8G', 'name=b,vcpus=5,memory=8G', `name=wide,vcpus=4,memory=8G${extra}`);
  expect(s.allocations.find((x) => x.name === 'wide')?.nodes).toEqual([0, 1]);
  s = releaseAllocation(s, 'a');
  return s;
}

describe('planRebalance', () => {
  it('moves a VM that spans two nodes onto the node that can now hold it, with gain, cost and reason', () => {
    const plan = planRebalance(fragmented(), { now: 1_000 });
    expect(plan.moves).toHaveLength(1);
    const m = plan.moves[0]!;
    expect(m.kind).toBe('narrow');
    expect(m.vms[0]?.vm).toBe('wide');
    expect(m.vms[0]?.after.nodes).toEqual([0]);
    expect(m.vms[0]?.locality.before.remoteAccessFraction).toBeCloseTo(0.5, 2);
    expect(m.vms[0]?.locality.after.remoteAccessFraction).toBe(0);
    expect(m.vms[0]?.locality.after.relativeLatency).toBe(1);
    // Half of the 8 GiB was on node 1: it moves to node 0.
    expect(m.vms[0]?.memory).toEqual([{ from: 1, to: 0, bytes: 4 * G, pageSize: 4096 }]);
    expect(m.cost.bytes).toBe(4 * G);
    expect(m.cost.seconds).toBe(4);
    expect(m.cost.repins).toBeGreaterThan(0);
    expect(m.gain.latency).toBeCloseTo(0.55, 2);
    expect(m.reason).toMatch(/fewer nodes/);
    expect(plan.totals.latencyAfter).toBeLessThan(plan.totals.latencyBefore);
  });

  it('proposes nothing when the gain does not pay for the bytes (slow migration, high threshold)', () => {
    expect(planRebalance(fragmented(), { rateBytesPerSec: 1024 ** 2 }).moves).toEqual([]);
    expect(planRebalance(fragmented(), { threshold: 1e6 }).moves).toEqual([]);
  });

  it('keeps to the byte cap', () => {
    expect(planRebalance(fragmented(), { maxBytes: 4 * G - 1 }).moves).toEqual([]);
    expect(planRebalance(fragmented(), { maxBytes: 4 * G }).moves).toHaveLength(1);
  });

  it('never moves VMs with explicit nodes or CPUs, and says why', () => {
    const plan = planRebalance(fragmented(',nodes=0,1'), { now: 0 });
    expect(plan.moves).toEqual([]);
    expect(plan.skipped).toContainEqual({ vm: 'wide', why: expect.stringMatching(/explicit nodes/) });
  });

  it('honours the cool-down: a VM moved is not moved again within it, and may be after it', () => {
    const s = fragmented();
    const plan = planRebalance(s, { now: 0 });
    const applied = applyMove(s, plan.moves[0]!, 0);
    expect(applied.ok).toBe(true);
    if (!applied.ok) return;
    expect(applied.state.allocations.find((a) => a.name === 'wide')?.movedAt).toBe(0);
    // Put it back where it was by hand and plan again within and after the cool-down.
    const back = { ...applied.state, allocations: applied.state.allocations.map((a) => (a.name === 'wide' ? { ...plan.moves[0]!.vms[0]!.before, movedAt: 0 } : a)) };
    const within = planRebalance(back, { now: 60_000, cooldownMs: 600_000 });
    expect(within.moves).toEqual([]);
    expect(within.skipped.find((x) => x.vm === 'wide')?.why).toMatch(/cool-down/);
    expect(planRebalance(back, { now: 600_000, cooldownMs: 600_000 }).moves).toHaveLength(1);
  });

  it('plans nothing on a host where every VM is local', () => {
    const s = placed(host(), 'name=a,vcpus=4,memory=8G', 'name=b,vcpus=4,memory=8G');
    const plan = planRebalance(s, { now: 0 });
    expect(plan.moves).toEqual([]);
    expect(plan.totals.latencyBefore).toBe(1);
  });

  it('refuses a step whose target was taken after planning, and a step whose VM changed', () => {
    const s = fragmented();
    const plan = planRebalance(s, { now: 0 });
    const crowded = placed(s, 'name=late,vcpus=5,memory=8G');
    const r = applyMove(crowded, plan.moves[0]!, 0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('taken');
    const gone = applyMove(releaseAllocation(s, 'wide'), plan.moves[0]!, 0);
    expect(gone.ok).toBe(false);
    if (!gone.ok) expect(gone.code).toBe('stale');
  });

  it('makes room for a waiting VM with a move that gains no latency, and only when one waits', () => {
    // Node 0 (7 usable cores): p and q; node 1 (8): r. p leaves: 3 + 4 cores free, no node holds 7.
    let s = placed(host(), 'name=p,vcpus=3,memory=4G', 'name=q,vcpus=4,memory=4G', 'name=r,vcpus=4,memory=4G');
    expect(s.allocations.map((a) => a.nodes[0])).toEqual([0, 0, 1]);
    s = releaseAllocation(s, 'p');
    const w = parseVmSpec('name=w,vcpus=7,memory=8G,numa=strict');
    expect(planRebalance(s, { now: 0 }).moves).toEqual([]);
    const plan = planRebalance(s, { now: 0 }, [w]);
    expect(plan.moves).toHaveLength(1);
    const m = plan.moves[0]!;
    expect(m.vms[0]?.vm).toBe('q');
    expect(m.vms[0]?.after.nodes).toEqual([1]);
    expect(m.gain.latency).toBe(0);
    expect(m.gain.admits).toEqual(['w']);
    expect(m.reason).toMatch(/makes room for w/);
    expect(plan.waiting).toEqual([{ name: 'w', fitsNow: false, admittedAt: 1 }]);
    // After the step, w fits where it did not.
    const applied = applyMove(s, m, 0);
    expect(applied.ok).toBe(true);
    if (applied.ok) expect(placeMany([w], applied.state).refusal).toBeNull();
    expect(placeMany([w], s).refusal).not.toBeNull();
    // A request that fits already needs no move.
    const small = parseVmSpec('name=small,vcpus=2,memory=1G');
    expect(planRebalance(s, { now: 0 }, [small])).toMatchObject({ moves: [], waiting: [{ name: 'small', fitsNow: true, admittedAt: null }] });
  });

  /**
   * Stranded room: node 0 has PUs short and memory to spare, node 1 the reverse. cpu0 (5 vCPUs) and
   * s1 (1 vCPU) sit on node 0 as if placed there (their requests name no nodes), mem1 fills node 1's
   * memory. A 2-vCPU 8 GiB strict VM fits on neither node; the kernel alone keeps s1 where it is.
   */
  function stranded(): HostState {
    const s = placed(host(), 'name=cpu0,vcpus=5,memory=2G,nodes=0', 'name=s1,vcpus=1,memory=1G,nodes=0', 'name=mem1,vcpus=2,memory=28G,nodes=1');
    return { ...s, allocations: s.allocations.map((a) => ({ ...a, request: { ...a.request, nodes: undefined } })) };
  }

  it('makes room by defragmentation: moves the cheapest VM that frees a node for a refused request, with the same kernel', () => {
    const s = stranded();
    expect(s.allocations.map((a) => `${a.name}:${a.nodes.join(',')}`)).toEqual(['cpu0:0', 'mem1:1', 's1:0']);
    const w = parseVmSpec('name=w,vcpus=2,memory=8G,numa=strict');
    expect(placeMany([w], s).refusal).not.toBeNull();
    const plan = planRoom(s, w, { now: 0 });
    expect(plan.moves).toHaveLength(1);
    const m = plan.moves[0]!;
    expect(m.kind).toBe('make-room');
    expect(m.vms.map((v) => `${v.vm}:${v.before.nodes.join(',')}->${v.after.nodes.join(',')}`)).toEqual(['s1:0->1']);
    expect(m.cost.bytes).toBe(G);
    expect(m.gain.admits).toEqual(['w']);
    expect(m.gain.latency).toBe(0);
    // No moved VM gets a worse predicted latency.
    for (const v of m.vms) expect(v.locality.after.relativeLatency).toBeLessThanOrEqual(v.locality.before.relativeLatency);
    expect(m.reason).toMatch(/make room: w fits nowhere/);
    expect(plan.waiting).toEqual([{ name: 'w', fitsNow: false, admittedAt: 1 }]);
    const applied = applyMove(s, m, 0);
    expect(applied.ok).toBe(true);
    if (applied.ok) expect(placeMany([w], applied.state).refusal).toBeNull();
    // The periodic planner with w waiting admits it in one step too (there the kernel's own choice for a VM may already do).
    expect(planRebalance(s, { now: 0 }, [w]).waiting).toEqual([{ name: 'w', fitsNow: false, admittedAt: 1 }]);
  });

  it('makes no room when the free totals cannot hold the request, nor with the cool-down, the byte cap or the threshold against it', () => {
    const s = stranded();
    const w = parseVmSpec('name=w,vcpus=2,memory=8G,numa=strict');
    // 40 GiB: more than the host has free in any page size, whatever moves.
    expect(planRoom(s, parseVmSpec('name=big,vcpus=2,memory=40G'), { now: 0 })).toMatchObject({ moves: [], waiting: [{ name: 'big', fitsNow: false, admittedAt: null }] });
    // s1 within its cool-down: cpu0 (2 GiB) moves instead; both within it: nothing.
    const cool = (names: string[]): HostState => ({ ...s, allocations: s.allocations.map((a) => (names.includes(a.name) ? { ...a, movedAt: 0 } : a)) });
    expect(planRoom(cool(['s1']), w, { now: 1000 }).moves.map((m) => m.vms.map((v) => v.vm).join('+'))).toEqual(['cpu0']);
    expect(planRoom(cool(['s1', 'cpu0']), w, { now: 1000 }).moves).toEqual([]);
    expect(planRoom(s, w, { now: 0, maxBytes: G - 1 }).moves).toEqual([]);
    expect(planRoom(s, w, { now: 0, rateBytesPerSec: 1024 }).moves).toEqual([]);
    // Letting w in is worth what the caller says (default the horizon): 1 s does not pay for 1 GiB at 4x.
    expect(planRoom(s, w, { now: 0 }, 1).moves).toEqual([]);
    expect(planRoom(s, w, { now: 0 }, 5).moves).toHaveLength(1);
    expect(() => planRoom(s, w, { now: 0 }, -1)).toThrow(/admitSec/);
    // A request that fits already needs no room.
    expect(planRoom(s, parseVmSpec('name=ok,vcpus=1,memory=1G'), { now: 0 })).toMatchObject({ moves: [], waiting: [{ name: 'ok', fitsNow: true, admittedAt: null }] });
  });

  it('names a bad setting', () => {
    expect(() => planOptions({ rateBytesPerSec: 0 })).toThrow(/rateBytesPerSec/);
    expect(() => planOptions({ maxMoves: 1.5 })).toThrow(/maxMoves/);
  });
});

describe('moveCommands', () => {
  it('widens the memory policy, re-pins, moves the pages node by node, then narrows, in that order', () => {
    const plan = planRebalance(fragmented(), { now: 0 });
    const [c] = moveCommands(plan.moves[0]!);
    const v = plan.moves[0]!.vms[0]!;
    expect(c?.vm).toBe('wide');
    const cmds = c?.commands ?? [];
    expect(cmds[0]).toBe('virsh numatune wide --mode strict --nodeset 0-1 --live');
    const pins = cmds.filter((x) => x.startsWith('virsh vcpupin wide '));
    expect(pins).toEqual(v.repins.map((r) => `virsh vcpupin wide ${r.vcpu} ${r.to} --live`));
    expect(cmds).toContain(`virsh emulatorpin wide ${formatCpuList(v.after.cpus)} --live`);
    const migrate = cmds.findIndex((x) => x.startsWith('migratepages'));
    expect(migrate).toBeGreaterThan(cmds.lastIndexOf(pins.at(-1) as string));
    expect(cmds[migrate]).toBe('migratepages "$(cat /run/libvirt/qemu/wide.pid)" 1 0');
    expect(cmds.at(-1)).toBe('virsh numatune wide --mode strict --nodeset 0 --live');
    expect(c?.notes.join(' ')).toMatch(/memnode/);
  });

  it('keeps the VM\'s memory mode (preferred stays preferred)', () => {
    const plan = planRebalance(fragmented(',numa=preferred'), { now: 0 });
    expect(moveCommands(plan.moves[0]!)[0]?.commands[0]).toMatch(/--mode preferred --nodeset 0-1 --live$/);
  });
});
