/**
 * The referee corpus: real placements by the real engine, every preset x a request mix (single node,
 * wide, huge pages 2M and 1G, devices, explicit pinning, SMT siblings, memory tiers, emulator CPUs).
 * Requests a preset cannot satisfy (e.g. a device it lacks) are left out and counted.
 */
import { createHostState, parseVmSpec, place } from '../src/core/placement/index.js';
import type { Placement } from '../src/core/placement/types.js';
import type { Topology } from '../src/core/topology/model.js';
import { getPreset, presetNames } from '../src/core/topology/presets/index.js';

/** One corpus entry. */
export interface CorpusEntry {
  id: string;
  preset: string;
  spec: string;
  topology: Topology;
  placement: Placement;
}

function requestsFor(t: Topology): { kind: string; spec: string }[] {
  const cpuNodes = t.nodes.filter((n) => n.cpus.length > 0);
  const coresPerNode = Math.max(...cpuNodes.map((n) => t.cores.filter((c) => c.node === n.id).length));
  const wide = Math.min(coresPerNode + 2, 64);
  const last = cpuNodes[cpuNodes.length - 1];
  const lastCores = t.cores.filter((c) => c.node === last?.id).slice(0, 4);
  const pinned = lastCores.map((c) => c.pus[0] as number);
  const kinds = new Set(t.pciDevices.map((d) => d.class));
  const out = [
    { kind: 'single', spec: 'vcpus=4,memory=8G' },
    { kind: 'wide', spec: `vcpus=${wide},memory=32G` },
    { kind: 'huge2m', spec: 'vcpus=4,memory=8G,pages=2M' },
    { kind: 'huge1g-wide', spec: `vcpus=${wide},memory=32G,pages=1G` },
    { kind: 'smt', spec: 'vcpus=8,memory=8G,smt=require' },
    { kind: 'pinned', spec: `vcpus=${pinned.length},memory=4G,cpus=${pinned.join(',')}` },
    { kind: 'emulator', spec: 'vcpus=4,memory=4G,emulator=1' },
  ];
  if (kinds.has('rdma')) {
    out.push({ kind: 'rdma', spec: 'vcpus=4,memory=8G,devices=rdma-vf:1:required' });
    out.push({ kind: 'wide-devices', spec: `vcpus=${wide},memory=32G,pages=2M,devices=rdma-vf:2` });
  }
  if (kinds.has('gpu')) out.push({ kind: 'gpu', spec: 'vcpus=8,memory=16G,devices=gpu:1:required' });
  const tiers = new Set(t.nodes.map((n) => n.tier));
  for (const tier of ['hbm', 'cxl', 'gpu'] as const) if (tiers.has(tier)) out.push({ kind: `tier-${tier}`, spec: `vcpus=4,memory=16G,tier=${tier}` });
  return out;
}

let cached: { entries: CorpusEntry[]; refused: string[] } | null = null;

/** Builds the corpus once per test file. */
export function corpus(): { entries: CorpusEntry[]; refused: string[] } {
  if (cached) return cached;
  const entries: CorpusEntry[] = [];
  const refused: string[] = [];
  for (const preset of presetNames()) {
    const topology = (getPreset(preset) as { build(): Topology }).build();
    const state = createHostState(topology);
    for (const r of requestsFor(topology)) {
      const name = `${preset}-${r.kind}`.replace(/[^A-Za-z0-9_.-]/g, '-');
      const spec = `name=${name},${r.spec}`;
      const result = place(parseVmSpec(spec), state);
      if (result.ok) entries.push({ id: name, preset, spec, topology, placement: result.placement });
      else refused.push(`${name}: ${result.reasons[0]?.detail ?? 'refused'}`);
    }
  }
  cached = { entries, refused };
  return cached;
}
