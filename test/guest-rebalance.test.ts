/**
 * A rebalancing move carried out on a real multi-node kernel: one four-node guest (two sockets split
 * in two, as SNC2 / NPS2: node 1 is CPUs 2-3, node 2 CPUs 4-5), booted once (test/support/guest).
 *
 * The host is busy when `job` (2 vCPUs, 32 MiB) arrives, so numaplan places it over nodes 1 and 2;
 * `numaplan run` starts it bound there, and it touches its 32 MiB buffer while running on its node-1
 * CPU (so its pages are on node 1). Then node 2's other VM leaves: `numaplan rebalance` proposes
 * narrowing job to node 2, and `numaplan apply-plan --pid job=PID --apply` moves the process. The
 * referee is the guest's kernel, read by the test itself: /proc/PID/status (Cpus_allowed_list of
 * every thread, Mems_allowed_list) and /proc/PID/numa_maps (the buffer's policy and its pages per
 * node) before the move (pages on node 1), after the dry run (nothing moved) and after --apply (every
 * anonymous page on node 2, policy bind:2); the process then checks its own buffer is intact.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';
import { type Guest, type GuestShape, guestAvailable, shq, useGuest } from './support/guest/index.js';
import { assertBuilt } from './guest-live-checks.js';

const NUMAPLAN = `node ${shq(join(REPO_ROOT, 'bin', 'numaplan.js'))}`;

const SHAPE: GuestShape = {
  name: 'rebalance-four-node',
  cpu: { sockets: 2, cores: 4, threads: 1 },
  nodes: [
    { cpus: '0-1', memory: '1536M' },
    { cpus: '2-3', memory: '384M' },
    { cpus: '4-5', memory: '384M' },
    { cpus: '6-7', memory: '384M' },
  ],
  distances: [
    [10, 12, 21, 21],
    [12, 10, 21, 21],
    [21, 21, 10, 12],
    [21, 21, 12, 10],
  ],
};
const NODE_CPUS: Record<number, number[]> = { 0: [0, 1], 1: [2, 3], 2: [4, 5], 3: [6, 7] };
const DIR = '/tmp/rebalance';
const STATE = `${DIR}/host.json`;
const BUFFER_PAGES = (32 << 20) / 4096;

/**
 * The moved process (three threads): touches a 32 MiB buffer while running on the CPU given (its node-1 CPU), goes
 * back to the CPUs it was started with, writes its pid, says "ready", and exits 0 once DIR/go exists
 * if its buffer is still intact (3 if not).
 */
const JOB = [
  'import os, sys, threading, time',
  'd, cpu = sys.argv[1], int(sys.argv[2])',
  '# two more threads, so that every thread has to be re-pinned',
  "for _ in range(2): threading.Thread(target=lambda: [time.sleep(0.05) for _ in iter(int, 1)], daemon=True).start()",
  'allowed = os.sched_getaffinity(0)',
  'os.sched_setaffinity(0, {cpu})',
  "b = bytearray(b'\\x01') * (32 << 20)",
  'os.sched_setaffinity(0, allowed)',
  "open(d + '/pid.tmp', 'w').write(str(os.getpid())); os.rename(d + '/pid.tmp', d + '/pid')",
  "print('ready', flush=True)",
  "while not os.path.exists(d + '/go'): time.sleep(0.05)",
  'sys.exit(0 if b.count(1) == len(b) else 3)',
].join('\n');

/** What the kernel shows of a process: allowed CPUs of every thread, allowed nodes, anonymous pages per node, the buffer's policy. */
interface Seen {
  threadCpus: string[];
  mems: string;
  pagesByNode: Record<string, number>;
  bufferPolicy: string;
  bufferPages: Record<string, number>;
}

async function look(g: Guest, pid: number): Promise<Seen> {
  const out = await g.runOk(`for t in /proc/${pid}/task/*; do grep '^Cpus_allowed_list' $t/status; done; grep '^Mems_allowed_list' /proc/${pid}/status; echo @@@; cat /proc/${pid}/numa_maps`);
  const [head, maps] = out.split('@@@\n') as [string, string];
  const lines = head.trim().split('\n');
  const seen: Seen = {
    threadCpus: lines.filter((l) => l.startsWith('Cpus_allowed_list')).map((l) => l.split(/:\s*/)[1]?.trim() ?? ''),
    mems: lines.find((l) => l.startsWith('Mems_allowed_list'))?.split(/:\s*/)[1]?.trim() ?? '',
    pagesByNode: {},
    bufferPolicy: '',
    bufferPages: {},
  };
  let biggest = -1;
  for (const line of maps.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 3 || !parts.some((p) => p.startsWith('anon=') || p === 'heap' || p === 'stack') || parts.some((p) => p.startsWith('file='))) continue;
    const pages: Record<string, number> = {};
    let total = 0;
    for (const p of parts) {
      const m = /^N(\d+)=(\d+)$/.exec(p);
      if (!m) continue;
      pages[m[1] as string] = Number(m[2]);
      seen.pagesByNode[m[1] as string] = (seen.pagesByNode[m[1] as string] ?? 0) + Number(m[2]);
      total += Number(m[2]);
    }
    if (total > biggest) {
      biggest = total;
      seen.bufferPolicy = parts[1] as string;
      seen.bufferPages = pages;
    }
  }
  return seen;
}

/** A CPU list as the kernel writes it ("3,5", "4-5"). */
function listOf(cpus: number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    out.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

describe.skipIf(!guestAvailable())('a rebalancing move of a process on a live four-node kernel', () => {
  const guest = useGuest(SHAPE);

  it('rebalance narrows a spread process to node 2; apply-plan --apply moves its threads, policy and pages, and numa_maps shows every page on node 2', async () => {
    assertBuilt();
    const g = guest();
    await g.runOk(`rm -rf ${DIR} && mkdir -p ${DIR}`);
    // A busy host: one CPU free on node 1 and one on node 2 (CPU 0 is the host's), so job spreads.
    const fill = 'name=f0,vcpus=1,memory=32M,nodes=0 --vm name=f1,vcpus=1,memory=32M,nodes=1 --vm name=f2,vcpus=1,memory=32M,nodes=2 --vm name=f3,vcpus=2,memory=32M,nodes=3';
    await g.runOk(`${NUMAPLAN} place --host sysfs --state ${STATE} --vm ${fill} --json`);
    const placed = JSON.parse(await g.runOk(`${NUMAPLAN} place --state ${STATE} --vm name=job,vcpus=2,memory=32M --json | tee ${DIR}/job.json`)) as { placements: { nodes: number[]; cpus: number[] }[] };
    const job = placed.placements[0] as { nodes: number[]; cpus: number[] };
    expect(job.nodes).toEqual([1, 2]);
    const node1Cpu = job.cpus.find((c) => NODE_CPUS[1]?.includes(c)) as number;
    expect(node1Cpu).toBeDefined();

    const run = await g.spawn(`${NUMAPLAN} run --placement ${DIR}/job.json --ready-line ready -- python3 -c ${shq(JOB)} ${DIR} ${node1Cpu}`);
    await g.runOk(`i=0; while [ ! -f ${DIR}/pid ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; test -f ${DIR}/pid`, { timeoutMs: 150_000 });
    const pid = Number((await g.readFile(`${DIR}/pid`)).trim());
    const before = await look(g, pid);
    expect(before.threadCpus).toHaveLength(3);
    expect(before.threadCpus.every((c) => c === listOf(job.cpus))).toBe(true);
    expect(before.bufferPolicy).toBe('bind:1-2');
    expect(before.bufferPages['1'] ?? 0, JSON.stringify(before.bufferPages)).toBeGreaterThanOrEqual(BUFFER_PAGES);

    // Node 2's other VM leaves: job fits on node 2 alone.
    await g.runOk(`${NUMAPLAN} release --state ${STATE} f2`);
    const planned = JSON.parse(await g.runOk(`${NUMAPLAN} rebalance --state ${STATE} --horizon 1h --json -o ${DIR}/plan.json`)) as {
      plan: { moves: { kind: string; vms: { vm: string; after: { nodes: number[]; cpus: number[] }; memory: { from: number; to: number }[] }[] }[] };
    };
    expect(planned.plan.moves).toHaveLength(1);
    const move = planned.plan.moves[0] as (typeof planned.plan.moves)[number];
    expect(move.kind).toBe('narrow');
    expect(move.vms.map((v) => [v.vm, v.after.nodes])).toEqual([['job', [2]]]);
    expect(move.vms[0]?.memory.map((t) => [t.from, t.to])).toEqual([[1, 2]]);
    const target = listOf(move.vms[0]?.after.cpus ?? []);
    expect((move.vms[0]?.after.cpus ?? []).every((c) => NODE_CPUS[2]?.includes(c))).toBe(true);

    // The dry run prints the process's commands and moves nothing.
    const dry = await g.run(`${NUMAPLAN} apply-plan ${DIR}/plan.json --state ${STATE} --pid job=${pid} --json`);
    expect(dry.code, dry.stderr).toBe(0);
    const dryDoc = JSON.parse(dry.stdout) as { applied: boolean; recorded: boolean; steps: { commands: { commands: string[] }[] }[] };
    expect(dryDoc).toMatchObject({ applied: false, recorded: false });
    const cg = '/sys/fs/cgroup/numaplan-job';
    const own = (field: string): string => `$(sed -n 's/^${field}:\\s*//p' /proc/${pid}/status)`;
    expect(dryDoc.steps[0]?.commands[0]?.commands).toEqual([
      `mkdir -p ${cg} && echo ${own('Cpus_allowed_list')} > ${cg}/cpuset.cpus && echo ${own('Mems_allowed_list')} > ${cg}/cpuset.mems && echo ${pid} > ${cg}/cgroup.procs`,
      `echo ${target} > ${cg}/cpuset.cpus && taskset -a -p -c ${target} ${pid}`,
      `migratepages ${pid} 1 2`,
      `echo 2 > ${cg}/cpuset.mems`,
    ]);
    expect((await look(g, pid)).bufferPages['1'] ?? 0).toBeGreaterThanOrEqual(BUFFER_PAGES);

    const applied = await g.run(`${NUMAPLAN} apply-plan ${DIR}/plan.json --state ${STATE} --pid job=${pid} --apply --now 5000 --json`);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const doc = JSON.parse(applied.stdout) as { ok: boolean; applied: boolean; recorded: boolean; steps: { executed: { ok: boolean; actions: { kind: string; ok: boolean; detail: string }[] }[] }[] };
    expect(doc).toMatchObject({ ok: true, applied: true, recorded: true });
    const actions = doc.steps[0]?.executed[0]?.actions ?? [];
    expect(actions.map((a) => [a.kind, a.ok])).toEqual([['join', true], ['pin', true], ['migrate', true], ['policy', true]]);
    // Its cpuset started as the process's own CPUs (joining resets a task's affinity to its cpuset's).
    expect(actions[0]?.detail).toBe(`in numaplan-job (cpuset.cpus ${listOf(job.cpus)}, cpuset.mems 0-3)`);

    // The kernel's word, read by the test: every thread on node 2's CPUs, node 2 only, every anonymous page there.
    const after = await look(g, pid);
    expect(after.threadCpus).toHaveLength(3);
    expect(after.threadCpus.every((c) => c === target), after.threadCpus.join(' ')).toBe(true);
    expect(after.mems).toBe('2');
    expect(after.bufferPolicy).toBe('bind:2');
    expect(after.bufferPages, JSON.stringify(after.bufferPages)).toEqual({ 2: expect.any(Number) });
    expect(after.bufferPages['2']).toBeGreaterThanOrEqual(BUFFER_PAGES);
    expect(Object.keys(after.pagesByNode), JSON.stringify(after.pagesByNode)).toEqual(['2']);

    // The state file records the move (and its time, for the cool-down).
    const state = JSON.parse(await g.readFile(STATE)) as { allocations: { name: string; nodes: number[]; movedAt?: number }[] };
    expect(state.allocations.find((a) => a.name === 'job')).toMatchObject({ nodes: [2], movedAt: 5000 });

    // The process carries on with its buffer intact, and numaplan run passes its exit status through.
    await g.runOk(`touch ${DIR}/go`);
    const ended = await run.wait({ timeoutMs: 60_000 });
    expect(ended.code, ended.stdout + ended.stderr).toBe(0);
  }, 600_000);
});
