/**
 * `numaplan probe`: measure this host's node-to-node memory latency and read bandwidth (the native
 * helper, see adapters/probe), print the matrices beside the SLIT, and save the result for
 * `--calibration FILE` (place, explain, simulate, serve, agent).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { runProbeHelper } from '../../adapters/probe/run-probe.js';
import { loadTopology } from '../../adapters/source.js';
import { type ProbeDocument, ProbeError, planProbe } from '../../core/probe/plan.js';
import { formatSize, parseSize } from '../../core/topology/sizes.js';
import { type Io, writeJson } from '../io.js';
import { table } from '../render/table.js';

interface ProbeCli {
  quick?: boolean;
  buffer?: string;
  json?: boolean;
  output?: string;
  progress?: boolean;
}

/** A matrix as text: one row per node, `fmt` per cell ("-" where null). */
function matrix(nodes: readonly number[], m: readonly (readonly (number | null)[])[], fmt: (v: number) => string): string {
  return table(
    ['', ...nodes.map(String)],
    nodes.map((id, i) => [String(id), ...nodes.map((_, j) => {
      const v = m[i]?.[j] ?? null;
      return v === null ? '-' : fmt(v);
    })]),
    { align: 'right' },
  );
}

/** Two blocks side by side. */
function beside(left: string, right: string, gap = 6): string {
  const l = left.split('\n');
  const r = right.split('\n');
  const w = Math.max(...l.map((x) => x.length));
  return Array.from({ length: Math.max(l.length, r.length) }, (_, i) => `${(l[i] ?? '').padEnd(w + gap)}${r[i] ?? ''}`.trimEnd()).join('\n');
}

/** The text report of a probe document. */
export function renderProbe(doc: ProbeDocument): string {
  const out: string[] = [];
  const cpus = doc.nodes.filter((n) => doc.cpus[String(n)] !== null).map((n) => `${n}:${doc.cpus[String(n)]}`);
  const thp = doc.pairs.length > 0 ? Math.min(...doc.pairs.map((p) => p.observed.thpBytes)) : -1;
  out.push(
    `numaplan probe: ${doc.hostname ?? 'this host'}, ${doc.nodes.length} node(s), ${doc.pairs.length} pair(s)${doc.quick ? ' (--quick)' : ''}`,
    `  thread per node (node:CPU): ${cpus.join(' ')}; buffer ${formatSize(doc.bufferBytes)}${doc.llcBytes ? ` (last-level cache ${formatSize(doc.llcBytes)})` : ''}; transparent huge pages: ${thp < 0 ? 'unknown' : `${Math.round((thp / doc.bufferBytes) * 100)}% of the buffer`}`,
    '',
  );
  const block = (title: string, body: string): string => `${title}\n${body}`;
  out.push('rows: the node of the CPU running the loads; columns: the node of the memory');
  out.push(beside(block('latency, ns', matrix(doc.nodes, doc.latency, (v) => v.toFixed(1))), block('SLIT', matrix(doc.nodes, doc.distances, (v) => String(v)))), '');
  out.push(beside(block('latency / local', matrix(doc.nodes, doc.latencyRatio, (v) => v.toFixed(2))), block('SLIT / 10', matrix(doc.nodes, doc.distances, (v) => (v / 10).toFixed(2)))), '');
  out.push(block('read bandwidth of one thread, GB/s', matrix(doc.nodes, doc.bandwidth, (v) => (v / 1000).toFixed(2))), '');
  const bad = doc.pairs.filter((p) => !p.verified);
  if (bad.length === 0 && doc.verified) {
    out.push(
      `every pair ran as claimed: the thread on its CPU only (sched_getaffinity, sched_getcpu, Cpus_allowed_list), the buffer bound to its node with every page there (get_mempolicy, move_pages, numa_maps)`,
    );
  } else {
    out.push('NOT every pair ran as claimed:');
    for (const p of bad) out.push(`  node ${p.initiator} -> node ${p.target}: ${p.problems.join('; ')}`);
  }
  for (const w of doc.warnings) out.push(`warning: ${w}`);
  const t = doc.timing;
  out.push(
    `took ${(t.wallMs / 1000).toFixed(1)} s: measuring ${(t.measureMs / 1000).toFixed(1)} s, buffers ${(t.setupMs / 1000).toFixed(1)} s, helper start and checks ${(t.overheadMs / 1000).toFixed(1)} s (of which start ${t.helperStartMs} ms)`,
  );
  return `${out.join('\n')}\n`;
}

/** Registers `numaplan probe`. */
export function registerProbe(program: Command, io: Io): void {
  program
    .command('probe')
    .description("measure this host's node-to-node memory latency and read bandwidth (calibrates the cost model)")
    .option('--quick', 'smaller buffer, shorter runs (CI, a first look)')
    .option('--buffer <size>', 'buffer size per target node (default: 4x the last-level cache, at least 256M; --quick: 2x, at least 64M)')
    .option('--json', 'print the result as JSON (numaplan.probe/v1: latency in ns, bandwidth in MB/s, distances, nodes, CPUs, buffer, method, every pair with what the kernel showed)')
    .option('-o, --output <file>', 'also save the JSON result to FILE (for --calibration FILE)')
    .option('--no-progress', 'no progress lines on standard error')
    .addHelpText(
      'after',
      `
For every node with a CPU (row) and every node with memory (column), one thread pinned to a CPU of
the row's node follows a random chain of pointers through a buffer bound to the column's node (each
load waits for the one before: the latency), then reads the buffer sequentially (the bandwidth of
one thread). Every pair is checked while it runs: the thread's affinity and CPU, the buffer's
policy and the node of every one of its pages, as the kernel reports them. No root needed; the
measuring runs in a small native helper built with the package (build/Release/numaplan_probe).

Exit codes: 0 measured and verified, 1 some pair did not run with its binding, 2 bad input or no
helper.

Examples:
  numaplan probe                              the matrices, beside the SLIT
  numaplan probe --quick --json               CI: a few seconds per node pair at most
  numaplan probe -o probe.json                then: numaplan place --host sysfs --calibration probe.json --vm ...`,
    )
    .action(async (opts: ProbeCli) => {
      let bufferBytes: number | undefined;
      if (opts.buffer !== undefined) {
        try {
          bufferBytes = parseSize(opts.buffer);
        } catch (err) {
          throw new ProbeError('--buffer', (err as Error).message);
        }
      }
      const topology = await loadTopology('sysfs');
      const plan = planProbe(topology, { quick: opts.quick === true, ...(bufferBytes !== undefined ? { bufferBytes } : {}) });
      const measuredAt = new Date().toISOString();
      const { probeDocument } = await import('../../core/probe/plan.js');
      const progress = opts.progress !== false;
      if (progress) {
        io.err(
          `numaplan probe: ${plan.initiators.length} x ${plan.targets.length} pairs, ${formatSize(plan.bufferBytes)} buffer, about ${Math.ceil((plan.initiators.length * plan.targets.length * (plan.latencyMs + plan.bandwidthMs)) / 1000)} s of measuring\n`,
        );
      }
      const run = await runProbeHelper(plan, (r, done, total) => {
        if (progress) io.err(`  [${done}/${total}] node ${r.initiator} (CPU ${r.cpu}) -> node ${r.target}: ${r.latencyNs.toFixed(1)} ns, ${(r.bandwidthMBps / 1000).toFixed(2)} GB/s\n`);
      });
      const doc = probeDocument(topology, plan, run.reports, { measuredAt, wallMs: run.wallMs, helperStartMs: run.helperStartMs });
      if (opts.output) writeFileSync(opts.output, `${JSON.stringify(doc, null, 2)}\n`);
      if (opts.json) writeJson(io, doc);
      else io.out(renderProbe(doc));
      if (!doc.verified) io.setExitCode(1);
    });
}
