/** PLACEHOLDER: replaced by the hwloc XML importer. */
import { TopologyError } from '../../core/topology/errors.js';
import type { Topology } from '../../core/topology/model.js';

/** Imports an hwloc v2 XML document. */
export function topologyFromHwlocXml(_text: string, origin: string): Topology {
  throw new TopologyError(origin, 'hwloc import not built yet');
}
