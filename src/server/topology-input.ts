/**
 * A topology sent to the service: `{ format, topology }` where format is json (numaplan's topology
 * JSON, as an object or text), hwloc-xml, numactl (`numactl --hardware` text), preset (a name), or
 * auto (guessed from the content). Anything the readers reject is a 400 naming the field.
 */
import { topologyFromHwlocXml } from '../adapters/hwloc-xml/import.js';
import { topologyFromNumactl } from '../adapters/numactl-text.js';
import { topologyFromJson } from '../core/topology/json.js';
import type { Topology } from '../core/topology/model.js';
import { getPreset, presetNames } from '../core/topology/presets/index.js';
import { ApiError, toApiError } from './errors.js';

/** Formats a topology can be sent in. */
export const TOPOLOGY_FORMATS = ['auto', 'json', 'hwloc-xml', 'numactl', 'preset'] as const;

/** Parses the topology of a registration body. */
export function topologyFromBody(format: unknown, topology: unknown): Topology {
  const f = format === undefined ? 'auto' : format;
  if (typeof f !== 'string' || !(TOPOLOGY_FORMATS as readonly string[]).includes(f)) {
    throw new ApiError(400, 'ERR_FORMAT', 'format', `expected one of ${TOPOLOGY_FORMATS.join(', ')}`);
  }
  if (topology === undefined || topology === null) throw new ApiError(400, 'ERR_FIELD', 'topology', 'missing');
  let kind = f;
  if (kind === 'auto') {
    if (typeof topology === 'object') kind = 'json';
    else if (typeof topology === 'string') {
      const head = topology.trimStart();
      kind = head.startsWith('{') ? 'json' : head.startsWith('<') ? 'hwloc-xml' : /^available:\s*\d+\s+nodes/m.test(head) ? 'numactl' : '';
      if (kind === '') throw new ApiError(400, 'ERR_FORMAT', 'format', 'cannot tell the format; say it (json, hwloc-xml, numactl, preset)');
    }
  }
  if (kind === 'json') {
    if (typeof topology !== 'object' && typeof topology !== 'string') throw new ApiError(400, 'ERR_FIELD', 'topology', 'expected an object or JSON text');
    const text = typeof topology === 'string' ? topology : JSON.stringify(topology);
    return guarded(() => topologyFromJson(text, 'topology'));
  }
  if (typeof topology !== 'string') throw new ApiError(400, 'ERR_FIELD', 'topology', `format ${kind} takes text`);
  if (kind === 'hwloc-xml') return guarded(() => topologyFromHwlocXml(topology, 'topology'));
  if (kind === 'numactl') return guarded(() => topologyFromNumactl(topology, 'topology'));
  const preset = getPreset(topology);
  if (!preset) throw new ApiError(400, 'ERR_TOPOLOGY', 'topology', `unknown preset (known: ${presetNames().join(', ')})`);
  return preset.build();
}

/** Readers throw TopologyError for bad input; anything else they throw is still the input's fault. */
function guarded(read: () => Topology): Topology {
  try {
    return read();
  } catch (err) {
    const api = toApiError(err);
    if (api.status !== 500) throw new ApiError(api.status, api.code === 'ERR_FIELD' ? 'ERR_TOPOLOGY' : api.code, api.field, api.message);
    throw new ApiError(400, 'ERR_TOPOLOGY', 'topology', `unreadable topology (${(err as Error).message?.slice(0, 200) ?? 'error'})`);
  }
}
