/**
 * The sysfs reader on this machine: at least one node, as many PUs as the OS reports, the same
 * counts as lstopo, and the CLI's topology command working on the live host. Needs a build
 * (`npm test` builds first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSysfs } from '../src/adapters/sysfs/read-sysfs.js';
import { summarize } from '../src/core/topology/view.js';
import { parseHwlocXml } from './support/captures.js';
import { REPO_ROOT } from './support/data.js';
import { tool } from './support/tools.js';

const isLinux = process.platform === 'linux' && existsSync('/sys/devices/system/cpu');

describe.skipIf(!isLinux)('live host', () => {
  const topo = readSysfs();
  const s = summarize(topo);

  it('finds at least one node and every online PU', () => {
    expect(s.nodes).toBeGreaterThanOrEqual(1);
    const nproc = spawnSync('nproc', ['--all'], { encoding: 'utf8' });
    if (nproc.status === 0) {
      // nproc --all counts configured CPUs; offline ones have no topology, so PUs + offline ≤ that.
      expect(topo.pus.length).toBeLessThanOrEqual(Number(nproc.stdout.trim()));
      expect(topo.pus.filter((p) => p.online).length).toBeGreaterThanOrEqual(1);
    }
    const online = spawnSync('nproc', [], { encoding: 'utf8' });
    if (online.status === 0) expect(s.pus).toBeGreaterThanOrEqual(Number(online.stdout.trim()));
    expect(topo.source).toBe('sysfs');
  });

  it.skipIf(!tool('lstopo-no-graphics'))('agrees with lstopo on packages, nodes, cores and PUs', () => {
    const res = spawnSync('lstopo-no-graphics', ['--no-io', '--of', 'xml', '-'], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    const view = parseHwlocXml(res.stdout);
    expect({ packages: s.packages, nodes: s.nodes, cores: s.cores, pus: s.pus }).toEqual({
      packages: view.counts.Package ?? 0,
      nodes: view.counts.NUMANode ?? 0,
      cores: view.counts.Core ?? 0,
      pus: view.counts.PU ?? 0,
    });
  });

  it.skipIf(!tool('lstopo-no-graphics'))("finds the network and RDMA interfaces lstopo finds, on the same PCI functions", () => {
    // lstopo's XML: OS devices of type network (2) and OpenFabrics (3), each the first child of its
    // PCIDev object, so the PCIDev just before one in the document is its parent.
    const res = spawnSync('lstopo-no-graphics', ['--of', 'xml', '-'], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    const hwloc: string[] = [];
    let pci: string | null = null;
    for (const m of res.stdout.matchAll(/type="(PCIDev|OSDev)"[^>]*?(?:pci_busid="([^"]+)"|name="([^"]+)"[^>]*osdev_type="(\d+)")/g)) {
      if (m[1] === 'PCIDev') pci = (m[2] ?? '').toLowerCase();
      else if (pci && (m[4] === '2' || m[4] === '3')) hwloc.push(`${pci} ${m[3]}`);
    }
    const ours = topo.pciDevices.flatMap((d) => [...d.netDevices, ...d.rdmaDevices].map((n) => `${d.address} ${n}`));
    expect(hwloc.length, res.stdout).toBeGreaterThan(0);
    expect(ours.sort()).toEqual(expect.arrayContaining(hwloc.sort()));
  });

  const cli = join(REPO_ROOT, 'bin', 'numaplan.js');
  const built = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));
  const runCli = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: REPO_ROOT });

  it.skipIf(!built)('numaplan topology prints the live host', () => {
    const res = runCli('topology');
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout.length).toBeGreaterThan(0);
  });

  it.skipIf(!built)('numaplan topology --json gives the model', () => {
    const res = runCli('topology', '--json');
    expect(res.status, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as { schema: string; pus: unknown[]; nodes: unknown[] };
    expect(doc.schema).toBe('numaplan.topology/v1');
    expect(doc.pus.length).toBe(topo.pus.length);
    expect(doc.nodes.length).toBe(topo.nodes.length);
  });

  it.skipIf(!built)('numaplan topology --summary --json gives the counts', () => {
    const res = runCli('topology', '--summary', '--json');
    expect(res.status, res.stderr).toBe(0);
    const text = res.stdout;
    const doc = JSON.parse(text) as Record<string, unknown>;
    const flat = JSON.stringify(doc);
    expect(flat).toContain(`"pus":${s.pus}`);
    expect(flat).toContain(`"nodes":${s.nodes}`);
  });

  it.skipIf(!built)('numaplan topology --from sysfs:DIR without sys/ exits 2 naming the directory', () => {
    const res = runCli('topology', '--from', `sysfs:${join(REPO_ROOT, 'src')}`);
    expect(res.status).toBe(2);
    expect(res.stderr + res.stdout).toContain('src');
  });
});
