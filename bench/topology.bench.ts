/**
 * Topology discovery speed: numaplan's sysfs reader against hwloc's `lstopo-no-graphics` on the
 * same trees, in the same run.
 *
 * Trees: (a) the largest Linux capture of hwloc's test suite (most PUs, then most files), extracted
 * once; (b) a generated 1024-PU, 64-node host (4 packages x 16 nodes x 8 cores x 2 threads, with
 * huge pages and SR-IOV NICs) written by the sysfs writer.
 * Rows per tree: readSysfs in-process; the whole CLI as a process (`node bin/numaplan.js topology
 * --from sysfs:DIR --json`), which is the fair comparison with lstopo, itself a process
 * (`lstopo-no-graphics --input DIR --of xml`); and, for reference, Node.js start-up alone.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeSysfsTree } from '../src/adapters/sysfs-writer/write-sysfs-tree.js';
import { readSysfs } from '../src/adapters/sysfs/read-sysfs.js';
import type { PciDeviceInput } from '../src/core/topology/build.js';
import type { Topology } from '../src/core/topology/model.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { REPO_ROOT, requireDataSet } from './lib/data.js';
import { hasCommand, runProcess } from './lib/process.js';
import type { BenchCase, BenchSuite } from './lib/types.js';

const LSTOPO = 'lstopo-no-graphics';
const CLI = join(REPO_ROOT, 'bin', 'numaplan.js');
const GiB = 1024 ** 3;

/** The trees, filled in by setup. */
const trees: { capture: string | null; captureLabel: string; generated: string | null } = {
  capture: null,
  captureLabel: 'largest capture',
  generated: null,
};
let captureError = 'not extracted';

/** Picks the largest capture: by PU count then member count from manifest.json, else by name and size. */
function largestCapture(dataDir: string): string {
  const linux = join(dataDir, 'linux');
  const archives = readdirSync(linux).filter((f) => f.endsWith('.tar.bz2'));
  if (archives.length === 0) throw new Error(`no *.tar.bz2 capture in ${linux}`);
  const rank = new Map<string, [number, number]>();
  const manifest = join(dataDir, 'manifest.json');
  if (existsSync(manifest)) {
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as {
      entries?: { repo_path?: string; source?: string; expected?: { counts?: Record<string, number> }; source_tarball?: { members?: number } }[];
    };
    for (const e of m.entries ?? []) {
      if (!e.source || !e.repo_path?.includes('/linux/') || !archives.includes(e.source)) continue;
      const score: [number, number] = [e.expected?.counts?.PU ?? 0, e.source_tarball?.members ?? 0];
      const prev = rank.get(e.source);
      if (!prev || score[0] > prev[0] || (score[0] === prev[0] && score[1] > prev[1])) rank.set(e.source, score);
    }
  }
  for (const a of archives) {
    // hwloc names captures after their PU count ("256ppc-8n8s4t"); archive size breaks ties.
    if (!rank.has(a)) rank.set(a, [Number(/^(\d+)/.exec(a)?.[1] ?? 0), statSync(join(linux, a)).size]);
  }
  const best = [...rank.entries()].sort((x, y) => y[1][0] - x[1][0] || y[1][1] - x[1][1] || x[0].localeCompare(y[0]))[0];
  return join(linux, (best as [string, [number, number]])[0]);
}

/** The generated host: 4 packages x 16 nodes x 8 cores x 2 threads = 1024 PUs, 64 nodes. */
export function generatedHost(): Topology {
  const packages = 4;
  const nodesPerPackage = 16;
  const coresPerNode = 8;
  const totalCores = packages * nodesPerPackage * coresPerNode;
  const nodeCpus = (node: number): number[] =>
    Array.from({ length: coresPerNode }, (_, c) => node * coresPerNode + c).flatMap((core) => [core, core + totalCores]);
  const devices: PciDeviceInput[] = [];
  for (let p = 0; p < packages; p++) {
    const bus = (0x18 + p * 0x40).toString(16).padStart(2, '0');
    const node = p * nodesPerPackage;
    const pf = `0000:${bus}:00.0`;
    const vfs = Array.from({ length: 4 }, (_, i) => `0000:${bus}:00.${i + 2}`);
    devices.push({
      address: pf,
      class: 'rdma',
      classCode: 0x020000,
      vendorId: 0x15b3,
      deviceId: 0x101d,
      node,
      localCpus: nodeCpus(node),
      sriov: { totalVfs: 8, numVfs: 4, vfs },
      netDevices: [`ens${p + 1}f0np0`],
      rdmaDevices: [`mlx5_${p}`],
    });
    for (const vf of vfs) {
      devices.push({ address: vf, class: 'nic', classCode: 0x020000, vendorId: 0x15b3, deviceId: 0x101e, node, localCpus: nodeCpus(node), physfn: pf });
    }
  }
  return syntheticTopology({
    source: 'bench:1024pu-64n',
    packages,
    nodesPerPackage,
    coresPerNode,
    threadsPerCore: 2,
    memoryPerNode: 16 * GiB,
    hugePages: [
      { pageSize: 2 * 1024 * 1024, total: 2048, free: 2048 },
      { pageSize: GiB, total: 4, free: 4 },
    ],
    model: 'Intel(R) Xeon(R) Platinum 8490H',
    devices,
  });
}

/** The three rows for one tree, plus nothing else; `dir()` is read at run time (after setup). */
function treeCases(label: string, dir: () => string | null, why: () => string): BenchCase[] {
  const need = (): string => {
    const d = dir();
    if (d === null) throw new Error(why());
    return d;
  };
  const lstopoName = `${label}: lstopo --of xml (process)`;
  return [
    {
      name: `${label}: readSysfs (in-process)`,
      baseline: lstopoName,
      run: () => readSysfs({ root: need() }),
    },
    {
      name: `${label}: numaplan topology --json (process)`,
      baseline: lstopoName,
      process: true,
      unavailable: () => (existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js')) ? null : 'dist/ not built (npm run build)'),
      run: () => runProcess(process.execPath, [CLI, 'topology', '--from', `sysfs:${need()}`, '--json']),
    },
    {
      name: lstopoName,
      alias: 'lstopo',
      process: true,
      unavailable: () => (hasCommand(LSTOPO) ? null : `${LSTOPO} is not installed (Debian package hwloc-nox)`),
      run: () => runProcess(LSTOPO, ['--input', need(), '--of', 'xml']),
    },
  ];
}

/** The suite `npm run bench` finds. */
export const suite: BenchSuite = {
  name: 'topology',
  description: 'reading a sysfs tree: numaplan vs hwloc',
  goal: { text: 'numaplan at least as fast as hwloc', maxRatio: 1 },
  runs: 9,
  setup: (ctx) => {
    try {
      const archive = largestCapture(requireDataSet('hwloc'));
      const into = ctx.tmpdir('numaplan-bench-capture-');
      ctx.log(`extracting ${basename(archive)}`);
      runProcess('tar', ['-xjf', archive, '-C', into]);
      const top = readdirSync(into);
      trees.capture = top.length === 1 ? join(into, top[0] as string) : into;
      trees.captureLabel = basename(archive, '.tar.bz2');
    } catch (err) {
      captureError = (err as Error).message;
      ctx.log(`capture not available: ${captureError}`);
    }
    const dir = ctx.tmpdir('numaplan-bench-1024pu-');
    ctx.log('writing the generated 1024-PU, 64-node tree');
    const written = writeSysfsTree(generatedHost(), dir);
    ctx.log(`wrote ${written.files} files, ${written.links} links`);
    trees.generated = dir;
  },
  // Case names carry the capture's name, known only after setup.
  cases: () => [
    ...treeCases(trees.captureLabel, () => trees.capture, () => captureError),
    ...treeCases('generated 1024 PU / 64 nodes', () => trees.generated, () => 'not written'),
    {
      name: "node -e '' (Node.js start-up alone, reference)",
      process: true,
      run: () => runProcess(process.execPath, ['-e', '']),
    },
  ],
};
