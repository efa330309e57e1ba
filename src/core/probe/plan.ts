/**
 * `numaplan probe`, the pure part: what to measure on a host (which CPU stands for each node, which
 * nodes' memory, how large a buffer, how long per pair), how to judge that a pair really ran with the
 * binding it claims, and the result document (`numaplan.probe/v1`) whose matrices calibrate the cost
 * model. The measuring itself is the native helper's (native/probe.c), started by an adapter.
 *
 * Pairs: every node with a usable CPU (online, in the cpuset) is an initiator, represented by its
 * highest-numbered usable CPU (CPU 0 and the low CPUs take most interrupts and housekeeping on many
 * systems); every node with memory in the cpuset is a target. A CPU-less node is a target only; a
 * memory-less node an initiator only; their other cells stay null.
 *
 * Buffer: much larger than the last-level cache, so the chase misses it: max(floor, factor x LLC)
 * (full: 4x and 256 MiB; quick: 2x and 64 MiB), in whole 2 MiB units, and at most a quarter of the
 * free memory of the smallest target node (never pushing a node into reclaim); when that cap makes
 * it smaller than asked, the document warns.
 */
import { TopologyError } from '../topology/errors.js';
import type { Calibration, Topology } from '../topology/model.js';
import { checkCalibration } from '../topology/calibration.js';

/** How thoroughly to measure. */
export interface ProbeOptions {
  /** Smaller buffer and shorter runs (CI, a first look): about a tenth of the time. */
  quick?: boolean;
  /** Buffer size in bytes (default: from the LLC, see the module comment). */
  bufferBytes?: number;
}

/** Per-pair measuring times and buffer rules of a mode. */
export const PROBE_MODES = {
  full: { latencyMs: 400, bandwidthMs: 250, llcFactor: 4, floorBytes: 256 << 20 },
  quick: { latencyMs: 40, bandwidthMs: 30, llcFactor: 2, floorBytes: 64 << 20 },
} as const;

/** Smallest buffer worth measuring (below it the chase stays in the caches of any server CPU). */
export const MIN_BUFFER_BYTES = 16 << 20;
/** Largest buffer accepted. */
export const MAX_BUFFER_BYTES = 64 * 1024 ** 3;
/** At most this share of a target node's free memory goes into the buffer. */
export const FREE_MEMORY_SHARE = 0.25;
const UNIT = 2 << 20;

/** What the helper is asked to do. */
export interface ProbePlan {
  nodes: number[];
  /** node -> the CPU measuring from it (nodes without a usable CPU are absent). */
  initiators: { node: number; cpu: number }[];
  targets: number[];
  bufferBytes: number;
  /** Largest cache of the initiator CPUs (bytes), null when the topology lists no caches. */
  llcBytes: number | null;
  latencyMs: number;
  bandwidthMs: number;
  quick: boolean;
  warnings: string[];
}

/** Error for a probe that cannot be planned on this host (ERR_PROBE, exit 2). */
export class ProbeError extends Error {
  readonly code = 'ERR_PROBE';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'ProbeError';
  }
}

/** Plans a probe of `topology` (the live host). */
export function planProbe(topology: Topology, options: ProbeOptions = {}): ProbePlan {
  const mode = options.quick ? PROBE_MODES.quick : PROBE_MODES.full;
  const usable = topology.pus.filter((p) => p.online && p.allowed && p.node !== null);
  const initiators = topology.nodes
    .filter((n) => n.allowed)
    .map((n) => ({ node: n.id, cpus: usable.filter((p) => p.node === n.id).map((p) => p.os) }))
    .filter((x) => x.cpus.length > 0)
    .map((x) => ({ node: x.node, cpu: Math.max(...x.cpus) }));
  if (initiators.length === 0) throw new ProbeError('cpus', 'no online CPU in this cpuset sits on a NUMA node: nothing to measure from');
  const targetNodes = topology.nodes.filter((n) => n.allowed && n.memory.total > 0);
  if (targetNodes.length === 0) throw new ProbeError('nodes', 'no node with memory in this cpuset: nothing to measure');
  const cpus = new Set(initiators.map((i) => i.cpu));
  const caches = topology.caches.filter((c) => c.type !== 'instruction' && c.cpus.some((x) => cpus.has(x)));
  const llcBytes = caches.length > 0 ? Math.max(...caches.map((c) => c.size)) : null;
  const warnings: string[] = [];

  let bytes: number;
  if (options.bufferBytes !== undefined) {
    if (!Number.isSafeInteger(options.bufferBytes) || options.bufferBytes < MIN_BUFFER_BYTES || options.bufferBytes > MAX_BUFFER_BYTES) {
      throw new ProbeError('--buffer', `expected a size from ${MIN_BUFFER_BYTES >> 20} MiB to ${MAX_BUFFER_BYTES / 1024 ** 3} GiB, got ${options.bufferBytes} bytes`);
    }
    bytes = Math.ceil(options.bufferBytes / UNIT) * UNIT;
  } else {
    bytes = Math.ceil(Math.max(mode.floorBytes, mode.llcFactor * (llcBytes ?? 0)) / UNIT) * UNIT;
  }
  const smallest = Math.min(...targetNodes.map((n) => n.memory.free > 0 ? n.memory.free : n.memory.total));
  const cap = Math.floor((smallest * FREE_MEMORY_SHARE) / UNIT) * UNIT;
  if (bytes > cap) {
    if (cap < MIN_BUFFER_BYTES) {
      throw new ProbeError('nodes', `a quarter of the smallest node's free memory is ${cap >> 20} MiB, below the ${MIN_BUFFER_BYTES >> 20} MiB a measurement needs`);
    }
    warnings.push(`buffer cut to ${cap >> 20} MiB (a quarter of the smallest node's free memory) from ${bytes >> 20} MiB`);
    bytes = cap;
  }
  if (llcBytes !== null && bytes < 2 * llcBytes) {
    warnings.push(`the buffer (${bytes >> 20} MiB) is less than twice the last-level cache (${Math.round(llcBytes / 2 ** 20)} MiB): part of the chase hits the cache, latencies read low`);
  }
  return {
    nodes: topology.nodes.map((n) => n.id),
    initiators,
    targets: targetNodes.map((n) => n.id),
    bufferBytes: bytes,
    llcBytes,
    latencyMs: mode.latencyMs,
    bandwidthMs: mode.bandwidthMs,
    quick: options.quick === true,
    warnings,
  };
}

/** What the helper reports for one pair (native/probe.c). */
export interface PairReport {
  initiator: number;
  cpu: number;
  target: number;
  latencyNs: number;
  loads: number;
  bandwidthMBps: number;
  passes: number;
  pairMs: number;
  setupMs: number;
  /** Bytes of the buffer backed by transparent huge pages (-1: unknown). */
  thpBytes: number;
  cpuBefore: number;
  cpuAfter: number;
  /** sched_getaffinity after the run. */
  affinity: number[];
  /** get_mempolicy(MPOL_F_ADDR) of the buffer: mode (2 = MPOL_BIND) and nodes. */
  policy: number;
  policyNodes: number[];
  pages: number;
  pagesMissing: number;
  /** move_pages: pages per node. */
  pagesByNode: Record<string, number>;
  /** The raw lines the kernel showed while the pair ran. */
  procStatus: string;
  procNumaMaps: string;
}

/** The kernel's MPOL_BIND. */
export const MPOL_BIND = 2;

/** Why a pair did not run with the binding it claims (empty: it did). */
export function judgePair(r: PairReport): string[] {
  const problems: string[] = [];
  if (r.affinity.length !== 1 || r.affinity[0] !== r.cpu) problems.push(`thread affinity is CPUs ${r.affinity.join(',')}, not CPU ${r.cpu}`);
  if (r.cpuBefore !== r.cpu || r.cpuAfter !== r.cpu) problems.push(`thread ran on CPU ${r.cpuBefore} then ${r.cpuAfter}, not CPU ${r.cpu}`);
  if (r.policy !== MPOL_BIND || r.policyNodes.length !== 1 || r.policyNodes[0] !== r.target) {
    problems.push(`buffer policy is mode ${r.policy} on nodes ${r.policyNodes.join(',')}, not bind to node ${r.target}`);
  }
  const elsewhere = Object.entries(r.pagesByNode).filter(([n, c]) => Number(n) !== r.target && c > 0);
  if (elsewhere.length > 0) problems.push(`pages on other nodes: ${elsewhere.map(([n, c]) => `${c} on node ${n}`).join(', ')}`);
  if (r.pagesMissing > 0) problems.push(`${r.pagesMissing} pages not present`);
  if ((r.pagesByNode[String(r.target)] ?? 0) !== r.pages) problems.push(`${r.pagesByNode[String(r.target)] ?? 0} of ${r.pages} pages on node ${r.target}`);
  return problems;
}

/** One measured pair in the document. */
export interface ProbePair {
  initiator: number;
  target: number;
  cpu: number;
  latencyNs: number;
  bandwidthMBps: number;
  loads: number;
  passes: number;
  ms: number;
  /** True when every check of judgePair passed. */
  verified: boolean;
  problems: string[];
  /** What the kernel said while it ran: the thread's Cpus_allowed_list line, the buffer's numa_maps line, pages per node (move_pages), the buffer's policy (get_mempolicy). */
  observed: { procStatus: string; procNumaMaps: string; pagesByNode: Record<string, number>; policy: string; thpBytes: number };
}

/** The result of `numaplan probe` (`--json`, and the file `--calibration` reads). */
export interface ProbeDocument {
  schema: 'numaplan.probe/v1';
  hostname: string | null;
  measuredAt: string;
  method: string;
  quick: boolean;
  nodes: number[];
  /** node -> the CPU the thread ran on for that row (null: the node has no usable CPU). */
  cpus: Record<string, number | null>;
  bufferBytes: number;
  llcBytes: number | null;
  /** ns per dependent load; rows: the CPU's node, columns: the memory's node (in `nodes` order). */
  latency: (number | null)[][];
  /** Read bandwidth of one thread, MB/s; same layout. */
  bandwidth: (number | null)[][];
  /** latency / the row's local latency (the measured counterpart of distances / 10). */
  latencyRatio: (number | null)[][];
  /** The SLIT as the kernel reports it, same layout. */
  distances: number[][];
  pairs: ProbePair[];
  /** True when every pair ran with the binding it claims. */
  verified: boolean;
  timing: { wallMs: number; helperStartMs: number; setupMs: number; measureMs: number; overheadMs: number };
  warnings: string[];
}

/** How the figures are measured (in every document). */
export function probeMethod(plan: ProbePlan): string {
  return (
    `latency: one thread pinned to one CPU of the row's node follows a random single-cycle chain of pointers, one per 64-byte line, ` +
    `through a ${plan.bufferBytes >> 20} MiB buffer bound to the column's node (mbind MPOL_BIND; transparent huge pages where the kernel grants them), ` +
    `${plan.latencyMs} ms per pair; bandwidth: the same thread reads the buffer sequentially, whole passes, ${plan.bandwidthMs} ms per pair`
  );
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Builds the document from the plan, the helper's reports and the timings. */
export function probeDocument(
  topology: Topology,
  plan: ProbePlan,
  reports: readonly PairReport[],
  meta: { measuredAt: string; wallMs: number; helperStartMs: number },
): ProbeDocument {
  const index = new Map(plan.nodes.map((id, i) => [id, i]));
  const n = plan.nodes.length;
  const empty = (): (number | null)[][] => Array.from({ length: n }, () => new Array<number | null>(n).fill(null));
  const latency = empty();
  const bandwidth = empty();
  const pairs: ProbePair[] = [];
  let setupMs = 0;
  let measureMs = 0;
  for (const r of reports) {
    const i = index.get(r.initiator);
    const j = index.get(r.target);
    if (i === undefined || j === undefined) continue;
    const problems = judgePair(r);
    (latency[i] as (number | null)[])[j] = round(r.latencyNs, 1);
    (bandwidth[i] as (number | null)[])[j] = Math.round(r.bandwidthMBps);
    setupMs += r.setupMs;
    measureMs += r.pairMs;
    pairs.push({
      initiator: r.initiator,
      target: r.target,
      cpu: r.cpu,
      latencyNs: round(r.latencyNs, 1),
      bandwidthMBps: Math.round(r.bandwidthMBps),
      loads: r.loads,
      passes: r.passes,
      ms: round(r.pairMs, 1),
      verified: problems.length === 0,
      problems,
      observed: {
        procStatus: r.procStatus,
        procNumaMaps: r.procNumaMaps,
        pagesByNode: r.pagesByNode,
        policy: `${r.policy === MPOL_BIND ? 'bind' : `mode ${r.policy}`}:${r.policyNodes.join(',')}`,
        thpBytes: r.thpBytes,
      },
    });
  }
  const expected = plan.initiators.length * plan.targets.length;
  const warnings = [...plan.warnings];
  if (pairs.length !== expected) warnings.push(`${pairs.length} of ${expected} pairs measured`);
  const latencyRatio = latency.map((row, i) => {
    const own = row[i] ?? null;
    const local = own ?? row.reduce<number | null>((m, v) => (v !== null && (m === null || v < m) ? v : m), null);
    return row.map((v) => (v === null || local === null ? null : round(v / local, 3)));
  });
  const cpus: Record<string, number | null> = Object.fromEntries(plan.nodes.map((id) => [String(id), plan.initiators.find((x) => x.node === id)?.cpu ?? null]));
  return {
    schema: 'numaplan.probe/v1',
    hostname: topology.hostname,
    measuredAt: meta.measuredAt,
    method: probeMethod(plan),
    quick: plan.quick,
    nodes: plan.nodes,
    cpus,
    bufferBytes: plan.bufferBytes,
    llcBytes: plan.llcBytes,
    latency,
    bandwidth,
    latencyRatio,
    distances: topology.distances.map((row) => [...row]),
    pairs,
    verified: pairs.length === expected && pairs.every((p) => p.verified),
    timing: {
      wallMs: Math.round(meta.wallMs),
      helperStartMs: Math.round(meta.helperStartMs),
      setupMs: Math.round(setupMs),
      measureMs: Math.round(measureMs),
      overheadMs: Math.max(0, Math.round(meta.wallMs - setupMs - measureMs)),
    },
    warnings,
  };
}

/** The calibration a probe document carries (what a topology keeps of it). */
export function calibrationOf(doc: Pick<ProbeDocument, 'measuredAt' | 'hostname' | 'method' | 'nodes' | 'latency' | 'bandwidth'>): Calibration {
  return { measuredAt: doc.measuredAt, hostname: doc.hostname, method: doc.method, nodes: [...doc.nodes], latency: doc.latency, bandwidth: doc.bandwidth };
}

/**
 * Reads a calibration from the text of a probe document (or of a bare calibration object, as a
 * topology carries it). Throws TopologyError (ERR_CALIBRATION) naming the file and field. The node
 * ids are checked against a host when it is attached (withCalibration).
 */
export function parseCalibration(text: string, origin: string): Calibration {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TopologyError(origin, `not valid JSON (${(err as Error).message})`, 'ERR_CALIBRATION');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new TopologyError(origin, 'expected the JSON of numaplan probe --json', 'ERR_CALIBRATION');
  const doc = raw as Record<string, unknown>;
  if (doc.schema !== undefined && doc.schema !== 'numaplan.probe/v1') {
    throw new TopologyError(`${origin}: schema`, `expected "numaplan.probe/v1" (the output of numaplan probe --json), got ${JSON.stringify(doc.schema)}`, 'ERR_CALIBRATION');
  }
  if (doc.verified === false) {
    throw new TopologyError(`${origin}: verified`, 'the probe could not confirm that every pair ran with its binding: its figures are not used', 'ERR_CALIBRATION');
  }
  if (!Array.isArray(doc.nodes)) throw new TopologyError(`${origin}: nodes`, 'missing: expected the node ids of the probe', 'ERR_CALIBRATION');
  const cal = calibrationOf(doc as unknown as ProbeDocument);
  try {
    return checkCalibration(cal.nodes, cal);
  } catch (err) {
    if (err instanceof TopologyError) throw new TopologyError(`${origin}: ${err.path}`, err.message.slice(err.path.length + 2), 'ERR_CALIBRATION');
    throw err;
  }
}
