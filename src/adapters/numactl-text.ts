/**
 * `numactl --hardware` text -> topology.
 *
 * numactl tells nodes, their CPUs, memory size and free memory, and the distance matrix. It does not
 * tell packages, cores, SMT siblings, caches, huge pages, memory technology or devices, so the model
 * built here makes documented, visible choices (each listed in the topology's warnings):
 * - one package per node that has CPUs, with the package id equal to the node id (a two-socket NPS4
 *   host therefore shows 8 packages: numactl cannot tell which nodes share a socket);
 * - one single-thread core per listed CPU (SMT unknown), coreId = position within the node;
 * - CPU-less nodes get no package and memory tier 'unknown' (HBM, CXL or GPU memory look the same);
 * - memory total/free from `size`/`free` (printed in MiB); no huge-page pools, no caches, no devices.
 * Errors in the text (see core/topology/numactl-parse.ts) throw TopologyError: the CLI exits 2.
 */
import { type PuInput, makeTopology } from '../core/topology/build.js';
import type { Topology } from '../core/topology/model.js';
import { parseNumactlHardware } from '../core/topology/numactl-parse.js';

const MiB = 1024 * 1024;

/** Parses the text of `numactl --hardware` (or `numactl -H --cpu-compress`); `origin` names it in errors. */
export function topologyFromNumactl(text: string, origin: string): Topology {
  const hw = parseNumactlHardware(text, origin);
  const pus: PuInput[] = [];
  for (const node of hw.nodes) {
    node.cpus.forEach((os, i) => pus.push({ os, package: node.id, core: os, coreId: i }));
  }
  const warnings = [
    ...hw.warnings,
    {
      path: origin,
      message:
        'numactl does not report packages, cores or SMT: each node with CPUs is modelled as one package ' +
        '(id = node id) of single-thread cores, one per listed CPU',
      level: 'note' as const,
    },
  ];
  if (hw.nodes.some((n) => n.cpus.length === 0 && (n.sizeMiB ?? 0) > 0)) {
    warnings.push({
      path: origin,
      message: 'numactl does not say what memory CPU-less nodes hold (HBM, CXL, GPU): tier unknown',
      level: 'note' as const,
    });
  }
  return makeTopology({
    source: `numactl:${origin}`,
    hostname: null,
    nodes: hw.nodes.map((n) => ({
      id: n.id,
      cpus: n.cpus,
      memory: { total: (n.sizeMiB ?? 0) * MiB, free: (n.freeMiB ?? 0) * MiB },
      hugePages: [],
    })),
    distances: hw.distances,
    pus,
    warnings,
  });
}
