/**
 * A fixed, seeded stream of placements used as a byte-for-byte regression record of the engine's
 * decisions (placement-golden.test.ts). Hosts: a few presets plus synthetic hosts of 16, 64 and 256
 * nodes with irregular distances and NICs; requests cover every field (page sizes, SMT and NUMA
 * policies, emulator pCPUs, devices, tiers, layouts, explicit nodes and CPUs); VMs are committed
 * and, now and then, released again so the hosts fragment. Besides `place()` results (explanations,
 * refusal reasons and hints included), the record holds `evaluate()` of random node sets, the
 * contract other policies build on.
 */
import { seededRandom } from '../src/core/random.js';
import { makeContext, cpuModes, pageSizesFor } from '../src/core/placement/index.js';
import { hostCapacity } from '../src/core/placement/capacity.js';
import {
  type HostState,
  type VmRequest,
  commitPlacement,
  createHostState,
  parseVmRequest,
  place,
  releaseAllocation,
} from '../src/core/placement/index.js';
import type { VmRequestInput } from '../src/core/placement/request.js';
import type { PciDeviceInput } from '../src/core/topology/build.js';
import type { Topology } from '../src/core/topology/model.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';

const G = 1024 ** 3;
const M2 = 2 * 1024 ** 2;

const rng = seededRandom;

function synthetic(seed: number, packages: number, perPackage: number, cores: number): Topology {
  const r = rng(seed);
  const n = packages * perPackage;
  const dist = Array.from({ length: n }, () => new Array<number>(n).fill(10));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const same = Math.floor(i / perPackage) === Math.floor(j / perPackage);
      const d = same ? 11 + Math.floor(r() * 4) : 20 + Math.floor(r() * 12);
      (dist[i] as number[])[j] = d;
      (dist[j] as number[])[i] = d;
    }
  }
  const devices: PciDeviceInput[] = [];
  for (let i = 0; i < Math.min(6, n); i++) {
    const bus = (0x10 + i * 0x10).toString(16).padStart(2, '0');
    const vfs = Array.from({ length: i % 3 }, (_, v) => `0000:${bus}:00.${v + 1}`);
    devices.push({
      address: `0000:${bus}:00.0`,
      class: 'rdma',
      classCode: 0x020000,
      vendorId: 0x15b3,
      deviceId: 0x1017,
      node: Math.floor(r() * n),
      sriov: { totalVfs: 8, numVfs: vfs.length, vfs },
      rdmaDevices: [`mlx5_${i}`],
    });
  }
  return syntheticTopology({
    source: `golden-${n}n`,
    packages,
    nodesPerPackage: perPackage,
    coresPerNode: cores,
    threadsPerCore: 2,
    memoryPerNode: 32 * G,
    hugePages: [
      { pageSize: M2, total: 4096, free: 4096 },
      { pageSize: G, total: 4, free: 4 },
    ],
    distances: dist,
    devices,
  });
}

/** The hosts of the record, by name. */
export function goldenHosts(): { name: string; topology: Topology; steps: number }[] {
  const preset = (name: string, steps: number): { name: string; topology: Topology; steps: number } => {
    const p = getPreset(name);
    if (!p) throw new Error(`no preset ${name}`);
    return { name, topology: p.build(), steps };
  };
  return [
    preset('broadwell-2s', 60),
    preset('epyc-2s-nps4', 60),
    preset('ring-4s', 60),
    preset('xeon-8s', 60),
    preset('cxl-2s', 40),
    preset('sapphire-rapids-max-hbm-flat', 40),
    { name: 'synthetic-16', topology: synthetic(16, 4, 4, 4), steps: 60 },
    { name: 'synthetic-64', topology: synthetic(64, 8, 8, 4), steps: 40 },
    { name: 'synthetic-256', topology: synthetic(256, 16, 16, 2), steps: 30 },
  ];
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function randomRequest(r: () => number, name: string, state: HostState): VmRequestInput {
  const topo = state.topology;
  const vcpus = 1 + Math.floor(r() * (r() < 0.7 ? 8 : 40));
  const memGiB = 1 + Math.floor(r() * (r() < 0.7 ? 16 : 96));
  const req: VmRequestInput = {
    name,
    vcpus,
    memory: memGiB * G,
    pageSize: pick(r, [4096, 4096, M2, G, 'auto'] as const),
    cpuPolicy: r() < 0.85 ? 'dedicated' : 'shared',
    smt: pick(r, ['auto', 'auto', 'prefer', 'isolate', 'require'] as const),
    numa: pick(r, ['auto', 'auto', 'auto', 'strict', 'preferred', 'interleave'] as const),
    emulator: r() < 0.8 ? 'share' : 1 + Math.floor(r() * 2),
  };
  const x = r();
  if (x < 0.12) req.devices = [{ kind: pick(r, ['rdma', 'rdma-vf', 'nic', 'vf', 'gpu'] as const), count: 1 + Math.floor(r() * 2), locality: pick(r, ['required', 'preferred', 'none'] as const) }];
  else if (x < 0.16 && topo.pciDevices.length > 0) req.devices = [{ kind: 'pci', address: pick(r, topo.pciDevices).address, locality: pick(r, ['required', 'preferred'] as const) }];
  const y = r();
  if (y < 0.06) req.maxNodes = 1 + Math.floor(r() * 3);
  else if (y < 0.1 && req.numa !== 'strict' && vcpus >= 2) {
    const a = Math.floor(vcpus / 2);
    req.layout = [
      { vcpus: a, memory: Math.floor(memGiB / 2) * G },
      { vcpus: vcpus - a, memory: (memGiB - Math.floor(memGiB / 2)) * G },
    ];
  } else if (y < 0.14) {
    const ids = topo.nodes.map((n) => n.id);
    const k = r() < 0.7 ? 1 : 2;
    const chosen = new Set<number>();
    while (chosen.size < Math.min(k, ids.length)) chosen.add(pick(r, ids));
    req.nodes = [...chosen].sort((a, b) => a - b);
  } else if (y < 0.17) {
    const cap = hostCapacity(state);
    const free = cap.nodes.flatMap((n) => n.freePus);
    const start = Math.floor(r() * Math.max(1, free.length));
    req.cpus = Array.from({ length: vcpus }, (_, i) => free[(start + i) % Math.max(1, free.length)] ?? i);
    if (req.cpuPolicy === 'dedicated' && new Set(req.cpus).size !== req.cpus.length) req.cpus = Array.from({ length: vcpus }, (_, i) => i);
  } else if (y < 0.22) {
    const tiers = [...new Set(topo.nodes.map((n) => n.tier))].filter((t): t is 'hbm' | 'cxl' | 'gpu' => t === 'hbm' || t === 'cxl' || t === 'gpu');
    if (tiers.length > 0) req.tier = pick(r, tiers);
  }
  if (req.numa === 'strict' && req.maxNodes !== undefined) req.maxNodes = 1;
  return req;
}

/** Compact form of an evaluation (what other policies read). */
function evalRecord(ev: ReturnType<ReturnType<typeof makeContext>['evaluate']>): unknown {
  return { ok: ev.ok, nodes: ev.nodes, parts: ev.parts, memory: ev.memory, cost: ev.cost, missingPreferred: ev.missingPreferred, shortfalls: ev.shortfalls };
}

/** Runs the stream of one host; returns the record lines (one JSON text per event). */
export function goldenRecord(host: { name: string; topology: Topology; steps: number }, seed: number): string[] {
  const r = rng(seed);
  let state = createHostState(host.topology);
  const live: string[] = [];
  const out: string[] = [];
  for (let i = 0; i < host.steps; i++) {
    if (live.length > 0 && r() < 0.15) {
      const name = live.splice(Math.floor(r() * live.length), 1)[0] as string;
      state = releaseAllocation(state, name);
      out.push(JSON.stringify({ step: i, release: name }));
      continue;
    }
    const input = randomRequest(r, `vm${i}`, state);
    let request: VmRequest;
    try {
      request = parseVmRequest(input);
    } catch (err) {
      out.push(JSON.stringify({ step: i, invalid: (err as Error).message }));
      continue;
    }
    try {
      const res = place(request, state);
      out.push(JSON.stringify({ step: i, request: input, result: res }));
      if (res.ok) {
        state = commitPlacement(state, res.placement, request);
        live.push(request.name);
      }
    } catch (err) {
      out.push(JSON.stringify({ step: i, request: input, throws: (err as Error).message }));
    }
    if (i % 5 === 0 && !request.cpus) {
      // evaluate() of a few random node sets in this request's first context
      const cap = hostCapacity(state);
      const mode = cpuModes(request)[0];
      const page = pageSizesFor(request, cap)[0];
      if (mode && page !== undefined) {
        const ctx = makeContext(request, state, page, mode, cap);
        const ids = ctx.cpuNodes.map((n) => n.id);
        const evals: unknown[] = [];
        for (let t = 0; t < 4 && ids.length > 0; t++) {
          const k = 1 + Math.floor(r() * Math.min(4, ids.length));
          const set = new Set<number>();
          while (set.size < k) set.add(pick(r, ids));
          evals.push(evalRecord(ctx.evaluate([...set])));
        }
        out.push(JSON.stringify({ step: i, minNodes: ctx.minNodes(), maxNodes: ctx.maxNodes(), evals }));
      }
    }
  }
  return out;
}
