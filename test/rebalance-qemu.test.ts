/**
 * `numaplan apply-plan --qmp VM=SOCKET`: the moves of a QEMU guest.
 * - The pure part: the actions built from a planned move and QEMU's thread map (each vCPU thread to
 *   its planned CPU, a shared VM's to the VM's CPUs, the other threads to the emulator CPUs, memory
 *   node by node, the cpuset narrowed), as launch would have pinned the new allocation.
 * - The /proc part on captured trees: the thread group of QMP's vCPU threads, and the checks after a
 *   move thread by thread.
 * - The CLI against real QEMUs started here (TCG, paused: their vCPU threads never run): the dry run
 *   prints each thread's command with QEMU's own thread ids; a bad spec, a socket nobody serves, a VM
 *   the plan does not move and a QEMU with another number of vCPUs are exit 2 naming --qmp; --apply
 *   on a QEMU whose vCPUs run elsewhere than the plan saw is refused before anything runs.
 * The move itself, on a multi-node kernel and read back from /proc, is test/guest-rebalance.test.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkProcess } from '../src/adapters/apply/move-process.js';
import { readQemuThreads, threadsOf } from '../src/adapters/apply/qemu-threads.js';
import type { Plan, VmMove } from '../src/core/rebalance/plan.js';
import { type QemuThreads, qemuMove, qemuThreadTargets } from '../src/core/rebalance/process-actions.js';
import { formatCpuList } from '../src/core/topology/cpulist.js';
import { runCli } from './support/cli.js';
import { tool } from './support/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-qemu-apply-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const state = join(dir, 'host.json');
const planFile = join(dir, 'plan.json');
let plan: Plan;
let wide: VmMove;

/** EPYC NPS4 with a filler on every node, `wide` (12 vCPUs) over two; a filler leaves, and the plan narrows `wide`. */
beforeAll(async () => {
  const fillers = Array.from({ length: 8 }, (_, n) => ['--vm', `name=f${n},vcpus=40,memory=16G,smt=prefer`]).flat();
  expect((await runCli(['place', '--host', 'preset:epyc-2s-nps4', '--state', state, ...fillers, '--vm', 'name=wide,vcpus=12,memory=24G,smt=prefer', '--json'])).code).toBe(0);
  const doc = JSON.parse(readFileSync(state, 'utf8'));
  const w = doc.allocations.find((a: { name: string }) => a.name === 'wide');
  const leaving = doc.allocations.find((a: { name: string; nodes: number[] }) => a.name.startsWith('f') && !w.nodes.includes(a.nodes[0]));
  expect((await runCli(['release', '--state', state, leaving.name])).code).toBe(0);
  expect((await runCli(['rebalance', '--state', state, '--horizon', '1h', '--now', '0', '-o', planFile])).code).toBe(0);
  plan = JSON.parse(readFileSync(planFile, 'utf8')) as Plan;
  wide = plan.moves[0]?.vms[0] as VmMove;
  expect(wide.vm).toBe('wide');
  expect(wide.memory.length).toBeGreaterThan(0);
});

/** A thread map like QMP's and /proc's for a QEMU of `vcpus` vCPUs (thread ids 1000+). */
function threadMap(vcpus: number, extra: Partial<QemuThreads> = {}): QemuThreads {
  return {
    pid: 900,
    vcpus: Array.from({ length: vcpus }, (_, i) => ({ vcpu: i, tid: 1000 + i })),
    iothreads: [],
    others: [900, 901],
    cpusNow: '0-255',
    ...extra,
  };
}

describe('qemuMove: the actions of a QEMU guest\'s part of a move', () => {
  it('pins each vCPU thread to its planned CPU, the other threads to the VM\'s CPUs, moves memory node by node, narrows the cpuset', () => {
    const q = threadMap(12, { iothreads: [{ id: 'iothread1', tid: 950 }] });
    const m = qemuMove(wide, q);
    const cg = '/sys/fs/cgroup/numaplan-wide';
    const all = formatCpuList([...new Set(wide.after.cpus)].sort((a, b) => a - b));
    // The plan gives `wide` no emulator CPUs of its own: its other threads share its vCPUs' CPUs, as launch pins them.
    expect(wide.after.emulatorCpus).toEqual([]);
    expect(m.kind).toBe('qemu');
    expect(m.actions.map((a) => a.command)).toEqual([
      `mkdir -p ${cg} && echo 0-255 > ${cg}/cpuset.cpus && echo $(sed -n 's/^Mems_allowed_list:\\s*//p' /proc/900/status) > ${cg}/cpuset.mems && echo 900 > ${cg}/cgroup.procs`,
      `echo ${all} > ${cg}/cpuset.cpus`,
      ...wide.after.cpus.map((cpu, i) => `taskset -p -c ${cpu} ${1000 + i}  # vCPU ${i}`),
      `taskset -p -c ${all} 950  # I/O thread iothread1`,
      `taskset -p -c ${all} 900  # emulator`,
      `taskset -p -c ${all} 901  # emulator`,
      ...wide.memory.map((t) => `migratepages 900 ${t.from} ${t.to}`),
      `echo ${wide.after.nodes.join(',')} > ${cg}/cpuset.mems`,
    ]);
    expect(m.target).toMatchObject({ cpus: all, nodes: wide.after.nodes.join(','), policy: 'bind' });
    expect(m.target.threads?.filter((t) => t.thread.startsWith('vCPU ')).map((t) => Number(t.cpus))).toEqual(wide.after.cpus);
  });

  it('the emulator CPUs of the plan take the other threads; a shared VM\'s vCPU threads float over its CPUs', () => {
    const emulator = { ...wide, after: { ...wide.after, emulatorCpus: [wide.after.cpus[0] as number] } };
    const t = qemuThreadTargets(emulator, threadMap(12));
    expect(t.filter((x) => x.thread === 'emulator').map((x) => x.cpus)).toEqual([String(wide.after.cpus[0]), String(wide.after.cpus[0])]);
    const shared = { ...wide, after: { ...wide.after, request: { ...wide.after.request, cpuPolicy: 'shared' as const } } };
    const all = formatCpuList([...new Set(wide.after.cpus)].sort((a, b) => a - b));
    expect(new Set(qemuThreadTargets(shared, threadMap(12)).map((x) => x.cpus))).toEqual(new Set([all]));
  });

  it('refuses a thread map with another number of vCPUs than the plan\'s VM', () => {
    expect(() => qemuMove(wide, threadMap(2))).toThrow(/QEMU has 2 vCPU\(s\), wide has 12 in the plan/);
  });
});

/** A captured /proc: each thread (tid -> status fields) under the thread group `pid`, and its numa_maps. */
function capturedProc(pid: number, tasks: Record<number, { tgid?: number; cpus: string }>, maps: string[] = []): string {
  const root = mkdtempSync(join(dir, 'proc-'));
  for (const [tid, t] of Object.entries(tasks)) {
    const status = `Name:\tqemu\nTgid:\t${t.tgid ?? pid}\nPid:\t${tid}\nCpus_allowed_list:\t${t.cpus}\nMems_allowed_list:\t2\n`;
    mkdirSync(join(root, 'proc', String(pid), 'task', tid), { recursive: true });
    writeFileSync(join(root, 'proc', String(pid), 'task', tid, 'status'), status);
    mkdirSync(join(root, 'proc', tid), { recursive: true });
    writeFileSync(join(root, 'proc', tid, 'status'), status);
  }
  writeFileSync(join(root, 'proc', String(pid), 'numa_maps'), `${maps.join('\n')}\n`);
  return root;
}

describe('QEMU threads from QMP and /proc (captured trees)', () => {
  const cpus = [
    { 'cpu-index': 0, 'thread-id': 501, props: { 'core-id': 0 }, 'qom-path': '/machine/unattached/device[0]', target: 'x86_64' },
    { 'cpu-index': 1, 'thread-id': 502, props: { 'core-id': 1 }, 'qom-path': '/machine/unattached/device[1]', target: 'x86_64' },
  ];

  it('the process is the thread group of the vCPU threads; its other threads are the rest of /proc/PID/task, a vhost-PID kernel thread its vhost worker', () => {
    const root = capturedProc(500, { 500: { cpus: '2-3' }, 501: { cpus: '2' }, 502: { cpus: '3' }, 503: { cpus: '2-3' }, 510: { cpus: '0-1' } });
    expect(threadsOf(cpus, [{ id: 'iothread1', 'thread-id': 503, 'poll-max-ns': 32768 }], root)).toEqual({
      pid: 500,
      vcpus: [{ vcpu: 0, tid: 501 }, { vcpu: 1, tid: 502 }],
      iothreads: [{ id: 'iothread1', tid: 503 }],
      others: [500, 510],
      cpusNow: '0-3',
    });
    // A kernel thread (its own thread group) named after the QEMU: a vhost-net worker before Linux 6.4.
    mkdirSync(join(root, 'proc', '530'));
    writeFileSync(join(root, 'proc', '530', 'status'), 'Name:\tvhost-500\nTgid:\t530\nCpus_allowed_list:\t0-3\n');
    writeFileSync(join(root, 'proc', '530', 'comm'), 'vhost-500\n');
    const q = threadsOf(cpus, [], root);
    expect(q.vhost).toEqual([530]);
    const targets = qemuThreadTargets({ ...wide, after: { ...wide.after, cpus: [4, 5], emulatorCpus: [6] } }, q);
    expect(targets.map((t) => [t.thread, t.tid, t.cpus])).toEqual([['vCPU 0', 501, '4'], ['vCPU 1', 502, '5'], ['emulator', 500, '6'], ['emulator', 503, '6'], ['emulator', 510, '6'], ['vhost worker', 530, '6']]);
    // Checked from the kernel thread's own /proc/TID/status.
    const check = checkProcess(500, { cpus: '4-6', nodes: '2', policy: 'bind', threads: targets }, root);
    expect(check.threads?.find((t) => t.tid === 530)).toEqual({ tid: 530, thread: 'vhost worker', planned: '6', observed: '0-3', ok: false });
  });

  it('vCPU threads of two processes, or not in this /proc, are errors', () => {
    const two = capturedProc(500, { 500: { cpus: '2-3' }, 501: { cpus: '2' }, 502: { tgid: 600, cpus: '3' } });
    expect(() => threadsOf(cpus, [], two)).toThrow(/belong to 2 processes \(500, 600\), not one QEMU/);
    const none = capturedProc(500, { 500: { cpus: '2-3' }, 501: { cpus: '2' } });
    expect(() => threadsOf(cpus, [], none)).toThrow(/vCPU 1's thread 502 is not in this machine's \/proc/);
    expect(() => threadsOf([], [], none)).toThrow(/expected a list of vCPUs/);
  });

  it('after a move: each vCPU thread on its planned CPU, the others on the emulator CPUs, a new thread within the VM\'s CPUs', () => {
    const target = { cpus: '4-5', nodes: '2', policy: 'bind' as const, orDefault: true, threads: [
      { tid: 501, thread: 'vCPU 0', cpus: '4' },
      { tid: 502, thread: 'vCPU 1', cpus: '5' },
      { tid: 500, thread: 'emulator', cpus: '4-5' },
      { tid: 505, thread: 'emulator', cpus: '4-5' },
    ] };
    const maps = ['7f0000000000 bind:2 anon=16384 dirty=16384 N2=16384 kernelpagesize_kB=4', '55d000000000 default heap anon=900 N2=900', '7f1000000000 default file=/usr/bin/qemu-system-x86_64 mapped=40 N0=40'];
    // 505 has exited (a worker); 520 started after planning, on the VM's CPUs.
    const good = capturedProc(500, { 500: { cpus: '4-5' }, 501: { cpus: '4' }, 502: { cpus: '5' }, 520: { cpus: '4-5' } }, maps);
    const ok = checkProcess(500, target, good);
    expect(ok.checks.filter((c) => !c.ok)).toEqual([]);
    expect(ok.threads?.map((t) => [t.thread, t.tid, t.observed, t.ok])).toEqual([
      ['vCPU 0', 501, '4', true],
      ['vCPU 1', 502, '5', true],
      ['emulator', 500, '4-5', true],
      ['emulator', 505, '', true],
      ['new', 520, '4-5', true],
    ]);
    expect(ok.checks.find((c) => c.name === 'policy')?.detail).toBe('anonymous mappings bind:2 (the others without a policy, as before)');
    expect(ok.pages).toEqual({ 2: 17284 });

    // vCPU 1 still on its old CPU, a new thread elsewhere, guest RAM left on node 1, a mapping on the old policy.
    const bad = capturedProc(500, { 500: { cpus: '4-5' }, 501: { cpus: '4' }, 502: { cpus: '3' }, 520: { cpus: '0-1' } }, ['7f0000000000 bind:1 anon=16384 N1=100 N2=16284 kernelpagesize_kB=4']);
    const no = checkProcess(500, target, bad);
    expect(no.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['cpus', 'policy', 'pages']);
    expect(no.checks.find((c) => c.name === 'cpus')?.detail).toBe('2 of 5 thread(s) not as planned: vCPU 1 thread 502 has 3, planned 5; new thread 520 has 0-1, planned 4-5');
    expect(no.checks.find((c) => c.name === 'pages')?.detail).toBe('pages left outside 2: N1=100');
    // Without orDefault (a process with a policy), a mapping without one is wrong.
    expect(checkProcess(500, { ...target, orDefault: false }, good).checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['policy']);
  });
});

/** A paused TCG QEMU with `vcpus` vCPUs serving QMP on DIR/NAME.sock. */
async function startQemu(name: string, vcpus: number): Promise<{ child: ChildProcess; socket: string }> {
  const socket = join(dir, `${name}.sock`);
  const child = spawn('qemu-system-x86_64', ['-machine', 'pc,accel=tcg', '-smp', String(vcpus), '-m', '32M', '-S', '-nodefaults', '-display', 'none', '-qmp', `unix:${socket},server=on,wait=off`], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  while (!existsSync(socket)) {
    if (child.exitCode !== null) throw new Error(`QEMU exited (${child.exitCode})`);
    await Promise.race([new Promise((r) => setTimeout(r, 20)), exited]);
  }
  return { child, socket };
}

describe('apply-plan --help', () => {
  it('says what --qmp does, with examples', async () => {
    const r = await runCli(['apply-plan', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('--qmp <vm=socket>');
    expect(r.out).toContain('numaplan apply-plan plan.json --state host.json --qmp vm1=/run/vm1.qmp --apply --json');
    expect(r.out).toMatch(/each vCPU thread is pinned with\s+taskset -p to its planned CPU/);
  });
});

describe.skipIf(!tool('qemu-system-x86_64'))('apply-plan --qmp against real QEMUs (paused)', () => {
  const qemus: ChildProcess[] = [];
  afterAll(() => {
    for (const q of qemus) q.kill('SIGKILL');
  });

  it('a dry run prints each thread\'s command with QEMU\'s own thread ids and changes nothing', async () => {
    const q = await startQemu('wide', 12);
    qemus.push(q.child);
    const threads = await readQemuThreads(q.socket);
    expect(threads.pid).toBe(q.child.pid);
    expect(threads.vcpus.map((v) => v.vcpu)).toEqual([...Array(12).keys()]);
    const before = readFileSync(state, 'utf8');
    const r = await runCli(['apply-plan', planFile, '--state', state, '--qmp', `wide=${q.socket}`, '--json']);
    expect(r.code, r.err).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ ok: true, applied: false, recorded: false });
    const cmds: string[] = doc.steps[0].commands[0].commands;
    expect(cmds.filter((c) => c.includes('# vCPU'))).toEqual(threads.vcpus.map((v) => `taskset -p -c ${wide.after.cpus[v.vcpu]} ${v.tid}  # vCPU ${v.vcpu}`));
    expect(cmds.filter((c) => c.endsWith('# emulator')).length).toBe(threads.others.length);
    expect(cmds.filter((c) => c.startsWith('migratepages'))).toEqual(wide.memory.map((t) => `migratepages ${q.child.pid} ${t.from} ${t.to}`));
    expect(doc.steps[0].commands[0].notes[0]).toMatch(new RegExp(`^QEMU pid ${q.child.pid} \\(QMP ${q.socket}\\)`));
    const text = await runCli(['apply-plan', planFile, '--state', state, '--qmp', `wide=${q.socket}`]);
    expect(text.out).toContain(`taskset -p -c ${wide.after.cpus[0]} ${threads.vcpus[0]?.tid}  # vCPU 0`);
    expect(text.out).toMatch(/nothing was changed \(dry run\).*--apply/);
    expect(readFileSync(state, 'utf8')).toBe(before);

    // --apply on a QEMU whose vCPU threads run on CPUs the plan never saw the VM on: refused, nothing run.
    const seen = new Set(wide.before.cpus);
    const affinity = readFileSync(`/proc/${q.child.pid}/task/${threads.vcpus[0]?.tid}/status`, 'utf8').match(/^Cpus_allowed_list:\s*(.*)$/m)?.[1] ?? '';
    expect(affinity.split(',').flatMap((r) => {
      const [a, b] = r.split('-').map(Number) as [number, number?];
      return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
    }).every((c) => seen.has(c)), `this machine's CPUs ${affinity} are all among wide's planned ones`).toBe(false);
    const applied = await runCli(['apply-plan', planFile, '--state', state, '--qmp', `wide=${q.socket}`, '--apply', '--json']);
    expect(applied.code).toBe(1);
    const a = JSON.parse(applied.out);
    expect(a.steps[0]).toMatchObject({ ok: false, code: 'stale' });
    expect(a.steps[0].executed[0]).toMatchObject({ kind: 'qemu', pid: q.child.pid, actions: [], refused: expect.stringMatching(/^vCPU 0 thread \d+ runs on CPUs .*not the VM's QEMU, or it moved since planning/) });
    expect(readFileSync(state, 'utf8')).toBe(before);
  });

  it('bad --qmp values: exit 2 naming --qmp (spec, no socket, a VM the plan does not move, another vCPU count, both --pid and --qmp)', async () => {
    const small = await startQemu('small', 2);
    qemus.push(small.child);
    const cases: [string[], RegExp][] = [
      [['--qmp', 'wide'], /expected VM=SOCKET/],
      [['--qmp', `wide=${join(dir, 'nobody.sock')}`], /VM "wide": qmp: cannot connect to .*nobody\.sock/],
      [['--qmp', `nobody=${small.socket}`], /VM "nobody" is not moved by the plan \(it moves wide\)/],
      [['--qmp', `wide=${small.socket}`], new RegExp(`the QEMU on .*small\\.sock \\(pid ${small.child.pid}\\) has 2 vCPU\\(s\\) \\(cpu-index 0,1\\), the plan's wide has 12: not this VM's QEMU`)],
      [['--qmp', `wide=${small.socket}`, '--pid', 'wide=4242'], /given both --pid and --qmp/],
      [['--qmp', 'wide=/a', '--qmp', 'wide=/b'], /VM "wide" is given twice/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['apply-plan', planFile, '--state', state, ...args, '--json']);
      expect(r.code, args.join(' ')).toBe(2);
      const e = JSON.parse(r.out).error;
      expect(e.path, args.join(' ')).toBe('--qmp');
      expect(e.message, args.join(' ')).toMatch(message);
    }
  });
});
