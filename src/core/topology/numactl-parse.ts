/**
 * Parser for the text `numactl --hardware` (`numactl -H`) prints, with or without `--cpu-compress`.
 *
 * What numactl prints (numactl.c, `hardware()`):
 *
 *     available: 2 nodes (0-1)
 *     node 0 cpus: 0 1 2 3            (or with --cpu-compress: "node 0 cpus: 0-15, 32-47 (32)")
 *     node 0 size: 64307 MB           ("<not available>" when the kernel does not say)
 *     node 0 free: 19214 MB
 *     ...
 *     node distances:                 (or "No distance information available.")
 *     node   0   1
 *       0:  10  21
 *       1:  21  10
 *
 * Sizes are printed as bytes >> 20, so "MB" here means MiB.
 *
 * Tolerated, because pasted outputs have them: blank lines; `#` comment lines; text before the first
 * numactl line (a shell prompt, the command itself) and after the complete distance table, each kept
 * as a warning; cpu lists wrapped onto continuation lines (a warning).
 *
 * Refused with a `TopologyError` naming the origin, the line number and the field: abbreviated cpu
 * lists ("0 ... 63", "0 .. 95": elided CPUs are never guessed), non-numeric values, a node missing
 * one of its lines, a node count that disagrees with the `available:` line, a distance table with a
 * missing, unknown, repeated or short row, and text that cuts the output short.
 *
 * Pure: no I/O; the adapter `src/adapters/numactl-text.ts` turns the result into a topology.
 */
import { TopologyError } from './errors.js';
import { MAX_CPU_ID, MAX_NODE_ID } from './limits.js';
import type { TopologyWarning } from './model.js';

/** One node as numactl printed it. */
export interface NumactlNode {
  id: number;
  /** OS indexes, sorted, unique. */
  cpus: number[];
  /** `node N size:` in MiB; null when printed as "<not available>". */
  sizeMiB: number | null;
  /** `node N free:` in MiB; null when printed as "<not available>". */
  freeMiB: number | null;
  /** 1-based line of the `node N cpus:` line. */
  line: number;
}

/** Everything `numactl --hardware` said. */
export interface NumactlHardware {
  /** Sorted by id. */
  nodes: NumactlNode[];
  /** Rows and columns in `nodes` order; null when numactl printed "No distance information available." */
  distances: number[][] | null;
  /** True when the cpu lists were printed in `--cpu-compress` form. */
  cpuCompress: boolean;
  /** Things tolerated on the way, each naming `origin:line`. */
  warnings: TopologyWarning[];
}

/** Error codes this parser throws (all input errors: the CLI exits 2). */
export const NUMACTL_ERRORS = {
  /** A line that is not numactl output, or a field that is not what numactl prints. */
  syntax: 'ERR_NUMACTL_SYNTAX',
  /** A cpu list shortened with "..": the elided CPUs are unknown. */
  abbreviated: 'ERR_NUMACTL_ABBREVIATED',
  /** Something numactl always prints is missing: a node line, distance rows, the table. */
  incomplete: 'ERR_NUMACTL_INCOMPLETE',
  /** Lines that contradict each other: node counts, duplicate lines or rows. */
  inconsistent: 'ERR_NUMACTL_INCONSISTENT',
  /** numactl said "No NUMA available on this system". */
  noNuma: 'ERR_NUMACTL_NO_NUMA',
} as const;

const AVAILABLE = /^available:\s*(\S+)\s+nodes?\s*\(([^)]*)\)\s*$/;
const NODE_LINE = /^node\s+(\S+)\s+(cpus|size|free):(.*)$/;
const DIST_START = /^node\s+distances:\s*$/;
const NO_DIST = /^No distance information available\.?\s*$/;
const DIST_HEADER = /^node(\s+\S+)+\s*$/;
const DIST_ROW = /^(\S+):(.*)$/;
const CONTINUATION = /^\s+[\d\s,-]+$/;
const UINT = /^\d+$/;
/** Bounds that keep a garbled number from allocating the world. */

type Phase = 'preamble' | 'nodes' | 'dist-header' | 'dist-rows' | 'done';

/**
 * Parses `numactl --hardware` text. `origin` (a file name, "stdin") prefixes every error and warning
 * path as `origin:LINE`.
 */
export function parseNumactlHardware(text: string, origin: string): NumactlHardware {
  const lines = text.split(/\r?\n/);
  const warnings: TopologyWarning[] = [];
  const at = (line: number): string => `${origin}:${line}`;
  const fail = (line: number, code: string, message: string): never => {
    throw new TopologyError(at(line), message, code);
  };

  let phase: Phase = 'preamble';
  let available: { count: number; ids: number[]; line: number } | null = null;
  const nodes = new Map<number, { cpus: number[] | null; size: number | null | undefined; free: number | null | undefined; line: number }>();
  let lastCpuNode: { id: number; line: number; cpus: number[]; wrapped: number } | null = null;
  let cpuCompress = false;
  let header: number[] = [];
  let headerLine = 0;
  const rows = new Map<number, number[]>();
  const rowLine = new Map<number, number>();
  let noDistances = false;
  let distStartLine = 0;
  let lastLine = 0;
  // Every CPU list of the document together expands to at most MAX_CPU_ID + 1 entries (checked
  // before each range is expanded).
  const cpuBudget = { left: MAX_CPU_ID + 1 };

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i] as string;
    const trimmed = raw.trim();
    if (trimmed === '') {
      // a blank line after a cpu list ends any wrapping
      lastCpuNode = null;
      continue;
    }
    if (trimmed.startsWith('#')) continue;
    lastLine = lineNo;

    if (phase === 'done') {
      warnings.push({ path: at(lineNo), message: `ignored text after the numactl output: "${clip(trimmed)}"` });
      continue;
    }

    if (phase === 'dist-header') {
      if (!DIST_HEADER.test(trimmed)) {
        fail(lineNo, NUMACTL_ERRORS.incomplete, `node distances: expected the header "node 0 1 ...", got "${clip(trimmed)}"`);
      }
      header = trimmed
        .split(/\s+/)
        .slice(1)
        .map((tok, k) => readUint(tok, MAX_NODE_ID, () => fail(lineNo, NUMACTL_ERRORS.syntax, `node distances header: column ${k + 1} "${tok}" is not a node number`)));
      const dup = firstDuplicate(header);
      if (dup !== null) fail(lineNo, NUMACTL_ERRORS.inconsistent, `node distances header: node ${dup} is listed twice`);
      headerLine = lineNo;
      phase = 'dist-rows';
      continue;
    }

    if (phase === 'dist-rows') {
      const m = DIST_ROW.exec(trimmed);
      if (!m) {
        const missing = header.filter((h) => !rows.has(h));
        fail(
          lineNo,
          NUMACTL_ERRORS.incomplete,
          `node distances: expected the row for node ${missing[0]} ("${missing[0]}: 10 ..."), got "${clip(trimmed)}"; ` +
            `rows missing for node(s) ${missing.join(', ')}`,
        );
      }
      const label = (m as RegExpExecArray)[1] as string;
      const id = readUint(label, MAX_NODE_ID, () => fail(lineNo, NUMACTL_ERRORS.syntax, `node distances: row label "${label}:" is not a node number`));
      if (!header.includes(id)) {
        fail(lineNo, NUMACTL_ERRORS.inconsistent, `node distances: row for node ${id}, which is not in the header (nodes ${header.join(' ')})`);
      }
      if (rows.has(id)) fail(lineNo, NUMACTL_ERRORS.inconsistent, `node distances: row for node ${id} appears twice`);
      const cells = ((m as RegExpExecArray)[2] as string).trim().split(/\s+/).filter((c) => c !== '');
      if (cells.length !== header.length) {
        fail(
          lineNo,
          NUMACTL_ERRORS.incomplete,
          `node distances: row for node ${id} has ${cells.length} value(s), the header has ${header.length} node(s)`,
        );
      }
      rowLine.set(id, lineNo);
      rows.set(
        id,
        cells.map((c, k) =>
          readUint(c, Number.MAX_SAFE_INTEGER, () =>
            fail(lineNo, NUMACTL_ERRORS.syntax, `node distances: distance from node ${id} to node ${header[k]} is "${c}", not a number`),
          ),
        ),
      );
      if (rows.size === header.length) phase = 'done';
      continue;
    }

    // phase 'preamble' or 'nodes'
    if (/^No NUMA available/i.test(trimmed)) {
      fail(lineNo, NUMACTL_ERRORS.noNuma, 'numactl reports "No NUMA available on this system": there is no topology to read');
    }
    const avail = AVAILABLE.exec(trimmed);
    if (avail) {
      if (available !== null) fail(lineNo, NUMACTL_ERRORS.inconsistent, `"available:" appears twice (first on line ${available.line})`);
      if (phase === 'nodes') fail(lineNo, NUMACTL_ERRORS.inconsistent, '"available:" must come before the node lines');
      const count = readUint(avail[1] as string, MAX_NODE_ID, () =>
        fail(lineNo, NUMACTL_ERRORS.syntax, `available: node count "${avail[1]}" is not a number`),
      );
      const ids = parseNumberList((avail[2] as string).trim(), MAX_NODE_ID, (why) =>
        fail(lineNo, NUMACTL_ERRORS.syntax, `available: node list "(${avail[2]})" ${why}`),
      );
      if (ids.length !== count) {
        fail(lineNo, NUMACTL_ERRORS.inconsistent, `available: says ${count} node(s) but lists ${ids.length} (${avail[2]})`);
      }
      available = { count, ids, line: lineNo };
      phase = 'nodes';
      lastCpuNode = null;
      continue;
    }
    const nodeLine = NODE_LINE.exec(trimmed);
    if (nodeLine) {
      phase = 'nodes';
      const idText = nodeLine[1] as string;
      const field = nodeLine[2] as 'cpus' | 'size' | 'free';
      const value = (nodeLine[3] as string).trim();
      const id = readUint(idText, MAX_NODE_ID, () => fail(lineNo, NUMACTL_ERRORS.syntax, `"node ${idText} ${field}": "${idText}" is not a node number`));
      if (available !== null && !available.ids.includes(id)) {
        fail(lineNo, NUMACTL_ERRORS.inconsistent, `node ${id} ${field}: node ${id} is not in the available list (${available.ids.join(',')})`);
      }
      let entry = nodes.get(id);
      if (!entry) {
        entry = { cpus: null, size: undefined, free: undefined, line: lineNo };
        nodes.set(id, entry);
      }
      lastCpuNode = null;
      if (field === 'cpus') {
        if (entry.cpus !== null) fail(lineNo, NUMACTL_ERRORS.inconsistent, `node ${id} cpus: listed twice`);
        const parsed = parseCpus(value, (code, why) => fail(lineNo, code, `node ${id} cpus: ${why}`), cpuBudget);
        if (parsed.compressed) cpuCompress = true;
        entry.cpus = parsed.cpus;
        entry.line = lineNo;
        if (!parsed.compressed) lastCpuNode = { id, line: lineNo, cpus: parsed.cpus, wrapped: 0 };
      } else {
        if (entry[field] !== undefined) fail(lineNo, NUMACTL_ERRORS.inconsistent, `node ${id} ${field}: listed twice`);
        entry[field] = parseMiB(value, () =>
          fail(lineNo, NUMACTL_ERRORS.syntax, `node ${id} ${field}: "${value}" is not "<number> MB" or "<not available>"`),
        );
        if (entry[field] === null) {
          warnings.push({ path: at(lineNo), message: `node ${id} ${field}: numactl printed "<not available>"; taken as 0` });
        }
      }
      continue;
    }
    if (lastCpuNode !== null && CONTINUATION.test(raw)) {
      // A cpu list wrapped by whatever the output was pasted through: join it.
      const more = parseCpus(trimmed, (code, why) => fail(lineNo, code, `node ${lastCpuNode?.id} cpus (continued): ${why}`), cpuBudget);
      const entry = nodes.get(lastCpuNode.id);
      // Joined here, sorted once at the end (a list wrapped over many lines stays linear).
      if (entry) for (const c of more.cpus) (entry.cpus ??= []).push(c);
      if (lastCpuNode.wrapped++ === 0) {
        warnings.push({
          path: at(lastCpuNode.line),
          message: `node ${lastCpuNode.id} cpus: the list continues on the following line(s); joined`,
        });
      }
      continue;
    }
    if (DIST_START.test(trimmed)) {
      if (phase === 'preamble') fail(lineNo, NUMACTL_ERRORS.incomplete, 'a distance table with no node lines before it: the output is incomplete');
      phase = 'dist-header';
      distStartLine = lineNo;
      continue;
    }
    if (NO_DIST.test(trimmed)) {
      if (phase === 'preamble') fail(lineNo, NUMACTL_ERRORS.incomplete, 'no node lines before the distance line: the output is incomplete');
      noDistances = true;
      warnings.push({ path: at(lineNo), message: 'numactl printed "No distance information available."' });
      phase = 'done';
      continue;
    }
    if (phase === 'preamble') {
      if (DIST_HEADER.test(trimmed) && /^node\s+\d/.test(trimmed)) {
        fail(lineNo, NUMACTL_ERRORS.incomplete, 'a distance table header with no "available:" or node lines before it: the output is incomplete');
      }
      warnings.push({ path: at(lineNo), message: `ignored text before the numactl output: "${clip(trimmed)}"` });
      continue;
    }
    fail(
      lineNo,
      NUMACTL_ERRORS.syntax,
      `not a numactl --hardware line: "${clip(trimmed)}" (expected "node N cpus|size|free: ..." or "node distances:")`,
    );
  }

  // --- what must have been seen ---
  if (phase === 'preamble') {
    throw new TopologyError(origin, 'not numactl --hardware output: no "available:" or "node N cpus:" line found', NUMACTL_ERRORS.syntax);
  }
  if (phase === 'nodes') {
    fail(lastLine, NUMACTL_ERRORS.incomplete, 'the output ends before the "node distances:" table (cut short?)');
  }
  if (phase === 'dist-header') {
    fail(distStartLine, NUMACTL_ERRORS.incomplete, 'node distances: the table header and rows are missing');
  }
  if (phase === 'dist-rows') {
    const missing = header.filter((h) => !rows.has(h));
    fail(lastLine, NUMACTL_ERRORS.incomplete, `node distances: rows missing for node(s) ${missing.join(', ')} (the table is cut short)`);
  }

  const ids = [...nodes.keys()].sort((a, b) => a - b);
  if (available === null) {
    warnings.push({ path: origin, message: `no "available: N nodes" line; took the ${ids.length} node(s) listed` });
  } else {
    const missing = available.ids.filter((id) => !nodes.has(id));
    if (missing.length > 0) {
      fail(available.line, NUMACTL_ERRORS.incomplete, `available: lists node(s) ${missing.join(', ')} but there are no lines for them`);
    }
  }
  const out: NumactlNode[] = ids.map((id) => {
    const e = nodes.get(id) as { cpus: number[] | null; size: number | null | undefined; free: number | null | undefined; line: number };
    if (e.cpus === null) fail(e.line, NUMACTL_ERRORS.incomplete, `node ${id}: no "node ${id} cpus:" line`);
    if (e.size === undefined) fail(e.line, NUMACTL_ERRORS.incomplete, `node ${id}: no "node ${id} size:" line`);
    if (e.free === undefined) fail(e.line, NUMACTL_ERRORS.incomplete, `node ${id}: no "node ${id} free:" line`);
    const size = e.size ?? null;
    const free = e.free ?? null;
    if (size !== null && free !== null && free > size) {
      warnings.push({ path: at(e.line), message: `node ${id}: free (${free} MB) exceeds size (${size} MB); free taken as size` });
    }
    return { id, cpus: [...new Set(e.cpus ?? [])].sort((a, b) => a - b), sizeMiB: size, freeMiB: free, line: e.line };
  });

  const owner = new Map<number, number>();
  for (const n of out) {
    for (const c of n.cpus) {
      const prev = owner.get(c);
      if (prev !== undefined) fail(n.line, NUMACTL_ERRORS.inconsistent, `node ${n.id} cpus: cpu ${c} is also listed by node ${prev}`);
      owner.set(c, n.id);
    }
  }

  let distances: number[][] | null = null;
  if (!noDistances) {
    const sameSet = header.length === ids.length && ids.every((id) => header.includes(id));
    if (!sameSet) {
      fail(
        headerLine,
        NUMACTL_ERRORS.inconsistent,
        `node distances header lists node(s) ${header.join(' ')} but the node lines are for ${ids.join(' ')}`,
      );
    }
    const col = new Map(header.map((h, k) => [h, k]));
    distances = ids.map((i) => ids.map((j) => (rows.get(i) as number[])[col.get(j) as number] as number));
    // What no kernel prints (it validates the firmware's table): 0, or a remote node nearer than the local one.
    distances.forEach((row, a) => {
      const local = row[a] as number;
      row.forEach((v, b) => {
        const i = ids[a] as number;
        const j = ids[b] as number;
        if (v === 0 || (a !== b && v < local)) {
          fail(rowLine.get(i) ?? headerLine, NUMACTL_ERRORS.inconsistent, `node distances: distance ${v} from node ${i} to node ${j} ${v === 0 ? 'is 0' : `is below node ${i}'s local distance ${local}`}; no kernel prints that`);
        }
      });
    });
  }
  return { nodes: out, distances, cpuCompress, warnings };
}

/** Parses a cpus value in plain ("0 1 2") or --cpu-compress ("0-15, 32-47 (32)") form. */
function parseCpus(value: string, fail: (code: string, why: string) => never, budget: { left: number }): { cpus: number[]; compressed: boolean } {
  if (/\.\./.test(value) || value.includes('\u2026')) {
    fail(
      NUMACTL_ERRORS.abbreviated,
      `the list is abbreviated ("${clip(value)}"); the elided CPUs are unknown and are not guessed: use the full output`,
    );
  }
  let body = value;
  let count: number | null = null;
  const tail = /\(\s*(\d+)\s*\)\s*$/.exec(body);
  if (tail) {
    count = Number(tail[1]);
    body = body.slice(0, tail.index);
  }
  const compressed = count !== null || /[-,]/.test(body);
  const cpus = parseNumberList(body, MAX_CPU_ID, (why) => fail(NUMACTL_ERRORS.syntax, why), budget);
  if (count !== null && count !== cpus.length) {
    fail(NUMACTL_ERRORS.inconsistent, `the count in parentheses (${count}) does not match the ${cpus.length} CPU(s) listed`);
  }
  return { cpus, compressed };
}

/**
 * "0 1 2", "0-3,8", "0-15, 32-47", "" -> sorted unique numbers. Each range is checked against `max`
 * and charged to `budget` (entries left to expand, repeats included) before it is expanded.
 */
function parseNumberList(text: string, max: number, fail: (why: string) => never, budget = { left: max + 1 }): number[] {
  const out = new Set<number>();
  for (const tok of text.split(/[\s,]+/)) {
    if (tok === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(tok);
    if (!m) fail(`"${clip(tok)}" is not a number or a range`);
    const lo = Number((m as RegExpExecArray)[1]);
    const hi = (m as RegExpExecArray)[2] === undefined ? lo : Number((m as RegExpExecArray)[2]);
    if (hi < lo) fail(`range "${tok}" runs backwards`);
    if (hi > max) fail(`${hi} is beyond the largest there is (${max})`);
    budget.left -= hi - lo + 1;
    if (budget.left < 0) fail(`more entries than the largest host has (${max + 1} in all)`);
    for (let v = lo; v <= hi; v++) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

/** "64307 MB" -> 64307; "<not available>" -> null. */
function parseMiB(value: string, fail: () => never): number | null {
  if (/^<not available>$/i.test(value)) return null;
  const m = /^(\d+)\s*MB$/.exec(value);
  if (!m) return fail();
  const n = Number(m[1]);
  return Number.isSafeInteger(n * 1024 * 1024) ? n : fail();
}

function readUint(text: string, max: number, fail: () => never): number {
  if (!UINT.test(text)) return fail();
  const n = Number(text);
  return n > max ? fail() : n;
}

function firstDuplicate(values: readonly number[]): number | null {
  const seen = new Set<number>();
  for (const v of values) {
    if (seen.has(v)) return v;
    seen.add(v);
  }
  return null;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
