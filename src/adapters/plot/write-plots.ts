/**
 * Writes a simulation report's plots as SVG files into a folder: utilisation over time per policy,
 * requests placed before the first failure / acceptance per policy, and the latency-ratio distribution.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimReport } from '../../core/sim/report.js';
import { barChart, lineChart } from './svg-chart.js';

/** Writes the plots; returns the files written. */
export function writePlots(report: SimReport, dir: string, prefix = ''): string[] {
  mkdirSync(dir, { recursive: true });
  const where = report.scenario ? `${report.scenario.name}, ${report.scenario.servers} servers` : `${report.fleet?.hosts ?? 0} hosts`;
  const files: [string, string][] = [];
  files.push([
    'utilisation.svg',
    lineChart({
      title: `Core utilisation over the replay (${where}, seed ${report.seed})`,
      xLabel: 'arrivals since the start',
      yLabel: 'cores used (fraction)',
      yMin: 0,
      yMax: 1,
      series: report.utilisation.map((u) => ({ name: u.policy, points: u.points.map((p) => [p.step, p.cpu] as const) })),
    }),
  ]);
  files.push([
    'placed-before-failure.svg',
    barChart({
      title: `Requests placed before the first failure (mean ± std over ${report.starts} starts)`,
      yLabel: 'requests',
      categories: report.results.map((r) => r.policy),
      groups: [
        {
          name: 'placed before failure',
          values: report.results.map((r) => r.placedBeforeFailure),
          errors: report.results.map((r) => r.placedBeforeFailureStd),
        },
      ],
    }),
  ]);
  files.push([
    'acceptance.svg',
    barChart({
      title: `Acceptance rate over the whole replay (${where})`,
      yLabel: 'accepted / arrivals',
      categories: report.results.map((r) => r.policy),
      groups: [{ name: 'acceptance rate', values: report.results.map((r) => r.acceptanceRate) }],
    }),
  ]);
  const buckets = [...new Set(report.results.flatMap((r) => r.latencyHistogram.map((b) => b.from)))].sort((a, b) => a - b);
  files.push([
    'latency-ratio.svg',
    barChart({
      title: 'Predicted memory latency relative to all-local (share of accepted VMs)',
      yLabel: 'fraction of VMs',
      categories: buckets.map((b) => `${b.toFixed(2)}`),
      groups: report.results.map((r) => {
        const total = r.latencyHistogram.reduce((s, b) => s + b.count, 0) || 1;
        return { name: r.policy, values: buckets.map((b) => (r.latencyHistogram.find((x) => x.from === b)?.count ?? 0) / total) };
      }),
    }),
  ]);
  const moved = report.results.filter((r) => r.rebalance);
  if (moved.length > 0) {
    const series = (pick: (x: NonNullable<(typeof moved)[number]['rebalance']>['overTime'][number]) => number) =>
      moved.map((r) => ({ name: r.policy, points: (r.rebalance?.overTime ?? []).map((x) => [x.time / 3600, pick(x)] as const) }));
    files.push([
      'rebalance-latency.svg',
      lineChart({ title: `Predicted latency ratio over time, mean over placed VMs (${where})`, xLabel: 'simulated hours', yLabel: 'latency ratio (1 = all local)', series: series((x) => x.latencyMean) }),
    ]);
    files.push([
      'rebalance-p95.svg',
      lineChart({ title: `Predicted latency ratio over time, p95 over placed VMs (${where})`, xLabel: 'simulated hours', yLabel: 'latency ratio (1 = all local)', series: series((x) => x.latencyP95) }),
    ]);
    files.push([
      'rebalance-bytes.svg',
      lineChart({ title: `Memory migrated so far (${where})`, xLabel: 'simulated hours', yLabel: 'GiB', yMin: 0, series: series((x) => x.movedGiB) }),
    ]);
  }
  return files.map(([name, svg]) => {
    const path = join(dir, `${prefix}${name}`);
    writeFileSync(path, svg);
    return path;
  });
}
