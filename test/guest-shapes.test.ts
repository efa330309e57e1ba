/**
 * numaplan on real multi-node Linux kernels: four NUMA shapes, each booted once as a QEMU guest
 * (test/support/guest) and checked by the kernel's /proc and /sys and by lstopo in the same guest
 * (the checks: test/guest-live-checks.ts). The guests run side by side, one per host core.
 *
 * To add a shape: append { shape, checks } to SHAPES. vCPU indexes follow QEMU's order
 * ((socket * cores + core) * threads + thread); node i of `nodes` is NUMA node i.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { hostToolSteps, hostToolTests } from './guest-host-tools.js';
import { assertBuilt, type LiveChecks, liveHostPlan, liveHostTests } from './guest-live-checks.js';
import { guestAvailable } from './support/guest/index.js';
import type { GuestShape } from './support/guest/shape.js';
import { startPlans } from './support/guest/plan.js';

const socketOf4 = (n: number): number => Math.floor(n / 4);

const SHAPES: { shape: GuestShape; checks: LiveChecks; hostTools?: boolean }[] = [
  {
    // Two sockets with SMT, one node each: vCPUs 2k and 2k+1 are siblings; 2M pools on both nodes
    // and a 1G page on node 1. CPU 5 is the second thread of node 1's first core.
    shape: {
      name: 'two-node-smt',
      cpu: { sockets: 2, cores: 2, threads: 2 },
      nodes: [
        { cpus: '0-3', memory: '1536M', hugepages: { '2M': 16 } },
        { cpus: '4-7', memory: '2560M', hugepages: { '2M': 8, '1G': 1 } },
      ],
      distances: [
        [10, 21],
        [21, 10],
      ],
    },
    checks: { offlineCpu: 5, interleave: [0, 1], preferred: { node: 1, cpu: 2 } },
  },
  {
    // Two sockets split into four nodes (sub-NUMA clustering, as Xeon SNC2 or EPYC NPS2): 10 local,
    // 12 to the other node of the socket, 21 across sockets; a different 2M pool on every node.
    shape: {
      name: 'four-node-snc',
      cpu: { sockets: 2, cores: 4, threads: 1 },
      nodes: [
        { cpus: '0-1', memory: '1536M', hugepages: { '2M': 4 } },
        { cpus: '2-3', memory: '384M', hugepages: { '2M': 8 } },
        { cpus: '4-5', memory: '384M', hugepages: { '2M': 12 } },
        { cpus: '6-7', memory: '384M', hugepages: { '2M': 16 } },
      ],
      distances: [
        [10, 12, 21, 21],
        [12, 10, 21, 21],
        [21, 21, 10, 12],
        [21, 21, 12, 10],
      ],
    },
    checks: { offlineCpu: 3, interleave: [2, 3], preferred: { node: 3, cpu: 4 } },
    // numaplan host prep and numaplan probe run here too, after the live-host checks (test/guest-host-tools.ts).
    hostTools: true,
  },
  {
    // A CPU-less memory node (the CXL / HBM case as firmware lists it: a node with memory and no
    // CPUs), closer to node 0 (14) than to node 1 (24), with its own 2M pool. Nothing in such a
    // guest says which memory technology it is, so numaplan sees a CPU-less node of the DRAM tier;
    // a process reaches it by naming a CPU and the node (cpus=3,nodes=2).
    shape: {
      name: 'cpuless-node',
      cpu: { sockets: 2, cores: 2, threads: 1 },
      nodes: [{ cpus: '0-1', memory: '1536M', hugepages: { '2M': 8 } }, { cpus: '2-3', memory: '512M' }, { memory: '512M', hugepages: { '2M': 8 } }],
      distances: [
        [10, 21, 14],
        [21, 10, 24],
        [14, 24, 10],
      ],
    },
    checks: { offlineCpu: 3, interleave: [0, 1], preferred: { node: 2, cpu: 3 }, cpuForMemoryNode: { 2: 3 } },
  },
  {
    // Eight nodes, one core each (as EPYC NPS4 splits a socket): 10 local, 12 within a socket, 32
    // across; 2M pools of different sizes on nodes 1-7. With one CPU per node there is no core to
    // spare for numaplan's default host reserve (CPU 0's core), so placements here keep none.
    shape: {
      name: 'eight-node',
      cpu: { sockets: 2, cores: 4, threads: 1 },
      nodes: Array.from({ length: 8 }, (_, i) => ({ cpus: [i], memory: '256M', hugepages: i > 0 ? { '2M': 2 * i } : {} })),
      distances: Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) => (i === j ? 10 : socketOf4(i) === socketOf4(j) ? 12 : 32))),
    },
    checks: { offlineCpu: 6, interleave: [4, 5], preferred: { node: 7, cpu: 1 }, reserveArgs: ['--reserve-cpus', '', '--reserve-memory', '64M'] },
  },
];

describe.skipIf(!guestAvailable())('numaplan on live multi-node kernels', () => {
  assertBuilt();
  const plans = SHAPES.map((s) => ({ ...s, plan: liveHostPlan(s.shape, s.checks, s.hostTools ? hostToolSteps() : {}) }));
  const steps = plans.map((p) =>
    liveHostTests(p.plan, p.checks, p.hostTools ? (judge) => hostToolTests(p.shape, p.plan as unknown as Parameters<typeof hostToolTests>[1], judge) : undefined),
  );
  let running: Promise<void> = Promise.resolve();
  beforeAll(({}, suite) => {
    // Only the shapes and steps with a test selected to run (vitest -t) run.
    const selected = plans.map((p, i) => {
      const block = suite.tasks.find((t) => t.type === 'suite' && t.name.endsWith(`: ${p.shape.name}`));
      const titles = block && block.type === 'suite' ? block.tasks.filter((t) => t.mode === 'run').map((t) => t.name) : [];
      return { plan: p.plan, only: new Set(titles.map((t) => steps[i]?.get(t) as string)) };
    });
    // Most nodes (most work) first, so that the two host cores finish at about the same time.
    const order = selected.filter((s) => s.only.size > 0).sort((a, b) => b.plan.shape.nodes.length - a.plan.shape.nodes.length);
    running = startPlans(order);
  });
  afterAll(() => running, 900_000);
});
