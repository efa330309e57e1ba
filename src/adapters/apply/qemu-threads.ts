/**
 * A running QEMU's threads, from QEMU itself and the kernel: QMP `query-cpus-fast` (each vCPU's
 * cpu-index and thread-id), `query-iothreads` (each I/O thread's id and thread-id), then /proc: the
 * process is the thread group (Tgid in /proc/TID/status) of its vCPU threads, which must be one
 * process on this machine; its other threads (/proc/PID/task) are the main loop, RCU and workers,
 * and kernel threads named vhost-PID its vhost-net workers (before Linux 6.4), as launch finds them.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { type Socket, createConnection } from 'node:net';
import { join } from 'node:path';
import type { QemuThreads } from '../../core/rebalance/process-actions.js';
import { formatCpuList } from '../../core/topology/cpulist.js';
import { ApplyError } from './errors.js';
import { vhostWorkers } from './launch-qemu.js';
import { readTaskAffinity } from './proc-files.js';
import { QmpClient } from './qmp.js';

/** Where to look. */
export interface QemuThreadsOptions {
  /** /proc's parent. Default "/". */
  root?: string;
  /** How long QEMU may take to greet and answer (ms). Default 10 s. */
  timeoutMs?: number;
}

/** The Tgid of thread `tid`, or null when /proc has no such thread. */
function tgidOf(tid: number, root: string): number | null {
  try {
    const m = /^Tgid:\s*(\d+)$/m.exec(readFileSync(join(root, 'proc', String(tid), 'status'), 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Checks QMP's answers and reads the rest from /proc. Throws ApplyError naming what does not hold. */
export function threadsOf(cpus: unknown, iothreads: unknown, root = '/'): QemuThreads {
  if (!Array.isArray(cpus) || cpus.length === 0) throw new ApplyError('query-cpus-fast', `expected a list of vCPUs, got ${JSON.stringify(cpus)}`);
  const vcpus = cpus.map((c: { 'cpu-index'?: unknown; 'thread-id'?: unknown }) => {
    if (!Number.isInteger(c?.['cpu-index']) || !Number.isInteger(c?.['thread-id'])) throw new ApplyError('query-cpus-fast', `expected cpu-index and thread-id, got ${JSON.stringify(c)}`);
    return { vcpu: c['cpu-index'] as number, tid: c['thread-id'] as number };
  });
  const io = (Array.isArray(iothreads) ? iothreads : []).map((t: { id?: unknown; 'thread-id'?: unknown }) => {
    if (typeof t?.id !== 'string' || !Number.isInteger(t?.['thread-id'])) throw new ApplyError('query-iothreads', `expected id and thread-id, got ${JSON.stringify(t)}`);
    return { id: t.id, tid: t['thread-id'] as number };
  });
  const groups = new Map<number, number[]>();
  for (const v of vcpus) {
    const g = tgidOf(v.tid, root);
    if (g === null) throw new ApplyError('query-cpus-fast', `vCPU ${v.vcpu}'s thread ${v.tid} is not in this machine's /proc (a QEMU on another machine, or in another PID namespace?)`);
    groups.set(g, [...(groups.get(g) ?? []), v.tid]);
  }
  if (groups.size !== 1) throw new ApplyError('query-cpus-fast', `the vCPU threads belong to ${groups.size} processes (${[...groups.keys()].join(', ')}), not one QEMU`);
  const pid = [...groups.keys()][0] as number;
  const tasks = readdirSync(join(root, 'proc', String(pid), 'task')).map(Number).filter(Number.isInteger).sort((a, b) => a - b);
  const own = new Set(tasks);
  for (const t of io) if (!own.has(t.tid)) throw new ApplyError('query-iothreads', `I/O thread ${t.id}'s thread ${t.tid} is not a thread of QEMU process ${pid}`);
  const special = new Set([...vcpus.map((v) => v.tid), ...io.map((t) => t.tid)]);
  const cpusNow = new Set<number>();
  for (const tid of tasks) {
    try {
      for (const c of readTaskAffinity(pid, { root, tid }).cpusAllowed) cpusNow.add(c);
    } catch {
      // A worker thread that has just exited.
    }
  }
  const vhost = vhostWorkers(pid, root).filter((t) => !own.has(t));
  return {
    pid,
    vcpus: vcpus.sort((a, b) => a.vcpu - b.vcpu),
    iothreads: io,
    others: tasks.filter((t) => !special.has(t)),
    ...(vhost.length > 0 ? { vhost } : {}),
    cpusNow: formatCpuList([...cpusNow].sort((a, b) => a - b)),
  };
}

/**
 * Connects to the QMP socket, asks for the vCPU and I/O threads, closes the connection and reads
 * the rest from /proc. Throws ApplyError (path "qmp" when QEMU cannot be reached or does not answer).
 */
export async function readQemuThreads(socket: string, options: QemuThreadsOptions = {}): Promise<QemuThreads> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const conn = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection(socket);
    s.once('connect', () => resolve(s));
    s.once('error', (err) => reject(new ApplyError('qmp', `cannot connect to ${socket}: ${err.message}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ApplyError('qmp', `${socket}: no QMP answer within ${timeoutMs / 1000} s (not a QMP socket, or another client holds QEMU's monitor?)`)), timeoutMs);
    });
    const client = new QmpClient(conn, conn);
    const answers = (async () => {
      await client.negotiate();
      const cpus = await client.execute('query-cpus-fast');
      const iothreads = await client.execute('query-iothreads');
      return { cpus, iothreads };
    })();
    answers.catch(() => undefined);
    const { cpus, iothreads } = await Promise.race([answers, late]);
    return threadsOf(cpus, iothreads, options.root ?? '/');
  } finally {
    clearTimeout(timer);
    conn.destroy();
  }
}
