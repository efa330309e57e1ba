/** PLACEHOLDER: replaced by the numactl --hardware parser. */
import { TopologyError } from '../core/topology/errors.js';
import type { Topology } from '../core/topology/model.js';

/** Parses the text of `numactl --hardware`. */
export function topologyFromNumactl(_text: string, origin: string): Topology {
  throw new TopologyError(origin, 'numactl parser not built yet');
}
