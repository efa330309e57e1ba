/**
 * Apply on this machine, for real: `numaplan run` binds a process (numactl) and the kernel's view
 * (/proc/PID/status, /proc/PID/numa_maps) matches; a binding naming a CPU or node this machine lacks
 * is refused before anything starts; `numaplan launch qemu` pins each vCPU thread over QMP.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNumaMaps, parseStatusAffinity } from '../src/adapters/apply/proc-files.js';
import { BetweenImages, readBinding, readSettled, runBound } from '../src/adapters/apply/run-bound.js';
import { cli } from './emit-harness.js';
import { type CliProcessResult, runCliProcess } from './support/cli.js';
import { tool } from './support/tools.js';

/** Touches 48 MiB, says so, and ends when its standard input closes (the test closes it once numaplan has checked). */
const TOUCH = "const b = Buffer.alloc(48 << 20, 1); console.log('touched'); process.stdin.resume(); process.stdin.on('end', () => process.exit(b[0] === 1 ? 0 : 3));";

/** `numaplan run ... --ready-line LINE`: closes the command's standard input once numaplan says it checked it while running. */
function runUntilChecked(args: string[]): Promise<CliProcessResult> {
  return runCliProcess(args, 120_000, (err, child) => {
    if (err.includes('numaplan run: checked while running')) child.stdin?.end();
  }, 'pipe');
}

describe('proc parsers', () => {
  it('status and numa_maps', () => {
    expect(parseStatusAffinity('Name:\tx\nCpus_allowed_list:\t1,3-4\nMems_allowed_list:\t0\n')).toEqual({ cpusAllowed: [1, 3, 4], memsAllowed: [0] });
    const [m] = parseNumaMaps('7f00 bind:0-1 anon=12 dirty=12 N0=8 N1=4 kernelpagesize_kB=4\n');
    expect(m).toMatchObject({ policy: 'bind:0-1', anon: true, pagesByNode: { 0: 8, 1: 4 }, pageSize: 4096 });
  });
});

describe('reading a process that may be inside an exec', () => {
  it('a read between two images is read again; a process that ended gives null; any other error passes through', async () => {
    let n = 0;
    const between = () => {
      if (++n < 3) throw new BetweenImages();
      return 'read';
    };
    expect(await readSettled(between, () => true, 5, 1)).toBe('read');
    expect(n).toBe(3);
    n = 0;
    await expect(readSettled(between, () => true, 2, 1)).rejects.toBeInstanceOf(BetweenImages);
    expect(await readSettled(() => 'never', () => false)).toBeNull();
    await expect(readSettled(() => { throw new Error('EACCES'); }, () => true)).rejects.toThrow('EACCES');
  });

  it('a real process that execs itself 3,000 times: every settled read of its /proc has mappings', async () => {
    // numa_maps opened on one image and read after the exec shows nothing (the kernel holds the old
    // memory); numaplan run's check while running reads the command just after its exec.
    const script = 'n=$1; if [ "$n" -gt 0 ]; then exec /bin/sh -c "$0" "$0" $((n-1)); fi';
    const child = spawn('/bin/sh', ['-c', script, script, '3000'], { stdio: 'ignore' });
    let ended = false;
    child.on('exit', () => {
      ended = true;
    });
    const pid = child.pid as number;
    const alive = (): boolean => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return !ended && !/^\S+ \(.*\) [ZX]/.test(stat);
      } catch {
        return false;
      }
    };
    let reads = 0;
    while (!ended) {
      let r: ReturnType<typeof readBinding> | null = null;
      try {
        r = await readSettled(() => readBinding(pid), alive, 50, 1);
      } catch (err) {
        if (alive()) throw err;
      }
      if (r !== null) {
        expect(r.maps.length).toBeGreaterThan(0);
        reads++;
      }
      if (r === null || reads % 200 === 0) await new Promise((res) => setImmediate(res));
    }
    expect(reads).toBeGreaterThan(0);
  }, 120_000);
});

describe.skipIf(!tool('numactl') || !tool('taskset'))('numaplan run binds a real process', () => {
  it('node that allocates and touches 48 MiB, bound by numactl: cpus, mems, policy and pages verified', async () => {
    // The child says when it has touched its memory; numaplan checks then, however slow the machine.
    const r = await runUntilChecked(['run', '--proc', 'name=job,vcpus=1,memory=256M', '--ready-line', 'touched', '--json', '--', process.execPath, '-e', TOUCH]);
    expect(r.err).toContain('touched');
    const report = JSON.parse(r.out);
    const names = ['cpus', 'mems', 'policy', 'pages'];
    expect(report.checks.map((c: { phase: string; name: string }) => `${c.phase} ${c.name}`)).toEqual([...names.map((n) => `start ${n}`), ...names.map((n) => `running ${n}`)]);
    expect(report.ok, JSON.stringify(report.checks)).toBe(true);
    expect(report.checkedWhileRunning).toBe(true);
    expect(report.argv.slice(0, 3)).toEqual(['numactl', `--physcpubind=${report.planned.cpus}`, '--membind=0']);
    expect(report.observed.anonPagesByNode['0']).toBeGreaterThan((48 << 20) / 4096 / 2);
    expect(r.code).toBe(0);
  });

  it('a command that ends at once (`-- true`) is judged on its binding at start, and its exit status passes through', async () => {
    // A ready line `true` never prints: the running check waits for it, so `true` surely ends first.
    const ok = await cli(['run', '--proc', 'name=job,vcpus=1,memory=64M', '--ready-line', 'never printed', '--json', '--', 'true']);
    const report = JSON.parse(ok.out);
    expect(report.ok, JSON.stringify(report.checks)).toBe(true);
    expect(report.checkedWhileRunning).toBe(false);
    expect(report.observedAtStart.policies).toEqual(['bind:0']);
    expect(ok.code).toBe(0);
    const seven = await cli(['run', '--proc', 'name=job,vcpus=1,memory=64M', '--json', '--', 'sh', '-c', 'exit 7']);
    expect(JSON.parse(seven.out).ok).toBe(true);
    expect(seven.code).toBe(7);
    const killed = await cli(['run', '--proc', 'name=job,vcpus=1,memory=64M', '--json', '--', 'sh', '-c', 'kill -9 $$']);
    expect(JSON.parse(killed.out).signal).toBe('SIGKILL');
    expect(killed.code).toBe(137);
  });

  it('numa=interleave and numa=preferred in the request become those kernel policies', async () => {
    for (const [numa, policy] of [['interleave', 'interleave:0'], ['preferred', 'prefer:0']] as const) {
      // The shell says it runs, then waits for its standard input to close (after numaplan's running check).
      const r = await runUntilChecked(['run', '--proc', `name=job,vcpus=1,memory=64M,numa=${numa}`, '--ready-line', 'up', '--json', '--', 'sh', '-c', 'echo up; cat > /dev/null']);
      const report = JSON.parse(r.out);
      expect(report.planned.policy).toBe(numa);
      expect(report.observedAtStart.policies).toEqual([policy]);
      expect(report.observed.policies).toEqual([policy]);
      expect(report.ok, JSON.stringify(report.checks)).toBe(true);
    }
    const forced = JSON.parse((await cli(['run', '--proc', 'name=job,vcpus=1,memory=64M,numa=interleave', '--mem-policy', 'bind', '--json', '--', 'true'])).out);
    expect(forced.observedAtStart.policies).toEqual(['bind:0']);
  });

  it('taskset binds CPUs only and says the memory policy was not checked', async () => {
    const report = await runBound({ cpus: [1], nodes: [0], command: 'sleep', args: ['1'], binder: 'taskset', stdio: 'ignore' });
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.name === 'policy')?.detail).toMatch(/taskset sets no memory policy/);
  });

  it('refuses a CPU or node this machine lacks, before anything starts (exit 2)', async () => {
    const cpu = await cli(['run', '--proc', 'name=job,vcpus=1,memory=64M,cpus=4095', '--', 'sleep', '5']);
    expect(cpu.code).toBe(2);
    expect(cpu.err).toMatch(/cpus\[0\]: CPU 4095 does not exist on this machine/);
    const node = await cli(['run', '--proc', 'name=job,vcpus=1,memory=64M,nodes=7', '--json', '--', 'sleep', '5']);
    expect(node.code).toBe(2);
    expect(JSON.parse(node.out).error.message).toMatch(/NUMA node 7 does not exist on this machine/);
    const dir = mkdtempSync(join(tmpdir(), 'numaplan-run-'));
    try {
      const placed = await cli(['place', '--host', 'preset:epyc-2s-nps4', '--vm', 'name=far,vcpus=2,memory=4G', '--json']);
      writeFileSync(join(dir, 'far.json'), placed.out);
      const far = await cli(['run', '--placement', join(dir, 'far.json'), '--', 'sleep', '5']);
      expect(far.code).toBe(2);
      expect(far.err).toMatch(/does not exist on this machine/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!tool('qemu-system-x86_64') || !tool('taskset'))('numaplan launch qemu pins vCPU threads', () => {
  it('starts QEMU, pins each vCPU over QMP, verifies /proc/PID/task/TID/status, quits', async () => {
    const r = await cli([
      'launch', 'qemu', '--vm', 'name=guest,vcpus=1,memory=256M', '--accel', 'tcg', '--stop-after-verify', '--json',
      '--', '-display', 'none', '-nodefaults', '-serial', 'none',
    ]);
    const report = JSON.parse(r.out);
    expect(report.ok).toBe(true);
    expect(report.vcpus).toHaveLength(1);
    expect(report.vcpus[0].observed).toBe(String(report.vcpus[0].planned));
    expect(r.code).toBe(0);
  });

  it('opens no display unless asked: launch adds -display none (QEMU would otherwise open a VNC server or a window)', async () => {
    const r = await cli(['launch', 'qemu', '--vm', 'name=quiet,vcpus=1,memory=128M', '--accel', 'tcg', '--stop-after-verify', '--json', '--', '-nodefaults', '-serial', 'none']);
    const report = JSON.parse(r.out);
    expect(report.ok).toBe(true);
    const at = report.argv.indexOf('-display');
    expect(at).toBeGreaterThan(0);
    expect(report.argv[at + 1]).toBe('none');
    expect(report.argv).not.toContain('-vnc');
    expect(r.code).toBe(0);
  });
});
