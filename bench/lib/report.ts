/** Renders suite results: one plain-text table per suite (stdout), or one JSON document. */
import { cpus, loadavg } from 'node:os';
import type { CaseResult, SuiteResult } from './types.js';

/** Milliseconds for people: "412.3 µs", "12.34 ms", "1.234 s". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1) return `${(ms * 1000).toFixed(1)} µs`;
  if (ms < 1000) return `${ms.toFixed(2)} ms`;
  return `${(ms / 1000).toFixed(3)} s`;
}

/** "0.42x lstopo" */
export function formatRatio(c: CaseResult): string {
  if (c.baseline === undefined) return '';
  const label = c.baselineLabel ?? c.baseline;
  if (c.ratio === undefined) return `- (vs ${label})`;
  return `${c.ratio.toFixed(2)}x ${label}`;
}

const HEADER = ['case', 'median', 'p95', 'MAD', 'runs', 'vs baseline'] as const;
const RIGHT = [false, true, true, true, true, false];

/** The table of one suite, with its title, goal line and any notes. */
export function renderSuite(s: SuiteResult): string {
  const lines = [`## ${s.name}${s.description ? ` — ${s.description}` : ''}`];
  if (s.status === 'failed') {
    lines.push(`suite not run: ${s.reason ?? 'unknown error'}`);
    return lines.join('\n');
  }
  const rows = s.cases.map((c) =>
    c.status === 'ok'
      ? [
          c.name,
          formatMs(c.median ?? Number.NaN),
          formatMs(c.p95 ?? Number.NaN),
          formatMs(c.mad ?? Number.NaN),
          c.batch && c.batch > 1 ? `${c.samples}x${c.batch}` : `${c.samples ?? 0}`,
          formatRatio(c),
        ]
      : [c.name, 'n/a', '', '', '', `not available: ${c.reason ?? ''}`],
  );
  lines.push(textTable(HEADER, rows));
  for (const n of s.notes ?? []) lines.push(n);
  if (s.goal) {
    const g = s.goal;
    const max = (g.maxRatio ?? 1).toFixed(2);
    let verdict: string;
    if (g.judged === 'none') verdict = 'judge from the medians';
    else if (g.met === null) verdict = 'not judged (a case it needs did not run)';
    else if (g.judged === 'check') verdict = g.met ? 'met' : 'NOT met';
    else verdict = `${g.met ? 'met' : 'NOT met'} (${g.meeting}/${g.compared} comparisons at or below ${max}x)`;
    lines.push(`goal: ${g.text} — ${verdict}`);
  }
  return lines.join('\n');
}

/** All suites as text, with a note on how the numbers were taken. */
export function renderText(results: readonly SuiteResult[], meta: { quick: boolean }): string {
  const note =
    `times per call; median over the runs column (samples, x calls per sample when batched); ` +
    `cases interleaved round by round${meta.quick ? '; --quick: few runs, numbers are indicative only' : ''}`;
  return `${results.map(renderSuite).join('\n\n')}\n\n${note}\n`;
}

/** The JSON document `--json` prints. */
export function renderJson(results: readonly SuiteResult[], meta: { quick: boolean }): string {
  const cpu = cpus();
  return `${JSON.stringify(
    {
      schema: 'numaplan.bench/v1',
      quick: meta.quick,
      environment: {
        node: process.version,
        platform: process.platform,
        cpus: cpu.length,
        cpuModel: cpu[0]?.model ?? null,
        loadavg: loadavg(),
      },
      suites: results,
    },
    null,
    2,
  )}\n`;
}

function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((cell, i) => (RIGHT[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}
