/**
 * Runs the native probe helper (native/probe.c, built by node-gyp with the package into
 * build/Release/numaplan_probe) for a plan, and reads its reports, one JSON line per pair, as they
 * come. The helper binds its own thread and memory (sched_setaffinity, mbind): Node cannot bind the
 * memory of one of its own threads, so the measuring runs in that small process, one process for
 * all pairs (a buffer is built once per target node and measured from every initiator).
 *
 * NUMAPLAN_PROBE_HELPER names another build of the helper. The run is bounded: the helper is killed
 * when it takes more than a generous multiple of the plan's own estimate.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PairReport, ProbePlan } from '../../core/probe/plan.js';

/** Where the helper is expected (the same relative path works from src/ and dist/). */
export const HELPER_PATH = fileURLToPath(new URL('../../../build/Release/numaplan_probe', import.meta.url));

/** Error for a helper that is missing or failed (ERR_PROBE_HELPER: exit 2, an environment problem). */
export class ProbeHelperError extends Error {
  readonly code = 'ERR_PROBE_HELPER';
  readonly path = 'numaplan_probe';
  constructor(message: string) {
    super(message);
    this.name = 'ProbeHelperError';
  }
}

/** The helper's path, or throws saying how to build it. */
export function probeHelper(): string {
  const path = process.env.NUMAPLAN_PROBE_HELPER ? resolve(process.env.NUMAPLAN_PROBE_HELPER) : HELPER_PATH;
  if (process.platform !== 'linux') throw new ProbeHelperError(`numaplan probe needs Linux (this is ${process.platform})`);
  if (!existsSync(path)) throw new ProbeHelperError(`the probe helper is not built (${path} is missing; npm ci or npm run build:native builds it, with g++, make and python3)`);
  return path;
}

/** The helper's argv for a plan. */
export function helperArgs(plan: ProbePlan): string[] {
  return [
    '--bytes', String(plan.bufferBytes),
    '--lat-ms', String(plan.latencyMs),
    '--bw-ms', String(plan.bandwidthMs),
    '--targets', plan.targets.join(','),
    '--initiators', plan.initiators.map((i) => `${i.node}:${i.cpu}`).join(','),
  ];
}

/** What a run gave: the reports, and when the helper started answering. */
export interface HelperRun {
  reports: PairReport[];
  pid: number;
  /** ms from spawning the helper to its first line (process start, before any buffer). */
  helperStartMs: number;
  wallMs: number;
}

/**
 * Runs the helper; `onPair` sees each report as it arrives (progress). Rejects with ProbeHelperError
 * when the helper fails or exceeds `timeoutMs` (default: 20x the plan's measuring time plus 120 s).
 */
export function runProbeHelper(plan: ProbePlan, onPair: (r: PairReport, done: number, total: number) => void = () => undefined, timeoutMs?: number): Promise<HelperRun> {
  const helper = probeHelper();
  const total = plan.initiators.length * plan.targets.length;
  const limit = timeoutMs ?? total * (plan.latencyMs + plan.bandwidthMs) * 20 + 120_000;
  const started = performance.now();
  return new Promise((resolveRun, reject) => {
    const child = spawn(helper, helperArgs(plan), { stdio: ['ignore', 'pipe', 'pipe'] });
    const reports: PairReport[] = [];
    let helperStartMs = -1;
    let pending = '';
    let stderr = '';
    let failed: Error | null = null;
    const timer = setTimeout(() => {
      failed = new ProbeHelperError(`the probe helper took more than ${Math.round(limit / 1000)} s; stopped`);
      child.kill('SIGKILL');
    }, limit);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
        if (line.trim() === '') continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          failed ??= new ProbeHelperError(`the probe helper printed a line that is not JSON: ${line.slice(0, 200)}`);
          child.kill('SIGKILL');
          return;
        }
        if ('helper' in msg) {
          helperStartMs = performance.now() - started;
          continue;
        }
        const r = msg as unknown as PairReport;
        reports.push(r);
        onPair(r, reports.length, total);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    child.on('error', (err) => {
      failed ??= new ProbeHelperError(`cannot start the probe helper ${helper}: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - started;
      if (failed) return reject(failed);
      if (code !== 0) return reject(new ProbeHelperError(`the probe helper ended with ${signal ?? `status ${code}`}${stderr ? `: ${stderr.trim()}` : ''}`));
      resolveRun({ reports, pid: child.pid ?? -1, helperStartMs: Math.max(0, helperStartMs), wallMs });
    });
  });
}
