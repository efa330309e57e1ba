/**
 * A host's measured node-to-node matrix (`numaplan probe`) as part of its model: checked against the
 * host's nodes, attached to a topology, and read by the cost model.
 *
 * The matrices are square over `nodes` (the host's node ids in their order): row = the node of the
 * CPU that ran the loads (initiator), column = the node the memory was bound to (target). A cell is
 * null where nothing could be measured: a row of a node without CPUs, a column of a node without
 * memory.
 */
import { deepFreeze } from './build.js';
import { TopologyError } from './errors.js';
import type { Calibration, Topology } from './model.js';

export type { Calibration } from './model.js';

/** Largest latency accepted, ns (a dependent load slower than 100 µs is no memory latency). */
export const MAX_LATENCY_NS = 100_000;
/** Largest bandwidth accepted, MB/s (far above any memory system a single thread reads from). */
export const MAX_BANDWIDTH_MBPS = 100_000_000;

function checkMatrix(m: unknown, n: number, name: 'latency' | 'bandwidth', max: number): (number | null)[][] {
  const path = `calibration.${name}`;
  if (!Array.isArray(m) || m.length !== n) throw new TopologyError(path, `expected ${n} rows, one per node`);
  return m.map((row, i) => {
    if (!Array.isArray(row) || row.length !== n) throw new TopologyError(`${path}[${i}]`, `expected ${n} values, one per node`);
    return row.map((v, j) => {
      if (v === null) return null;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) {
        throw new TopologyError(`${path}[${i}][${j}]`, `expected a positive number up to ${max} or null, got ${JSON.stringify(v)}`);
      }
      return v;
    });
  });
}

/**
 * Checks a calibration against a host's nodes (ids in order) and returns a clean copy. Throws
 * TopologyError (ERR_CALIBRATION) naming the field: node ids other than the host's, a matrix of the
 * wrong shape, a value that is not a positive number.
 */
export function checkCalibration(nodeIds: readonly number[], cal: Calibration): Calibration {
  try {
    if (typeof cal !== 'object' || cal === null) throw new TopologyError('calibration', 'expected an object');
    const ids = cal.nodes;
    if (!Array.isArray(ids) || ids.length !== nodeIds.length || ids.some((id, i) => id !== nodeIds[i])) {
      throw new TopologyError(
        'calibration.nodes',
        `measured on nodes ${Array.isArray(ids) ? ids.join(',') : String(ids)}, but this host has nodes ${nodeIds.join(',')}: a calibration belongs to a host with the same nodes`,
      );
    }
    for (const k of ['measuredAt', 'method'] as const) {
      if (typeof cal[k] !== 'string' || cal[k].length > 1024) throw new TopologyError(`calibration.${k}`, 'expected a string (at most 1024 characters)');
    }
    if (cal.hostname !== null && (typeof cal.hostname !== 'string' || cal.hostname.length > 255)) throw new TopologyError('calibration.hostname', 'expected a host name or null');
    const latency = checkMatrix(cal.latency, ids.length, 'latency', MAX_LATENCY_NS);
    const bandwidth = checkMatrix(cal.bandwidth, ids.length, 'bandwidth', MAX_BANDWIDTH_MBPS);
    if (!latency.some((row) => row.some((v) => v !== null))) throw new TopologyError('calibration.latency', 'holds no measured value');
    return { measuredAt: cal.measuredAt, hostname: cal.hostname, method: cal.method, nodes: [...ids], latency, bandwidth };
  } catch (err) {
    if (err instanceof TopologyError) throw new TopologyError(err.path, err.message.slice(err.path.length + 2), 'ERR_CALIBRATION');
    throw err;
  }
}

/** The topology with `cal` attached (checked against its nodes), or without any calibration when `cal` is null. */
export function withCalibration(topology: Topology, cal: Calibration | null): Topology {
  const { calibration, ...rest } = topology;
  void calibration;
  if (cal === null) return deepFreeze({ ...rest });
  return deepFreeze({ ...rest, calibration: checkCalibration(topology.nodes.map((n) => n.id), cal) });
}

/** Measured latency from a CPU of node `a` to memory of node `b`, ns; null where not measured. */
export type LatencyLookup = (a: number, b: number) => number | null;

const lookups = new WeakMap<Calibration, LatencyLookup>();

/** The latency lookup of a calibration (memoised per calibration). */
export function measuredLatency(cal: Calibration): LatencyLookup {
  let f = lookups.get(cal);
  if (!f) {
    const index = new Map(cal.nodes.map((id, i) => [id, i]));
    f = (a, b) => {
      const i = index.get(a);
      const j = index.get(b);
      return i === undefined || j === undefined ? null : (cal.latency[i]?.[j] ?? null);
    };
    lookups.set(cal, f);
  }
  return f;
}

/** One line naming a calibration: when and how it was measured. */
export function calibrationLabel(cal: Calibration): string {
  return `measured by numaplan probe${cal.hostname ? ` on ${cal.hostname}` : ''} at ${cal.measuredAt}`;
}
