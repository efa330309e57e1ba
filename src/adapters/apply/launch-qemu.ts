/**
 * Start QEMU with an emitted argv, pin each vCPU thread to its planned host CPU, verify, and stop
 * the guest cleanly on request.
 *
 * QEMU is started paused (-S) with a QMP socket in a private temporary folder; `query-cpus-fast`
 * gives each vCPU's thread id; `taskset -p -c CPU TID` (util-linux) pins it; its
 * /proc/PID/task/TID/status must then list exactly that CPU. Each I/O thread (`query-iothreads`
 * gives its thread id) goes to its planned CPUs, the vhost-net workers (threads named
 * `vhost-PID`: QEMU's own tasks since Linux 6.4, kernel threads before) to the vhost CPUs, each
 * checked the same way; QEMU's other threads go to the emulator CPUs. Then the guest continues
 * (unless `paused`). `stop()` sends QMP `quit`.
 * Without a display option in the argv, `-display none` is added (no VNC server, no window).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PinPlan } from '../../core/emit/qemu.js';
import { formatCpuList } from '../../core/topology/cpulist.js';
import { ApplyError } from './errors.js';
import { readTaskAffinity } from './proc-files.js';
import { QmpClient } from './qmp.js';

/** How to launch. */
export interface LaunchQemuOptions {
  /** QEMU binary. Default qemu-system-x86_64. */
  binary?: string;
  /** The emitted argv (without the binary). */
  argv: readonly string[];
  /** Extra arguments (kernel, disks, network...). */
  extraArgs?: readonly string[];
  pins: PinPlan;
  /** Leave the guest paused after pinning. */
  paused?: boolean;
  /** /proc root for verification. Default "/". */
  root?: string;
  /** Where QEMU's own output goes. Default inherit. */
  stdio?: 'inherit' | 'ignore';
}

/** One vCPU thread after pinning. */
export interface VcpuThread {
  vcpu: number;
  threadId: number;
  nodeId: number | null;
  /** Planned CPU list (one CPU for a dedicated VM, a set for a shared one). */
  planned: string;
  observed: string;
  ok: boolean;
}

/** An I/O thread or vhost worker after pinning. */
export interface IoThread {
  /** QEMU's object id ("iothread1"), or "vhost" for a vhost-net worker. */
  id: string;
  threadId: number;
  planned: string;
  observed: string;
  ok: boolean;
}

/** What launch did. */
export interface LaunchReport {
  pid: number;
  argv: string[];
  vcpus: VcpuThread[];
  /** I/O threads and vhost workers (empty without them). */
  ioThreads: IoThread[];
  emulatorCpus: string;
  emulatorThreads: number[];
  ok: boolean;
}

/** Thread ids of the vhost-net workers of QEMU process `pid`: its own tasks or kernel threads named vhost-PID. */
export function vhostWorkers(pid: number, root = '/'): number[] {
  const name = `vhost-${pid}`;
  const comm = (path: string): string => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const out = new Set<number>();
  for (const t of readdirSync(join(root, 'proc', String(pid), 'task'))) if (comm(join(root, 'proc', String(pid), 'task', t, 'comm')) === name) out.add(Number(t));
  for (const p of readdirSync(join(root, 'proc'))) if (/^\d+$/.test(p) && comm(join(root, 'proc', p, 'comm')) === name) out.add(Number(p));
  return [...out].sort((a, b) => a - b);
}

/** A running, pinned QEMU. */
export interface LaunchedQemu {
  report: LaunchReport;
  qmp: QmpClient;
  child: ChildProcess;
  /** Resolves when QEMU exits. */
  exited: Promise<number | null>;
  /** Sends QMP quit and waits for QEMU to exit (kills it after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
}

interface CpuInfo {
  'cpu-index': number;
  'thread-id': number;
  props?: { 'node-id'?: number };
}

/** QEMU options that choose a display; without one of them launch adds `-display none`. */
export const DISPLAY_OPTIONS = new Set(['-display', '-vnc', '-nographic', '-spice', '-curses', '-sdl']);

/** Pins one thread with taskset; throws ApplyError when taskset fails. */
export function pinThread(tid: number, cpus: readonly number[]): void {
  const r = spawnSync('taskset', ['-p', '-c', formatCpuList(cpus), String(tid)], { encoding: 'utf8' });
  if (r.error) throw new ApplyError('taskset', `cannot run taskset: ${r.error.message}`);
  if (r.status !== 0) throw new ApplyError('taskset', `taskset -p -c ${formatCpuList(cpus)} ${tid} failed: ${r.stderr.trim()}`);
}

/** Launches, pins and verifies. On any failure QEMU is stopped and the error thrown. */
export async function launchQemu(o: LaunchQemuOptions): Promise<LaunchedQemu> {
  const dir = mkdtempSync(join(tmpdir(), 'numaplan-qmp-'));
  const sock = join(dir, 'qmp.sock');
  const extra = o.extraArgs ?? [];
  // No display unless the caller asks for one (QEMU's default opens a VNC server or a window).
  const display = [...o.argv, ...extra].some((a) => DISPLAY_OPTIONS.has(a)) ? [] : ['-display', 'none'];
  const argv = [...o.argv, ...extra, ...display, '-S', '-qmp', `unix:${sock},server=on,wait=off`];
  const child = spawn(o.binary ?? 'qemu-system-x86_64', argv, { stdio: ['ignore', o.stdio ?? 'inherit', o.stdio ?? 'inherit'] });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', () => resolve(null));
  });
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  void exited.then(cleanup);
  let qmp: QmpClient | null = null;
  try {
    const early = exited.then((code) => {
      throw new ApplyError('qemu', `QEMU exited (code ${code}) before QMP was ready`);
    });
    qmp = await Promise.race([QmpClient.connect(sock), early]);
    const cpus = (await qmp.execute('query-cpus-fast')) as CpuInfo[];
    const pid = child.pid as number;
    const root = o.root ?? '/';
    const vcpus: VcpuThread[] = [];
    for (const pin of o.pins.vcpus) {
      const info = cpus.find((c) => c['cpu-index'] === pin.vcpu);
      if (!info) throw new ApplyError(`vcpu ${pin.vcpu}`, `QEMU reports no vCPU ${pin.vcpu} (it has ${cpus.length})`);
      const planned = pin.hostCpus ?? [pin.hostCpu];
      pinThread(info['thread-id'], planned);
      const observed = formatCpuList(readTaskAffinity(pid, { root, tid: info['thread-id'] }).cpusAllowed);
      vcpus.push({
        vcpu: pin.vcpu,
        threadId: info['thread-id'],
        nodeId: info.props?.['node-id'] ?? null,
        planned: formatCpuList(planned),
        observed,
        ok: observed === formatCpuList(planned),
      });
    }
    const ioThreads: IoThread[] = [];
    const pinChecked = (id: string, tid: number, planned: readonly number[]): void => {
      pinThread(tid, planned);
      const observed = formatCpuList(readTaskAffinity(tid, { root }).cpusAllowed);
      ioThreads.push({ id, threadId: tid, planned: formatCpuList(planned), observed, ok: observed === formatCpuList(planned) });
    };
    if (o.pins.iothreads && o.pins.iothreads.length > 0) {
      const list = (await qmp.execute('query-iothreads')) as { id: string; 'thread-id': number }[];
      for (const t of o.pins.iothreads) {
        const info = list.find((x) => x.id === t.id);
        if (!info) throw new ApplyError(`iothread ${t.id}`, `QEMU reports no I/O thread "${t.id}" (it has ${list.map((x) => x.id).join(', ') || 'none'})`);
        pinChecked(t.id, info['thread-id'], t.cpus);
      }
    }
    if (o.pins.vhostCpus && o.pins.vhostCpus.length > 0) for (const tid of vhostWorkers(pid, root)) pinChecked('vhost', tid, o.pins.vhostCpus);
    const special = new Set([...cpus.map((c) => c['thread-id']), ...ioThreads.map((t) => t.threadId)]);
    const others = readdirSync(join(root, 'proc', String(pid), 'task'))
      .map(Number)
      .filter((t) => !special.has(t))
      .sort((a, b) => a - b);
    if (o.pins.emulatorCpus.length > 0) for (const t of others) pinThread(t, o.pins.emulatorCpus);
    const report: LaunchReport = {
      pid,
      argv,
      vcpus,
      ioThreads,
      emulatorCpus: formatCpuList(o.pins.emulatorCpus),
      emulatorThreads: others,
      ok: vcpus.every((v) => v.ok) && ioThreads.every((t) => t.ok),
    };
    if (!o.paused) await qmp.execute('cont');
    const client = qmp;
    const stop = async (timeoutMs = 5000): Promise<number | null> => {
      try {
        await client.execute('quit');
      } catch {
        // QEMU may close the connection as it quits.
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      client.close();
      return code;
    };
    return { report, qmp: client, child, exited, stop };
  } catch (err) {
    if (qmp) {
      try {
        await qmp.execute('quit');
      } catch {
        // ignore
      }
    }
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
}
