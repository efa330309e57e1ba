/**
 * The numactl parser against real `numactl --hardware` outputs (the numactl data set) and against
 * the numactl installed here. Complete outputs must parse and agree with the file, line by line;
 * partial or abbreviated ones must be refused with a clear error that names the line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { topologyFromNumactl } from '../src/adapters/numactl-text.js';
import { parseCpuList } from '../src/core/topology/cpulist.js';
import { TopologyError } from '../src/core/topology/errors.js';
import { TopologySchema } from '../src/core/topology/model.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { dataSet } from './support/data.js';
import { tool } from './support/tools.js';

const MiB = 1024 * 1024;

/** What each known file holds, read off the file by eye (node count, CPUs, distinct distances). */
type Expect =
  | { nodes: number; cpus: number; distances: number[]; cpuLess?: number[]; memoryLess?: number[] }
  | { error: string };
const KNOWN: Record<string, Expect> = {
  'docs/argonne-aurora-SPR-Max-flat-HBM.txt': { nodes: 4, cpus: 208, distances: [10, 13, 21, 23], cpuLess: [2, 3] },
  'github-issues/egandro-proxmox-cpu-affinity-58_2xEPYC-9375F.txt': { nodes: 2, cpus: 64, distances: [10, 32] },
  'github-issues/ktransformers-797_2xEPYC-9135.txt': { nodes: 2, cpus: 32, distances: [10, 32] },
  'github-issues/memtest86plus-346_2xOpteron-6272.txt': { nodes: 4, cpus: 32, distances: [10, 16] },
  'github-issues/numactl-numactl-165_Threadripper-3960X-NPS4-memoryless.txt': {
    nodes: 4,
    cpus: 48,
    distances: [10, 12],
    memoryLess: [0, 3],
  },
  'github-issues/cpuminer-gr-avx2-22_2xEPYC-7551-PARTIAL.txt': { error: 'ERR_NUMACTL_INCOMPLETE' },
  'github-issues/numactl-numactl-224_4xGH200-36nodes-PARTIAL.txt': { error: 'ERR_NUMACTL_INCOMPLETE' },
  'github-issues/unified-memory-framework-1289_SPR-HBM-SNC4-16nodes-PARTIAL.txt': { error: 'ERR_NUMACTL_SYNTAX' },
  'suse-best-practices/AMD-EPYC-2-SLES15SP1_L1937_guest-VM.txt': { nodes: 2, cpus: 240, distances: [10, 32] },
  'suse-best-practices/AMD-EPYC-2-SLES15SP1_L1977_guest-VM.txt': { nodes: 1, cpus: 120, distances: [10] },
  'suse-best-practices/AMD-EPYC-2-SLES15SP1_L261_host.txt': { error: 'ERR_NUMACTL_ABBREVIATED' },
  'suse-best-practices/AMD-EPYC-3-SLES15SP2_L1991_guest-VM.txt': { nodes: 2, cpus: 256, distances: [10, 32] },
  'suse-best-practices/AMD-EPYC-3-SLES15SP2_L2042_guest-VM.txt': { nodes: 1, cpus: 128, distances: [10] },
  'suse-best-practices/AMD-EPYC-3-SLES15SP2_L245_host.txt': { error: 'ERR_NUMACTL_ABBREVIATED' },
  'suse-best-practices/AMD-EPYC-4-SLES15SP4_L2246_guest-VM.txt': { nodes: 2, cpus: 288, distances: [10, 32] },
  'suse-best-practices/AMD-EPYC-4-SLES15SP4_L2290_guest-VM.txt': { nodes: 1, cpus: 192, distances: [10] },
  'suse-best-practices/AMD-EPYC-4-SLES15SP4_L281_host.txt': { error: 'ERR_NUMACTL_ABBREVIATED' },
  'suse-best-practices/AMD-EPYC-5-SLES15SP6_L2448_guest-VM.txt': { nodes: 2, cpus: 512, distances: [10, 32] },
  'suse-best-practices/AMD-EPYC-5-SLES15SP6_L2512_guest-VM.txt': { nodes: 1, cpus: 256, distances: [10] },
  'suse-best-practices/AMD-EPYC-5-SLES15SP6_L309_host.txt': { error: 'ERR_NUMACTL_ABBREVIATED' },
  'suse-best-practices/AMD-EPYC-SLES12SP3_L2124_guest-VM.txt': { nodes: 8, cpus: 96, distances: [10, 20] },
  'suse-best-practices/AMD-EPYC-SLES12SP3_L2188_guest-VM.txt': { nodes: 4, cpus: 48, distances: [10, 20] },
  'suse-best-practices/AMD-EPYC-SLES12SP3_L2232_guest-VM.txt': { nodes: 1, cpus: 12, distances: [10] },
  'suse-best-practices/AMD-EPYC-SLES12SP3_L268_host.txt': { nodes: 8, cpus: 128, distances: [10, 16, 32] },
};
/** Files in the folder that are not numactl output at all (a QEMU table, raw sysfs dumps). */
const NOT_NUMACTL = ['docs/umf-qemu-sock_8_var1_hmat.distances.txt', 'hwloc-testsuite-sysfs-slit.txt', 'INDEX.md'];

function listFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? listFiles(path) : [path];
    });
}

/**
 * A deliberately naive second reading of the file, independent of the parser: node cpu lines (plain
 * form, with indented continuation lines), size lines, and the rows after "node distances:".
 */
function naive(text: string): { cpus: Map<number, number[]>; size: Map<number, number>; rows: number[][] } {
  const cpus = new Map<number, number[]>();
  const size = new Map<number, number>();
  const rows: number[][] = [];
  let current: number | null = null;
  let inTable = false;
  for (const line of text.split('\n')) {
    const c = /^node (\d+) cpus:(.*)$/.exec(line);
    const s = /^node (\d+) size: (\d+) MB/.exec(line);
    const r = /^\s*\d+:((?:\s+\d+)+)\s*$/.exec(line);
    if (c) {
      current = Number(c[1]);
      cpus.set(current, (c[2] ?? '').trim().split(/\s+/).filter(Boolean).map(Number));
    } else if (current !== null && /^ \d/.test(line)) {
      cpus.get(current)?.push(...line.trim().split(/\s+/).map(Number));
    } else {
      current = null;
      if (s) size.set(Number(s[1]), Number(s[2]));
      if (line.startsWith('node distances:')) inTable = true;
      else if (inTable && r) rows.push((r[1] ?? '').trim().split(/\s+/).map(Number));
    }
  }
  return { cpus, size, rows };
}

const folder = dataSet('numactl');

describe.skipIf(folder === null)('numactl --hardware outputs from real machines', () => {
  const root = folder as string;
  const files = listFiles(root).map((p) => relative(root, p));

  it('knows every file in the data set', () => {
    const unknown = files.filter((f) => !(f in KNOWN) && !NOT_NUMACTL.includes(f));
    // A new file is fine, but gets the generic checks below only; list it in KNOWN to pin its counts.
    if (unknown.length > 0) console.warn(`numactl data files without pinned expectations: ${unknown.join(', ')}`);
    expect(Object.keys(KNOWN).filter((f) => files.includes(f)).length).toBeGreaterThan(0);
  });

  for (const file of files.filter((f) => !NOT_NUMACTL.includes(f))) {
    it(file, () => {
      const text = readFileSync(join(root, file), 'utf8');
      const expected = KNOWN[file];
      const partial = /PARTIAL/.test(file) || /^# complete: NO/m.test(text);
      if ((expected && 'error' in expected) || (!expected && partial)) {
        let err: unknown = null;
        try {
          topologyFromNumactl(text, file);
        } catch (e) {
          err = e;
        }
        expect(err, 'a partial or abbreviated output must be refused').toBeInstanceOf(TopologyError);
        const te = err as TopologyError;
        if (expected && 'error' in expected) expect(te.code).toBe(expected.error);
        expect(te.path).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:\\d+$`));
        return;
      }
      const topo = topologyFromNumactl(text, file);
      expect(() => TopologySchema.parse(topo)).not.toThrow();
      const check = naive(text);
      // nodes and CPUs as the file lists them
      expect(topo.nodes.map((n) => n.id)).toEqual([...check.cpus.keys()].sort((a, b) => a - b));
      for (const n of topo.nodes) {
        const plain = check.cpus.get(n.id) ?? [];
        if (!text.includes('--cpu-compress')) expect(n.cpus, `node ${n.id} cpus`).toEqual([...plain].sort((a, b) => a - b));
        expect(n.memory.total, `node ${n.id} size`).toBe((check.size.get(n.id) ?? -1) * MiB);
      }
      // distances as the file prints them (rows in node order here)
      expect(topo.distances).toEqual(check.rows);
      expect(topo.pus).toHaveLength(topo.nodes.reduce((s, n) => s + n.cpus.length, 0));
      if (expected && !('error' in expected)) {
        expect(topo.nodes).toHaveLength(expected.nodes);
        expect(topo.pus).toHaveLength(expected.cpus);
        expect([...new Set(topo.distances.flat())].sort((a, b) => a - b)).toEqual(expected.distances);
        expect(topo.nodes.filter((n) => n.kind === 'cpu-less').map((n) => n.id)).toEqual(expected.cpuLess ?? []);
        expect(topo.nodes.filter((n) => n.kind === 'memory-less').map((n) => n.id)).toEqual(expected.memoryLess ?? []);
      }
    });
  }

  it('reads --cpu-compress ranges as the plain form would list them', () => {
    const file = 'github-issues/ktransformers-797_2xEPYC-9135.txt';
    if (!files.includes(file)) return;
    const topo = topologyFromNumactl(readFileSync(join(root, file), 'utf8'), file);
    expect(topo.nodes.map((n) => [n.cpus[0], n.cpus.at(-1), n.cpus.length])).toEqual([
      [0, 15, 16],
      [16, 31, 16],
    ]);
  });

  it('refuses the files that are not numactl output', () => {
    for (const file of NOT_NUMACTL.filter((f) => files.includes(f) && f.endsWith('.txt'))) {
      expect(() => topologyFromNumactl(readFileSync(join(root, file), 'utf8'), file)).toThrow(TopologyError);
    }
  });
});

describe.skipIf(folder === null)('presets agree with the real outputs they cite', () => {
  const root = folder as string;
  const read = (file: string) => topologyFromNumactl(readFileSync(join(root, file), 'utf8'), file);
  const preset = (name: string) => {
    const p = getPreset(name);
    if (!p) throw new Error(`no preset ${name}`);
    return p.build();
  };

  it('sapphire-rapids-max-hbm-flat: the Aurora node layout and distance table', () => {
    const real = read('docs/argonne-aurora-SPR-Max-flat-HBM.txt');
    const p = preset('sapphire-rapids-max-hbm-flat');
    expect(p.distances).toEqual(real.distances);
    expect(p.nodes.map((n) => n.cpus)).toEqual(real.nodes.map((n) => n.cpus));
    expect(p.nodes.slice(2).map((n) => n.memory.total)).toEqual(real.nodes.slice(2).map((n) => n.memory.total));
  });

  it('epyc-2s-nps*: inter-socket 32 as in the real two-socket EPYC outputs, intra-socket 12 as in the NPS4 output', () => {
    const twoSocket = read('github-issues/egandro-proxmox-cpu-affinity-58_2xEPYC-9375F.txt');
    expect(preset('epyc-2s-nps1').distances).toEqual(twoSocket.distances);
    const nps4 = read('github-issues/numactl-numactl-165_Threadripper-3960X-NPS4-memoryless.txt');
    const intra = [...new Set(nps4.distances.flat())].filter((d) => d !== 10);
    expect(intra).toEqual([12]);
    expect(preset('epyc-2s-nps4').distances[0]?.slice(1, 4)).toEqual([12, 12, 12]);
  });

  it('gh200-2s: only distance values visible in the partial 4 x GH200 table', () => {
    const text = readFileSync(join(root, 'github-issues/numactl-numactl-224_4xGH200-36nodes-PARTIAL.txt'), 'utf8');
    const visible = new Set(
      text
        .split('\n')
        .filter((l) => /^\s*\d+:\s/.test(l))
        .flatMap((l) => l.split(':')[1]?.trim().split(/\s+/).map(Number) ?? []),
    );
    for (const d of new Set(preset('gh200-2s').distances.flat())) expect(visible.has(d), `distance ${d}`).toBe(true);
  });
});

describe.skipIf(!tool('numactl'))('numactl -H on this machine', () => {
  it('parses, and lists the nodes and CPUs sysfs lists', () => {
    const run = spawnSync('numactl', ['-H'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const topo = topologyFromNumactl(run.stdout, 'numactl -H');
    expect(() => TopologySchema.parse(topo)).not.toThrow();
    expect(topo.nodes.length).toBeGreaterThanOrEqual(1);
    expect(topo.distances.every((row, i) => row[i] === 10)).toBe(true);
    const sysNodes = '/sys/devices/system/node';
    if (existsSync(join(sysNodes, 'online'))) {
      expect(topo.nodes.map((n) => n.id)).toEqual(parseCpuList(readFileSync(join(sysNodes, 'online'), 'utf8')));
      for (const n of topo.nodes) {
        expect(n.cpus, `node ${n.id}`).toEqual(parseCpuList(readFileSync(join(sysNodes, `node${n.id}`, 'cpulist'), 'utf8')));
      }
    }
  });
});
