/**
 * numaplan's own topology JSON, in and out. Parsing validates against the schema and the cross-field
 * invariants, then rebuilds through `makeTopology` so a loaded document is exactly as trustworthy as
 * a discovered one.
 */
import { deepFreeze, makeTopology } from './build.js';
import { TopologyError } from './errors.js';
import { type Topology, TopologySchema } from './model.js';

export { topologyToJson } from './json-out.js';

/** Parses and validates a topology document. Throws `TopologyError` naming the first bad field. */
export function topologyFromJson(text: string, origin = 'topology.json'): Topology {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TopologyError(origin, `not valid JSON (${(err as Error).message})`, 'ERR_TOPOLOGY_JSON');
  }
  const parsed = TopologySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('') : '';
    throw new TopologyError(`${origin}:${path.replace(/^\./, '') || '(root)'}`, issue?.message ?? 'invalid', 'ERR_TOPOLOGY_JSON');
  }
  const t = parsed.data;
  const puCore = new Map(t.cores.flatMap((c) => c.pus.map((p) => [p, c.coreId] as const)));
  return makeTopology({
    source: t.source,
    hostname: t.hostname,
    nodes: t.nodes,
    distances: t.distances,
    pus: t.pus.map((p) => ({
      os: p.os,
      package: p.package,
      core: (t.cores[p.core]?.pus[0] ?? p.os),
      coreId: puCore.get(p.os),
      online: p.online,
      allowed: p.allowed,
    })),
    packages: t.packages,
    caches: t.caches,
    groups: t.groups,
    pciDevices: t.pciDevices,
    pciHostBridges: t.pciHostBridges,
    offlineCpus: t.offlineCpus,
    warnings: t.warnings,
    calibration: t.calibration,
  });
}

/**
 * A topology document numaplan wrote itself from `makeTopology`'s output (the fleet store, the
 * parsing worker): parsed and frozen without validating and deriving it again, which costs a few
 * milliseconds per MiB instead of a full rebuild. Never for input from outside.
 */
export function topologyFromTrustedJson(text: string, origin = 'topology.json'): Topology {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TopologyError(origin, `not valid JSON (${(err as Error).message})`, 'ERR_TOPOLOGY_JSON');
  }
  const doc = raw as Partial<Topology> | null;
  if (doc === null || typeof doc !== 'object' || doc.schema !== 'numaplan.topology/v1' || !Array.isArray(doc.nodes) || !Array.isArray(doc.pus)) {
    throw new TopologyError(origin, 'not a numaplan topology document', 'ERR_TOPOLOGY_JSON');
  }
  return deepFreeze(doc as Topology);
}
