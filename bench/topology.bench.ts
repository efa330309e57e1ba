/**
 * Topology discovery speed: numaplan's sysfs reader against hwloc's `lstopo-no-graphics` on the
 * same trees, in the same run.
 *
 * Trees: (a) the largest Linux capture of hwloc's test suite (most PUs, then most files), extracted
 * once; (b) a generated 1024-PU, 64-node host (4 packages x 16 nodes x 8 cores x 2 threads, with
 * huge pages and SR-IOV NICs) written by the sysfs writer.
 * Rows per tree: readSysfs plus JSON serialisation in-process (what the CLI does once Node.js is
 * up: the goal rows, marked [goal]); the whole CLI as a process (`node bin/numaplan.js topology
 * --from sysfs:DIR --json`), shown for reference because it is dominated by Node.js start-up and
 * module loading; and hwloc's `lstopo-no-graphics --input DIR --of xml`, a process. One more row
 * times Node.js start-up alone (`node -e 0`), so the CLI rows can be split into start-up and work.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeSysfsTree } from '../src/adapters/sysfs-writer/write-sysfs-tree.js';
import { readSysfs } from '../src/adapters/sysfs/read-sysfs.js';
import type { PciDeviceInput } from '../src/core/topology/build.js';
import type { Topology } from '../src/core/topology/model.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { topologyToJson } from '../src/core/topology/json.js';
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

/** Names of the rows the goal is judged on (filled in as the cases are made). */
const goalRows = new Set<string>();

/**
 * The rows for one tree; `dir()` is read at run time (after setup).
 *
 * - GOAL row: readSysfs + JSON serialisation in-process, i.e. the work the CLI does once Node.js
 *   is up, against lstopo's whole process (whose own start-up is a few ms of C);
 * - reference: the whole CLI as a process, Node.js start-up and module loading included (compare
 *   it with the "node -e 0" row to see what is start-up and what is work);
 * - lstopo itself.
 */
function treeCases(label: string, dir: () => string | null, why: () => string): BenchCase[] {
  const need = (): string => {
    const d = dir();
    if (d === null) throw new Error(why());
    return d;
  };
  const lstopoName = `${label}: lstopo --of xml (process)`;
  const goalName = `${label}: [goal] readSysfs + JSON (in-process)`;
  goalRows.add(goalName);
  return [
    {
      name: goalName,
      baseline: lstopoName,
      run: () => topologyToJson(readSysfs({ root: need() })),
    },
    {
      name: `${label}: numaplan topology --json (process, incl. Node start-up)`,
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
  description:
    'reading a sysfs tree: numaplan vs hwloc. The goal is judged on the [goal] rows only (read + JSON in-process vs the lstopo process); ' +
    'the CLI process rows are reference: subtract the node -e 0 row to see the start-up share',
  goal: {
    text: 'numaplan at least as fast as hwloc',
    maxRatio: 1,
    check: (cases) => {
      const judged = cases.filter((c) => goalRows.has(c.name));
      if (judged.length === 0 || judged.some((c) => c.ratio === undefined)) return null;
      return judged.every((c) => (c.ratio as number) <= 1);
    },
  },
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
      name: 'node -e 0 (Node.js start-up alone, reference for the CLI process rows)',
      process: true,
      run: () => runProcess(process.execPath, ['-e', '0']),
    },
  ],
};
