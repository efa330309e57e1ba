/**
 * What the kernel says about a process's binding: `/proc/PID/status` (Cpus_allowed_list,
 * Mems_allowed_list), `/proc/PID/task/TID/status` for one thread, and `/proc/PID/numa_maps`
 * (memory policy and pages per node of every mapping). Reads take a root, so captured trees read
 * like the live one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCpuList } from '../../core/topology/cpulist.js';

/** Affinity of a task, as the kernel reports it. */
export interface TaskAffinity {
  cpusAllowed: number[];
  memsAllowed: number[];
}

/** Parses the Cpus_allowed_list and Mems_allowed_list lines of a status file. */
export function parseStatusAffinity(text: string): TaskAffinity {
  const field = (name: string): number[] => {
    const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text);
    return m ? parseCpuList((m[1] as string).trim()) : [];
  };
  return { cpusAllowed: field('Cpus_allowed_list'), memsAllowed: field('Mems_allowed_list') };
}

/** One line of numa_maps. */
export interface NumaMapping {
  address: string;
  /** e.g. "default", "bind:0", "interleave:0-1", "prefer:1". */
  policy: string;
  anon: boolean;
  heap: boolean;
  stack: boolean;
  file: string | null;
  /** Pages resident per node (N0=12 -> {0: 12}). */
  pagesByNode: Record<number, number>;
  /** Page size of the mapping in bytes. */
  pageSize: number;
}

/** Parses numa_maps text. */
export function parseNumaMaps(text: string): NumaMapping[] {
  const out: NumaMapping[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2) continue;
    const [address, policy, ...rest] = parts as [string, string, ...string[]];
    const m: NumaMapping = { address, policy, anon: false, heap: false, stack: false, file: null, pagesByNode: {}, pageSize: 4096 };
    for (const r of rest) {
      if (r === 'heap') m.heap = true;
      else if (r === 'stack') m.stack = true;
      else if (r.startsWith('anon=')) m.anon = true;
      else if (r.startsWith('file=')) m.file = r.slice(5);
      else if (r.startsWith('kernelpagesize_kB=')) m.pageSize = Number(r.slice(18)) * 1024;
      else {
        const n = /^N(\d+)=(\d+)$/.exec(r);
        if (n) m.pagesByNode[Number(n[1])] = Number(n[2]);
      }
    }
    out.push(m);
  }
  return out;
}

/** Reads /proc/PID/status (or a thread's, with `tid`) under `root`. */
export function readTaskAffinity(pid: number, options: { root?: string; tid?: number } = {}): TaskAffinity {
  const root = options.root ?? '/';
  const path = options.tid === undefined ? join(root, 'proc', String(pid), 'status') : join(root, 'proc', String(pid), 'task', String(options.tid), 'status');
  return parseStatusAffinity(readFileSync(path, 'utf8'));
}

/** Reads /proc/PID/numa_maps under `root`. */
export function readNumaMaps(pid: number, options: { root?: string } = {}): NumaMapping[] {
  return parseNumaMaps(readFileSync(join(options.root ?? '/', 'proc', String(pid), 'numa_maps'), 'utf8'));
}
