/**
 * `numaplan topology --matrix`, judged by hwloc itself: for every pair of devices, the class numaplan
 * prints (PIX, PXB, PHB, NODE, SYS) is what the PCI tree hwloc builds says, read with hwloc-info
 * (each device's chain of ancestors up to the machine, and its local NUMA node). On the DGX-2 XML
 * capture of hwloc's own test suite (16 V100 behind two levels of PLX switches, two sockets) and on
 * the dgx-h100 preset written as a Linux sysfs tree that hwloc reads as a real host (--if fsroot),
 * and on the Linux captures of hwloc's test suite, read from their sysfs trees by numaplan and hwloc.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { readSysfs } from '../src/adapters/sysfs/read-sysfs.js';
import { writeSysfsTree } from '../src/adapters/sysfs-writer/write-sysfs-tree.js';
import { type DeviceMatrix, deviceMatrix } from '../src/core/topology/device-matrix.js';
import type { Topology } from '../src/core/topology/model.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { extractCapture, listCaptureTests } from './support/captures.js';
import { runCli } from './support/cli.js';
import { dataSet } from './support/data.js';
import { lstopoReadable, scratchDir } from './support/lstopo.js';
import { tool } from './support/tools.js';

const scratch = scratchDir('numaplan-matrix-');
afterAll(() => scratch.dispose());

const haveHwloc = tool('hwloc-info');
const dgx2 = dataSet('hwloc/xml/nvidiaDGX2.xml');

/** hwloc-info over many objects at once: its "-n" lines grouped by object, in the order asked. */
function hwlocInfo(input: string[], what: string[], addresses: string[], env: Record<string, string> = {}): string[][] {
  const out = execFileSync('hwloc-info', [...input, '-s', '-n', ...what, ...addresses.map((a) => `pci=${a}`)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, ...env },
  });
  const groups: string[][] = addresses.map(() => []);
  for (const line of out.split('\n')) {
    const m = /^(\d+)\.\d+: (\S+)/.exec(line);
    if (m) groups[Number(m[1])]?.push(m[2] as string);
  }
  return groups;
}

/**
 * The class of each pair as hwloc's tree says: the first ancestor two chains share is a PCI bridge
 * (PIX when it sits below another bridge, i.e. is a switch port, and each device is at most one
 * bridge below it; PXB otherwise), the host bridge (PHB), or neither: NODE when hwloc gives both the
 * same local NUMA node, SYS when not.
 */
function hwlocClasses(input: string[], addresses: string[], env: Record<string, string> = {}): string[][] {
  const chains = hwlocInfo(input, ['--ancestors'], addresses, env).map((c) => c.slice(1));
  const local = hwlocInfo(input, ['--local-memory'], addresses, env);
  const nodes = local.map((c) => c.join(','));
  return addresses.map((_, i) =>
    addresses.map((_, j) => {
      if (i === j) return 'SELF';
      const a = chains[i] as string[];
      const b = chains[j] as string[];
      const k = a.findIndex((x) => b.includes(x));
      const common = a[k];
      if (common?.startsWith('PCIBridge:')) {
        const switchPort = (a[k + 1] ?? '').startsWith('PCIBridge:');
        return switchPort && k <= 1 && b.indexOf(common) <= 1 ? 'PIX' : 'PXB';
      }
      if (common?.startsWith('HostBridge:')) return 'PHB';
      // A device local to several nodes (attached above them) or none: its node is not known.
      if (local[i]?.length !== 1 || local[j]?.length !== 1) return '?';
      return nodes[i] === nodes[j] ? 'NODE' : 'SYS';
    }),
  );
}

async function matrixOf(from: string): Promise<DeviceMatrix> {
  const r = await runCli(['topology', '--from', from, '--matrix', '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as DeviceMatrix;
}

function tally(m: DeviceMatrix): Record<string, number> {
  const t: Record<string, number> = {};
  m.links.forEach((row, i) => row.forEach((l, j) => j > i && (t[l.class] = (t[l.class] ?? 0) + 1)));
  return t;
}

describe.runIf(haveHwloc && dgx2 !== null)('topology --matrix on the DGX-2 capture', () => {
  it('agrees with the PCIe tree hwloc builds from it, for all 120 GPU pairs', async () => {
    const file = dgx2 as string;
    const m = await matrixOf(`hwloc:${file}`);
    // Every PCI device hwloc shows that is no bridge is in the matrix (the 16 GPUs; the NVSwitches are bridges or unclassified, 0680 and 0000).
    const listed = execFileSync('hwloc-info', ['-i', lstopoReadable(file, scratch.dir), 'pci:all'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const fromHwloc = [...listed.matchAll(/bus id = (\S+)\n attr PCI class = (\w\w)/g)].filter((x) => x[2] !== '06' && x[2] !== '00').map((x) => x[1]);
    expect(m.devices.map((d) => d.address).sort()).toEqual([...fromHwloc].sort());
    expect(m.devices).toHaveLength(16);
    const want = hwlocClasses(['-i', lstopoReadable(file, scratch.dir)], m.devices.map((d) => d.address));
    expect(m.links.map((row) => row.map((l) => l.class))).toEqual(want);
    // Each V100 shares a leaf switch with one other, a switch tree with two more, its socket with four more.
    expect(tally(m)).toEqual({ PIX: 8, PXB: 16, NODE: 32, SYS: 64 });
    expect(m.nodeDistance.map((r) => r.join(' '))).toEqual([...Array(8).fill('10 21'), ...Array(8).fill('21 10')]);
  });

  it('prints the text view with one row per GPU and the legend', async () => {
    const r = await runCli(['topology', '--from', `hwloc:${dgx2 as string}`, '--matrix']);
    expect(r.code).toBe(0);
    const row0 = r.out.split('\n').find((l) => l.startsWith('GPU0 '));
    expect(row0?.split(/\s+/).slice(1, 10)).toEqual(['X', 'PIX', 'PXB', 'PXB', 'NODE', 'NODE', 'NODE', 'NODE', 'SYS']);
    expect(r.out).toContain('PIX   behind one PCIe switch');
  });
});

describe.runIf(haveHwloc && tool('bzip2'))("topology --matrix on the Linux captures of hwloc's test suite (sysfs)", () => {
  it('agrees with hwloc-info reading the same sysfs tree, for every pair of devices hwloc shows', async () => {
    const tests = listCaptureTests();
    if (!tests) return;
    let captures = 0;
    let pairs = 0;
    const classes = new Set<string>();
    const bad: string[] = [];
    for (const t of tests.filter((x) => !x.synthetic)) {
      const root = await extractCapture(t.tarball);
      let topo: Topology;
      try {
        topo = readSysfs({ root });
      } catch {
        continue; // a capture the reader refuses is the capture suite's business
      }
      const m = deviceMatrix(topo);
      // HWLOC_PCI_LOCALITY overrides sysfs' local_cpus inside hwloc only: hwloc reads the capture without it.
      const { HWLOC_PCI_LOCALITY: _forced, ...env } = t.env;
      const input = ['-i', root, '--if', 'fsroot'];
      // Devices hwloc does not show are left out: Debian's hwloc is built without 32-bit PCI domains
      // (--enable-32bits-pci-domain), so it drops a function such as 10000:00:04.0.
      const named = m.devices.map((d) => d.address).filter((a) => hwlocInfo(input, ['--ancestors'], [a], env)[0]?.length);
      if (named.length < 2) continue;
      captures++;
      const want = hwlocClasses(input, named, env);
      const index = named.map((a) => m.devices.findIndex((d) => d.address === a));
      for (const [i, a] of named.entries()) {
        for (const [j, b] of named.entries()) {
          if (j <= i) continue;
          pairs++;
          const got = m.links[index[i] as number]?.[index[j] as number]?.class as string;
          classes.add(got);
          if (got !== want[i]?.[j]) bad.push(`${t.name}: ${a} ${b}: numaplan ${got}, hwloc ${want[i]?.[j]}`);
        }
      }
    }
    console.log(`device matrix: ${pairs} device pairs of ${captures} Linux captures compared with hwloc-info (classes ${[...classes].sort().join(' ')})`);
    expect(bad).toEqual([]);
    expect(captures).toBeGreaterThanOrEqual(5);
    expect(classes.size).toBeGreaterThanOrEqual(4);
  }, 120_000);
});

describe.runIf(haveHwloc)('topology --matrix on the dgx-h100 preset', () => {
  const topo = (getPreset('dgx-h100') as { build(): Topology }).build();

  it('pairs each H100 with its ConnectX-7 behind one switch, as hwloc reads the preset written as sysfs', async () => {
    const root = `${scratch.dir}/dgx-h100`;
    // A kernel reports each device's local_cpus (its node's CPUs); hwloc attaches the PCI tree by them.
    const cpusOf = new Map(topo.nodes.map((n) => [n.id, n.cpus]));
    writeSysfsTree({ ...topo, pciDevices: topo.pciDevices.map((d) => ({ ...d, localCpus: d.node === null ? null : (cpusOf.get(d.node) ?? null) })) }, root);
    const m = await matrixOf(`sysfs:${root}`);
    const gpus = m.devices.filter((d) => d.class === 'gpu');
    expect(gpus).toHaveLength(8);
    const pix = gpus.map((g) => {
      const i = m.devices.indexOf(g);
      return m.devices.filter((_, j) => m.links[i]?.[j]?.class === 'PIX').map((d) => d.rdmaDevices.join());
    });
    // The user guide's GPU-to-NIC table.
    expect(pix).toEqual([['mlx5_0'], ['mlx5_3'], ['mlx5_4'], ['mlx5_5'], ['mlx5_6'], ['mlx5_9'], ['mlx5_10'], ['mlx5_11']]);
    const want = hwlocClasses(['-i', root, '--if', 'fsroot'], m.devices.map((d) => d.address));
    expect(m.links.map((row) => row.map((l) => l.class))).toEqual(want);
    // The preset itself gives the same matrix as its sysfs tree read back.
    const direct = await matrixOf('preset:dgx-h100');
    expect(direct.links).toEqual(m.links);
  });

  it('refuses --matrix with --summary or hwloc XML output (exit 2, naming the option)', async () => {
    const a = await runCli(['topology', '--from', 'preset:dgx-h100', '--matrix', '--summary']);
    expect(a.code).toBe(2);
    expect(a.err).toContain('--matrix');
    const b = await runCli(['topology', '--from', 'preset:dgx-h100', '--matrix', '--format', 'hwloc-xml']);
    expect(b.code).toBe(2);
    expect(b.err).toContain('--format');
  });
});
