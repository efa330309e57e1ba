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
 *
 * The same for a QEMU guest that `numaplan launch qemu` started (nested, TCG, paused: its vCPUs never
 * run), 2 vCPUs and 64 MiB of preallocated guest RAM over nodes 1 and 2: after node 2 frees up,
 * `numaplan apply-plan --qmp vm=SOCKET --apply` re-pins its threads and moves its memory. The test
 * asks QEMU itself for its vCPU threads (QMP query-cpus-fast on the socket) and reads their
 * Cpus_allowed_list and the process's numa_maps: every vCPU thread on its planned node-2 CPU, the
 * guest RAM (the memory backends' mappings) and every other anonymous page on node 2.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';
import { QMP_SCRIPT } from './support/qmp-script.js';
import { guestCli } from './support/guest/cli.js';
import { type Guest, type GuestShape, guestAvailable, shq, useGuest } from './support/guest/index.js';
import { assertBuilt } from './guest-live-checks.js';

/** numaplan as a process of its own, for `launch` (the test reads its report while QEMU runs); the other commands go to the guest's CLI server (guestCli). */
const NUMAPLAN = `node ${shq(join(REPO_ROOT, 'bin', 'numaplan.js'))}`;

const QMP = QMP_SCRIPT;

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
/** The nested QEMU's guest RAM, in 4 KiB pages. */
const GUEST_RAM_PAGES = (64 << 20) / 4096;

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

/** What the kernel shows of a QEMU: each vCPU thread's allowed CPUs, all threads' allowed CPUs, allowed nodes, guest RAM and other anonymous pages per node. */
interface SeenQemu {
  vcpuCpus: string[];
  threadCpus: string[];
  mems: string;
  /** The mappings with a memory policy (the memory backends, host-nodes=): policy and pages per node. */
  ram: { policy: string; pages: Record<string, number> }[];
  /** Every anonymous page (file mappings left out), per node. */
  anonByNode: Record<string, number>;
}

async function lookQemu(g: Guest, sock: string): Promise<SeenQemu & { pid: number; tids: number[] }> {
  const [cpus] = JSON.parse(await g.runOk(`node -e ${shq(QMP)} ${sock} ${shq(JSON.stringify({ execute: 'query-cpus-fast' }))}`)) as [{ return: { 'cpu-index': number; 'thread-id': number }[] }];
  const tids = [...cpus.return].sort((a, b) => a['cpu-index'] - b['cpu-index']).map((c) => c['thread-id']);
  const pid = Number((await g.runOk(`sed -n 's/^Tgid:\\s*//p' /proc/${tids[0]}/status`)).trim());
  const field = `sed -n 's/^Cpus_allowed_list:\\s*//p'`;
  const out = await g.runOk(
    `for t in ${tids.join(' ')}; do ${field} /proc/${pid}/task/$t/status; done; echo @@@; for t in /proc/${pid}/task/*; do ${field} $t/status; done; echo @@@; sed -n 's/^Mems_allowed_list:\\s*//p' /proc/${pid}/status; echo @@@; cat /proc/${pid}/numa_maps`,
  );
  const [vcpus, threads, mems, maps] = out.split('@@@\n') as [string, string, string, string];
  const seen: SeenQemu & { pid: number; tids: number[] } = { pid, tids, vcpuCpus: vcpus.trim().split('\n'), threadCpus: threads.trim().split('\n'), mems: mems.trim(), ram: [], anonByNode: {} };
  for (const line of maps.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 3 || !parts.some((p) => p.startsWith('anon=') || p === 'heap' || p === 'stack') || parts.some((p) => p.startsWith('file='))) continue;
    const pages: Record<string, number> = {};
    for (const p of parts) {
      const m = /^N(\d+)=(\d+)$/.exec(p);
      if (!m) continue;
      pages[m[1] as string] = Number(m[2]);
      seen.anonByNode[m[1] as string] = (seen.anonByNode[m[1] as string] ?? 0) + Number(m[2]);
    }
    if (parts[1] !== 'default') seen.ram.push({ policy: parts[1] as string, pages });
  }
  return seen;
}

const sum = (pages: Record<string, number>): number => Object.values(pages).reduce((s, c) => s + c, 0);

describe.skipIf(!guestAvailable())('a rebalancing move of a process on a live four-node kernel', () => {
  const guest = useGuest(SHAPE);

  it('rebalance narrows a spread process to node 2; apply-plan --apply moves its threads, policy and pages, and numa_maps shows every page on node 2', async () => {
    assertBuilt();
    const g = guest();
    const np = await guestCli(g);
    await g.runOk(`rm -rf ${DIR} && mkdir -p ${DIR}`);
    // A busy host: one CPU free on node 1 and one on node 2 (CPU 0 is the host's), so job spreads.
    const fill = 'name=f0,vcpus=1,memory=32M,nodes=0 --vm name=f1,vcpus=1,memory=32M,nodes=1 --vm name=f2,vcpus=1,memory=32M,nodes=2 --vm name=f3,vcpus=2,memory=32M,nodes=3';
    await g.runOk(`${np} place --host sysfs --state ${STATE} --vm ${fill} --json`);
    const placed = JSON.parse(await g.runOk(`${np} place --state ${STATE} --vm name=job,vcpus=2,memory=32M --json | tee ${DIR}/job.json`)) as { placements: { nodes: number[]; cpus: number[] }[] };
    const job = placed.placements[0] as { nodes: number[]; cpus: number[] };
    expect(job.nodes).toEqual([1, 2]);
    const node1Cpu = job.cpus.find((c) => NODE_CPUS[1]?.includes(c)) as number;
    expect(node1Cpu).toBeDefined();

    const run = await g.spawn(`${np} run --placement ${DIR}/job.json --ready-line ready -- python3 -c ${shq(JOB)} ${DIR} ${node1Cpu}`);
    await g.runOk(`i=0; while [ ! -f ${DIR}/pid ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; test -f ${DIR}/pid`, { timeoutMs: 150_000 });
    const pid = Number((await g.readFile(`${DIR}/pid`)).trim());
    const before = await look(g, pid);
    expect(before.threadCpus).toHaveLength(3);
    expect(before.threadCpus.every((c) => c === listOf(job.cpus))).toBe(true);
    expect(before.bufferPolicy).toBe('bind:1-2');
    expect(before.bufferPages['1'] ?? 0, JSON.stringify(before.bufferPages)).toBeGreaterThanOrEqual(BUFFER_PAGES);

    // Node 2's other VM leaves: job fits on node 2 alone.
    await g.runOk(`${np} release --state ${STATE} f2`);
    const planned = JSON.parse(await g.runOk(`${np} rebalance --state ${STATE} --horizon 1h --json -o ${DIR}/plan.json`)) as {
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
    const dry = await g.run(`${np} apply-plan ${DIR}/plan.json --state ${STATE} --pid job=${pid} --json`);
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

    const applied = await g.run(`${np} apply-plan ${DIR}/plan.json --state ${STATE} --pid job=${pid} --apply --now 5000 --json`);
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
  it('a QEMU guest numaplan launched over nodes 1 and 2: apply-plan --qmp --apply pins each vCPU thread on node 2 and numa_maps shows its 64 MiB of guest RAM there', async () => {
    assertBuilt();
    const g = guest();
    const np = await guestCli(g);
    const dir = '/tmp/rebalance-qemu';
    const state = `${dir}/host.json`;
    const sock = `${dir}/vm.qmp`;
    await g.runOk(`rm -rf ${dir} && mkdir -p ${dir}`);
    // The same busy host as above: the VM spreads over node 1 and node 2.
    const fill = 'name=f0,vcpus=1,memory=32M,nodes=0 --vm name=f1,vcpus=1,memory=32M,nodes=1 --vm name=f2,vcpus=1,memory=32M,nodes=2 --vm name=f3,vcpus=2,memory=32M,nodes=3';
    await g.runOk(`${np} place --host sysfs --state ${state} --vm ${fill} --json`);
    const placed = JSON.parse(await g.runOk(`${np} place --state ${state} --vm name=vm,vcpus=2,memory=64M --json | tee ${dir}/vm.json`)) as { placements: { nodes: number[]; cpus: number[] }[] };
    const vm = placed.placements[0] as { nodes: number[]; cpus: number[] };
    expect(vm.nodes).toEqual([1, 2]);

    // launch pins it as placed; -mem-prealloc puts every page of its guest RAM on the backends' nodes now; QMP on a socket of the test's.
    const launch = await g.spawn(`exec ${NUMAPLAN} launch qemu --placement ${dir}/vm.json --accel tcg --paused --json -- -mem-prealloc -nodefaults -qmp unix:${sock},server=on,wait=off > ${dir}/launch.json`);
    try {
      await g.runOk(`while ! grep -q '^}' ${dir}/launch.json 2>/dev/null; do kill -0 ${launch.pid} || exit 1; sleep 0.2; done`, { timeoutMs: 300_000 });
      const report = JSON.parse(await g.readFile(`${dir}/launch.json`)) as { ok: boolean; pid: number };
      expect(report.ok).toBe(true);
      const before = await lookQemu(g, sock);
      expect(before.pid).toBe(report.pid);
      expect(before.vcpuCpus).toEqual(vm.cpus.map(String));
      const ramBefore = before.ram.reduce((s, r) => s + sum(r.pages), 0);
      expect(ramBefore, JSON.stringify(before.ram)).toBeGreaterThanOrEqual(GUEST_RAM_PAGES);
      expect(before.ram.reduce((s, r) => s + (r.pages['1'] ?? 0), 0), JSON.stringify(before.ram)).toBeGreaterThan(0);

      // Node 2's other VM leaves: the plan narrows vm to node 2.
      await g.runOk(`${np} release --state ${state} f2`);
      const planned = JSON.parse(await g.runOk(`${np} rebalance --state ${state} --horizon 1h --json -o ${dir}/plan.json`)) as {
        plan: { moves: { kind: string; vms: { vm: string; after: { nodes: number[]; cpus: number[] }; memory: { from: number; to: number }[] }[] }[] };
      };
      expect(planned.plan.moves.map((m) => [m.kind, m.vms.map((v) => [v.vm, v.after.nodes])])).toEqual([['narrow', [['vm', [2]]]]]);
      const move = planned.plan.moves[0]?.vms[0] as (typeof planned.plan.moves)[number]['vms'][number];
      expect(move.memory.map((t) => [t.from, t.to])).toEqual([[1, 2]]);
      expect(move.after.cpus.every((c) => NODE_CPUS[2]?.includes(c))).toBe(true);

      // The dry run: QEMU's own thread ids in the commands, nothing moved.
      const dry = await g.run(`${np} apply-plan ${dir}/plan.json --state ${state} --qmp vm=${sock} --json`);
      expect(dry.code, dry.stdout + dry.stderr).toBe(0);
      const commands = (JSON.parse(dry.stdout) as { steps: { commands: { commands: string[] }[] }[] }).steps[0]?.commands[0]?.commands ?? [];
      expect(commands.filter((c) => c.includes('# vCPU'))).toEqual(before.tids.map((tid, i) => `taskset -p -c ${move.after.cpus[i]} ${tid}  # vCPU ${i}`));
      expect(commands.filter((c) => c.startsWith('migratepages'))).toEqual([`migratepages ${before.pid} 1 2`]);
      const text = await g.runOk(`${np} apply-plan ${dir}/plan.json --state ${state} --qmp vm=${sock}`);
      expect(text).toContain(`taskset -p -c ${move.after.cpus[1]} ${before.tids[1]}  # vCPU 1`);
      expect(text).toContain(`# note: QEMU pid ${before.pid} (QMP ${sock})`);
      console.log(`apply-plan --qmp, dry run:\n${text}`);
      expect((await lookQemu(g, sock)).vcpuCpus).toEqual(vm.cpus.map(String));

      const applied = await g.run(`${np} apply-plan ${dir}/plan.json --state ${state} --qmp vm=${sock} --apply --now 7000 --json`);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      const doc = JSON.parse(applied.stdout) as { ok: boolean; applied: boolean; recorded: boolean; steps: { executed: { kind: string; pid: number; ok: boolean; actions: { kind: string; ok: boolean }[]; threads: { thread: string; observed: string; ok: boolean }[]; checks: { name: string; ok: boolean; detail: string }[]; pagesBefore: Record<string, number>; pagesAfter: Record<string, number> }[] }[] };
      expect(doc).toMatchObject({ ok: true, applied: true, recorded: true });
      const executed = doc.steps[0]?.executed[0];
      expect(executed).toMatchObject({ kind: 'qemu', pid: before.pid, ok: true });
      expect([...new Set(executed?.actions.map((a) => `${a.kind}:${a.ok}`))]).toEqual(['join:true', 'pin:true', 'pin-thread:true', 'migrate:true', 'policy:true']);
      expect(executed?.threads.filter((t) => t.thread.startsWith('vCPU ')).map((t) => t.observed)).toEqual(move.after.cpus.map(String));
      expect(executed?.checks.map((c) => [c.name, c.ok])).toEqual([['cpus', true], ['mems', true], ['policy', true], ['pages', true]]);
      console.log(`apply-plan --qmp --apply, the checks:\n${executed?.checks.map((c) => `${c.name}: ${c.detail}`).join('\n')}\nanonymous pages before ${JSON.stringify(executed?.pagesBefore)}, after ${JSON.stringify(executed?.pagesAfter)}`);

      // The kernel's word, read by the test: each vCPU thread on its node-2 CPU, every thread on node 2's CPUs, the guest RAM and every anonymous page on node 2.
      const after = await lookQemu(g, sock);
      expect(after.tids).toEqual(before.tids);
      expect(after.vcpuCpus).toEqual(move.after.cpus.map(String));
      // Its other threads (main loop, RCU, workers) on the VM's CPUs, as launch pins a VM without emulator CPUs of its own.
      const others = after.threadCpus.length - after.vcpuCpus.length;
      expect(others).toBeGreaterThan(0);
      expect([...after.threadCpus].sort(), after.threadCpus.join(' ')).toEqual([...after.vcpuCpus, ...Array<string>(others).fill(listOf(move.after.cpus))].sort());
      expect(after.mems).toBe('2');
      expect(after.ram.map((r) => r.policy), JSON.stringify(after.ram)).toEqual(before.ram.map(() => 'bind:2'));
      expect(after.ram.map((r) => Object.keys(r.pages)), JSON.stringify(after.ram)).toEqual(after.ram.map(() => ['2']));
      expect(after.ram.reduce((s, r) => s + (r.pages['2'] ?? 0), 0)).toBeGreaterThanOrEqual(GUEST_RAM_PAGES);
      expect(Object.keys(after.anonByNode), JSON.stringify(after.anonByNode)).toEqual(['2']);

      const recorded = JSON.parse(await g.readFile(state)) as { allocations: { name: string; nodes: number[]; movedAt?: number }[] };
      expect(recorded.allocations.find((a) => a.name === 'vm')).toMatchObject({ nodes: [2], movedAt: 7000 });

      await g.runOk(`node -e ${shq(QMP)} ${sock} ${shq(JSON.stringify({ execute: 'quit' }))}`);
      const done = await launch.wait({ timeoutMs: 60_000 });
      expect(done.code, done.stdout + done.stderr).toBe(0);
    } finally {
      if (await launch.running()) await launch.kill('KILL');
    }
  }, 600_000);
});
