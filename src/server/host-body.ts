/**
 * A host registration body (`PUT /api/v1/hosts/NAME`), from its text to a topology: the JSON checks
 * of every body (depth, numbers), the known fields, then the topology through its reader and
 * `makeTopology`. This is the service's heaviest parsing (a body may hold megabytes of hwloc XML or a
 * few bytes of numactl text naming thousands of CPUs), so the service runs it in a worker thread
 * (topology-parser.ts) and gets back the model as JSON text it wrote itself.
 */
import { parseCalibration } from '../core/probe/plan.js';
import { withCalibration } from '../core/topology/calibration.js';
import { TopologyError } from '../core/topology/errors.js';
import type { Topology } from '../core/topology/model.js';
import { parseJsonObject } from './body.js';
import { ApiError } from './errors.js';
import { topologyFromBody } from './topology-input.js';

/** Fields a registration body may carry. */
export const HOST_BODY_FIELDS = ['format', 'topology', 'reserve', 'accept', 'calibration'] as const;

/** A parsed registration body: the model as JSON text, and the other fields as sent. */
export interface ParsedHostBody {
  topologyText: string;
  reserve: unknown;
  accept: unknown;
}

/**
 * Parses a registration body. `maxModelBytes` bounds the model's JSON (a few bytes of numactl text
 * can describe a large host; the service keeps every host's model in memory and in the store).
 */
export function parseHostBody(text: string, maxDepth: number, maxModelBytes: number): ParsedHostBody {
  const body = parseJsonObject(text, maxDepth);
  for (const k of Object.keys(body)) {
    if (!(HOST_BODY_FIELDS as readonly string[]).includes(k)) throw new ApiError(400, 'ERR_FIELD', k, `unknown field (known: ${HOST_BODY_FIELDS.join(', ')})`);
  }
  let topology = topologyFromBody(body.format, body.topology);
  if (body.calibration !== undefined && body.calibration !== null) topology = calibrate(topology, body.calibration);
  const topologyText = JSON.stringify(topology);
  if (topologyText.length > maxModelBytes) {
    throw new ApiError(413, 'ERR_TOPOLOGY_TOO_LARGE', 'topology', `the host's model is ${topologyText.length} bytes of JSON; at most ${maxModelBytes}`);
  }
  return { topologyText, reserve: body.reserve, accept: body.accept };
}

/**
 * Attaches a probe's measured matrix (`numaplan probe --json`, or the calibration object a topology
 * carries) to the host: 400 ERR_CALIBRATION naming the field when it is malformed or measured on
 * other nodes.
 */
function calibrate(topology: Topology, raw: unknown): Topology {
  try {
    return withCalibration(topology, parseCalibration(typeof raw === 'string' ? raw : JSON.stringify(raw), 'calibration'));
  } catch (err) {
    if (err instanceof TopologyError) {
      const field = err.path.replace(/^calibration: (calibration\.)?/, 'calibration.').replace(/^calibration\.calibration/, 'calibration');
      throw new ApiError(400, 'ERR_CALIBRATION', field, err.message.slice(err.path.length + 2));
    }
    throw err;
  }
}
