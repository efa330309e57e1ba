/** PLACEHOLDER: replaced by the hwloc XML exporter. */
import type { Topology } from '../../core/topology/model.js';

/** Exports a topology as hwloc v2 XML that lstopo loads. */
export function topologyToHwlocXml(_topo: Topology): string {
  throw new Error('hwloc export not built yet');
}
