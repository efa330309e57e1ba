/** Writing numaplan's topology JSON (no schema library needed to write it). */
import type { Topology } from './model.js';

/** Serialises a topology as pretty JSON (stable key order: the model's). */
export function topologyToJson(topo: Topology): string {
  return `${JSON.stringify(topo, null, 2)}\n`;
}
