import { describe, expect, it } from 'vitest';
import { placeMany } from '../placement/place.js';
import { parseVmSpec } from '../placement/request.js';
import { createHostState, defaultReserve } from '../placement/state.js';
import { makeTopology } from '../topology/build.js';
import { type HostSettings, latencyProfilePools, parseHugepagesSpec, planHostPrep, PrepError } from './prep.js';

const M = 1 << 20;
const G = 1 << 30;

/** Two nodes of 4 CPUs and 4 GiB; 2M pools of 64 and 32 pages, empty 1G pools. */
const topo = makeTopology({
  source: 'sysfs',
  hostname: 'h',
  nodes: [
    { id: 0, cpus: [0, 1, 2, 3], memory: { total: 4 * G, free: 3 * G }, hugePages: [{ pageSize: 2 * M, total: 64, free: 64 }, { pageSize: G, total: 0, free: 0 }] },
    { id: 1, cpus: [4, 5, 6, 7], memory: { total: 4 * G, free: 3 * G }, hugePages: [{ pageSize: 2 * M, total: 32, free: 20 }, { pageSize: G, total: 0, free: 0 }] },
  ],
  distances: [
    [10, 21],
    [21, 10],
  ],
  pus: [0, 1, 2, 3, 4, 5, 6, 7].map((os) => ({ os, package: os < 4 ? 0 : 1, core: os })),
});

const settings = (over: Partial<HostSettings['cgroup']> = {}): HostSettings => ({
  thp: { enabled: { current: 'always', choices: ['always', 'madvise', 'never'] }, defrag: { current: 'madvise', choices: ['always', 'defer', 'defer+madvise', 'madvise', 'never'] } },
  cgroup: { version: 2, mount: '/sys/fs/cgroup', systemd: false, cpuset: true, v1Cpuset: false, hostGroup: null, ...over },
});

/** A state with VM "hp" holding 16 MiB of node 1's 2M pool (8 pages) and CPU 5. */
function placed() {
  const state = createHostState(topo);
  const r = placeMany([parseVmSpec('name=hp,vcpus=1,memory=16M,pages=2M,cpus=5,nodes=1')], state);
  expect(r.refusal).toBeNull();
  return { origin: 'state.json', reserve: r.state.reserve, allocations: r.state.allocations };
}

describe('host prep plan', () => {
  it('reads pool specs per node and size, and refuses what the host cannot have (exit 2)', () => {
    expect(parseHugepagesSpec('2M:128@1,1G:2@0', topo)).toEqual([
      { node: 0, pageSize: G, count: 2 },
      { node: 1, pageSize: 2 * M, count: 128 },
    ]);
    expect(parseHugepagesSpec('2M:10', topo).map((t) => t.node)).toEqual([0, 1]);
    expect(parseHugepagesSpec('2M:10@0,1', topo).map((t) => t.node)).toEqual([0, 1]);
    expect(() => parseHugepagesSpec('2M:8@2', topo)).toThrow(/node 2 does not exist/);
    expect(() => parseHugepagesSpec('16M:8@0', topo)).toThrow(/offers no 16M pages/);
    expect(() => parseHugepagesSpec('1G:5@0', topo)).toThrow(/more than node 0's memory/);
    expect(() => parseHugepagesSpec('2M=8', topo)).toThrow(PrepError);
  });

  it('plans pool, THP and cpuset changes, shrinking before growing, and lists what is already so', () => {
    const plan = planHostPrep(topo, settings(), { hugepages: parseHugepagesSpec('2M:128@0,2M:8@1,1G:0@0', topo), thp: 'madvise', thpDefrag: 'madvise', reserve: { cpus: [0, 1] } }, null, defaultReserve);
    expect(plan.changes.map((c) => [c.kind, 'node' in c ? c.node : null, 'to' in c ? c.to : null])).toEqual([
      ['hugepages', 1, 8],
      ['hugepages', 0, 128],
      ['thp', null, 'madvise'],
      ['cpuset', null, { cpus: '0-1', mems: '0' }],
    ]);
    expect(plan.unchanged.map((c) => c.kind)).toEqual(['hugepages', 'thp']);
    expect(plan.refusals).toEqual([]);
    expect(plan.notes.join(' ')).toMatch(/12 pages are in use now/);
  });

  it('refuses a pool shrunk under a placed VM, and a reserve taking its CPU; other changes pass', () => {
    const vms = placed();
    const shrink = planHostPrep(topo, settings(), { hugepages: parseHugepagesSpec('2M:4@1', topo) }, vms, defaultReserve);
    expect(shrink.refusals).toEqual([expect.objectContaining({ vm: 'hp', resource: 'hugepages-2M', node: 1, need: 16 * M, have: 8 * M })]);
    const cpu = planHostPrep(topo, settings(), { hugepages: [], reserve: { cpus: [0, 5] } }, vms, defaultReserve);
    expect(cpu.refusals).toEqual([expect.objectContaining({ vm: 'hp', resource: 'cpu:5' })]);
    const fine = planHostPrep(topo, settings(), { hugepages: parseHugepagesSpec('2M:8@1,2M:128@0', topo), reserve: { cpus: [0, 1] } }, vms, defaultReserve);
    expect(fine.refusals).toEqual([]);
    expect(fine.changes.map((c) => c.kind)).toEqual(['hugepages', 'hugepages', 'reserve', 'cpuset']);
  });

  it('prints systemd settings instead of writing cgroups under systemd; notes what cgroup v1 cannot do', () => {
    const sd = planHostPrep(topo, settings({ systemd: true }), { hugepages: [], reserve: { cpus: [0, 1] } }, null, defaultReserve);
    expect(sd.changes).toEqual([]);
    expect(sd.advice).toEqual(['system.slice', 'user.slice', 'init.scope'].map((u) => `systemctl set-property ${u} AllowedCPUs=0-1 AllowedMemoryNodes=0`));
    const v1 = planHostPrep(topo, settings({ version: 1, mount: null, cpuset: false, v1Cpuset: true }), { hugepages: [], reserve: { cpus: [0] } }, null, defaultReserve);
    expect(v1.changes).toEqual([]);
    expect(v1.notes.join(' ')).toMatch(/cgroup v2 only/);
  });

  it('the latency profile: THP madvise, defrag never, 2% of each node in 2M pages, never shrinking a pool', () => {
    expect(latencyProfilePools(topo)).toEqual([
      { node: 0, pageSize: 2 * M, count: 64 },
      { node: 1, pageSize: 2 * M, count: 40 },
    ]);
    const plan = planHostPrep(topo, settings(), { hugepages: [], profile: 'latency' }, null, defaultReserve);
    expect(plan.changes.map((c) => (c.kind === 'thp' ? `${c.setting}=${c.to}` : c.kind === 'hugepages' ? `${c.node}:${c.to}` : c.kind))).toEqual(['1:40', 'enabled=madvise', 'defrag=never']);
    expect(() => planHostPrep(topo, settings(), { hugepages: [], thp: 'sometimes' }, null, defaultReserve)).toThrow(/not one of this kernel's choices/);
  });
});
