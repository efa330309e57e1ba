/**
 * `numaplan apply-plan --pid VM=PID [--apply]` through the real CLI entry point, on this machine:
 * the process's commands in a dry run, bad --pid values (exit 2 naming --pid), and a pid that is not
 * the VM's process refused before anything runs (exit 1, the state and the process untouched). The
 * move itself, carried out and read back from /proc on a multi-node kernel, is test/guest-rebalance.test.ts.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkProcess } from '../src/adapters/apply/move-process.js';
import { runCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-apply-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const state = join(dir, 'host.json');
const plan = join(dir, 'plan.json');

/** EPYC NPS4 with a filler on every node, `wide` over two; a filler leaves, and the plan narrows `wide`. */
beforeAll(async () => {
  const fillers = Array.from({ length: 8 }, (_, n) => ['--vm', `name=f${n},vcpus=40,memory=16G,smt=prefer`]).flat();
  expect((await runCli(['place', '--host', 'preset:epyc-2s-nps4', '--state', state, ...fillers, '--vm', 'name=wide,vcpus=12,memory=24G,smt=prefer', '--json'])).code).toBe(0);
  const doc = JSON.parse(readFileSync(state, 'utf8'));
  const wide = doc.allocations.find((a: { name: string }) => a.name === 'wide');
  const leaving = doc.allocations.find((a: { name: string; nodes: number[] }) => a.name.startsWith('f') && !wide.nodes.includes(a.nodes[0]));
  expect((await runCli(['release', '--state', state, leaving.name])).code).toBe(0);
  expect((await runCli(['rebalance', '--state', state, '--horizon', '1h', '--now', '0', '-o', plan])).code).toBe(0);
});

describe('apply-plan --pid', () => {
  it('a dry run prints the process commands (its cpuset, taskset on every thread, migratepages node by node, the cpuset narrowed) and changes nothing', async () => {
    const before = readFileSync(state, 'utf8');
    const p = JSON.parse(readFileSync(plan, 'utf8'));
    const v = p.moves[0].vms[0];
    const r = await runCli(['apply-plan', plan, '--state', state, '--pid', 'wide=4242', '--json']);
    expect(r.code, r.err).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ ok: true, applied: false, recorded: false });
    const cmds: string[] = doc.steps[0].commands[0].commands;
    const cg = '/sys/fs/cgroup/numaplan-wide';
    expect(cmds[0]).toBe(
      `mkdir -p ${cg} && echo $(sed -n 's/^Cpus_allowed_list:\\s*//p' /proc/4242/status) > ${cg}/cpuset.cpus && ` +
        `echo $(sed -n 's/^Mems_allowed_list:\\s*//p' /proc/4242/status) > ${cg}/cpuset.mems && echo 4242 > ${cg}/cgroup.procs`,
    );
    expect(cmds[1]).toMatch(/^echo ([\d,-]+) > \/sys\/fs\/cgroup\/numaplan-wide\/cpuset.cpus && taskset -a -p -c \1 4242$/);
    expect(cmds.filter((c) => c.startsWith('migratepages'))).toEqual(v.memory.map((t: { from: number; to: number }) => `migratepages 4242 ${t.from} ${t.to}`));
    expect(cmds.at(-1)).toBe(`echo ${v.after.nodes.join(',')} > /sys/fs/cgroup/numaplan-wide/cpuset.mems`);
    expect(cmds.some((c) => c.startsWith('virsh'))).toBe(false);
    const text = await runCli(['apply-plan', plan, '--state', state, '--pid', 'wide=4242']);
    expect(text.out).toMatch(/nothing was changed \(dry run\).*--apply/);
    expect(readFileSync(state, 'utf8')).toBe(before);
  });

  it('bad --pid values and --apply without a pid for every VM: exit 2 naming --pid, nothing run', async () => {
    for (const args of [
      ['--pid', 'wide'],
      ['--pid', 'wide=0'],
      ['--pid', 'wide=12x'],
      ['--pid', 'wide=1', '--pid', 'wide=2'],
      ['--pid', 'nobody=4242'],
      ['--apply'],
    ]) {
      const r = await runCli(['apply-plan', plan, '--state', state, ...args, '--json']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(JSON.parse(r.out).error.path, args.join(' ')).toBe('--pid');
    }
    const r = await runCli(['apply-plan', plan, '--state', state, '--apply']);
    expect(r.err).toMatch(/give --pid wide=PID/);
  });

  it('--apply with a pid that is not the VM\'s process (other CPUs) refuses before running anything: exit 1, state unchanged', async () => {
    const before = readFileSync(state, 'utf8');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const affinity = readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/^Cpus_allowed_list:\s*(.*)$/m)?.[1];
      const r = await runCli(['apply-plan', plan, '--state', state, '--pid', `wide=${child.pid}`, '--apply', '--json']);
      expect(r.code).toBe(1);
      const doc = JSON.parse(r.out);
      expect(doc).toMatchObject({ ok: false, applied: true, recorded: false, notApplied: 1 });
      expect(doc.steps[0]).toMatchObject({ ok: false, code: 'stale' });
      expect(doc.steps[0].executed[0]).toMatchObject({ pid: child.pid, ok: false, actions: [], refused: expect.stringMatching(/not the VM's process, or it moved since planning/) });
      expect(readFileSync(state, 'utf8')).toBe(before);
      expect(readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/^Cpus_allowed_list:\s*(.*)$/m)?.[1]).toBe(affinity);
      const gone = await runCli(['apply-plan', plan, '--state', state, '--pid', 'wide=999999999', '--apply', '--json']);
      expect(gone.code).toBe(1);
      expect(JSON.parse(gone.out).steps[0].executed[0].refused).toBe('no process 999999999');
    } finally {
      child.kill();
    }
  });
});

/** A captured /proc of one process: its threads' allowed CPUs, its allowed nodes, its numa_maps. */
function capturedProc(threadCpus: string[], mems: string, maps: string[]): string {
  const root = mkdtempSync(join(dir, 'proc-'));
  const base = join(root, 'proc', '77');
  threadCpus.forEach((cpus, i) => {
    mkdirSync(join(base, 'task', String(77 + i)), { recursive: true });
    writeFileSync(join(base, 'task', String(77 + i), 'status'), `Name:\tjob\nCpus_allowed_list:\t${cpus}\nMems_allowed_list:\t${mems}\n`);
  });
  writeFileSync(join(base, 'status'), `Name:\tjob\nCpus_allowed_list:\t${threadCpus[0]}\nMems_allowed_list:\t${mems}\n`);
  writeFileSync(join(base, 'numa_maps'), `${maps.join('\n')}\n`);
  return root;
}

describe('checkProcess (the checks after a move, on captured /proc trees)', () => {
  const target = { cpus: '4-5', nodes: '2', policy: 'bind' as const };
  const names = (root: string, t: Parameters<typeof checkProcess>[1] = target): string[] => checkProcess(77, t, root).checks.filter((c) => !c.ok).map((c) => c.name);

  it('passes a process whose every thread, node, policy and anonymous page is on the target', () => {
    const root = capturedProc(['4-5', '4-5'], '2', ['7f0000000000 bind:2 anon=8193 dirty=8193 N2=8193 kernelpagesize_kB=4', '55d000000000 bind:2 heap anon=12 N2=12', '7f1000000000 default file=/usr/lib/libc.so.6 mapped=40 N0=40']);
    expect(names(root)).toEqual([]);
    expect(checkProcess(77, target, root).pages).toEqual({ 2: 8205 });
  });

  it('names each check that fails: a thread elsewhere, other nodes allowed, the old policy, pages left behind', () => {
    const root = capturedProc(['4-5', '3,5'], '0-3', ['7f0000000000 bind:1-2 anon=8193 N1=100 N2=8093 kernelpagesize_kB=4']);
    expect(names(root)).toEqual(['cpus', 'mems', 'policy', 'pages']);
    const detail = checkProcess(77, target, root).checks;
    expect(detail.find((c) => c.name === 'cpus')?.detail).toBe('1 of 2 thread(s) not on 4-5: thread 78 has 3,5');
    expect(detail.find((c) => c.name === 'pages')?.detail).toBe('pages left outside 2: N1=100');
  });

  it('a process without a memory policy is judged on "default" (its cpuset confines it)', () => {
    const root = capturedProc(['4-5'], '2', ['7f0000000000 default anon=8193 N2=8193 kernelpagesize_kB=4']);
    expect(names(root)).toEqual(['policy']);
    expect(names(root, { ...target, policy: 'default' })).toEqual([]);
  });
});
