/**
 * Built-in machines, usable anywhere a host is needed: `--from preset:NAME`, tests, benchmarks, the
 * simulator. One file per preset; each says in `provenance` where every number comes from (a file of
 * the numactl data set, a vendor specification, a published output) and which values are
 * illustrative or assumed.
 *
 * Conventions shared by every preset (see machine.ts):
 * - source "preset:NAME", hostname "preset-NAME"; building is deterministic (two builds deep-equal);
 * - memory free = total, as on a host where nothing runs yet;
 * - huge pages come pre-sized as on a host reserved for VMs: on each DRAM node with CPUs, a quarter of
 *   its memory in 2 MiB pages and an eighth in 1 GiB pages, all free; CPU-less nodes (HBM, CXL, GPU
 *   memory) have no pools;
 * - RDMA NICs are ConnectX physical functions with 8 SR-IOV VFs enabled, each VF listed as its own
 *   device with `physfn` naming its PF and its own mlx5_N RDMA device.
 */
import type { Topology } from '../model.js';
import { broadwell2s } from './broadwell-2s.js';
import { cxl2s } from './cxl-2s.js';
import { dgxH100 } from './dgx-h100.js';
import { epyc2sNps1 } from './epyc-2s-nps1.js';
import { epyc2sNps2 } from './epyc-2s-nps2.js';
import { epyc2sNps4 } from './epyc-2s-nps4.js';
import { gh2002s } from './gh200-2s.js';
import { ring4s } from './ring-4s.js';
import { xeon2sSnc2 } from './xeon-2s-snc2.js';
import { xeon8s } from './xeon-8s.js';
import { sapphireRapidsMaxHbmFlat } from './sapphire-rapids-max-hbm-flat.js';

/** A built-in machine. */
export interface Preset {
  name: string;
  description: string;
  /** Where the numbers come from. */
  provenance: string;
  build(): Topology;
}

const PRESETS: readonly Preset[] = [
  broadwell2s,
  epyc2sNps1,
  epyc2sNps2,
  epyc2sNps4,
  xeon2sSnc2,
  ring4s,
  xeon8s,
  gh2002s,
  cxl2s,
  sapphireRapidsMaxHbmFlat,
  dgxH100,
];

/** Looks a preset up by name. */
export function getPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** All preset names, sorted. */
export function presetNames(): string[] {
  return PRESETS.map((p) => p.name).sort();
}

/** All presets, in the order `--list-presets` shows them (two-socket first, then larger and heterogeneous hosts). */
export function listPresets(): readonly Preset[] {
  return PRESETS;
}
