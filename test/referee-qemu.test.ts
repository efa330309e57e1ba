/**
 * Referee: QEMU itself. Every placement of the corpus becomes an argv that starts a real
 * qemu-system-x86_64 (TCG, no guest kernel, -S, QMP on stdio); QMP's view must match the plan:
 * vCPUs per guest node (query-cpus-fast node-id, `info numa`), memory per guest node (`info numa`,
 * query-memdev size), backend policy and host nodes (query-memdev), device proximity (qom-get
 * numa_node of each PCIe expander bridge).
 *
 * The preset hosts' nodes do not exist here (this host has node 0 only), so the corpus is emitted
 * with `hostBinding: false` and checked to carry policy "default"; binding is checked for real with
 * placements on this machine (node 0): policy "bind", host-nodes [0]. Huge-page corpus entries use
 * `hugetlb: false` (memfd backends of the same layout); real huge pages are checked separately when
 * this host lets the test reserve them (root, /proc/sys/vm/nr_hugepages, a hugetlbfs mount).
 * Backends carry reserve=off so guests larger than this host's memory can start (never touched).
 * Vfio devices cannot be attached without the host device: the `edu` test device stands in at the
 * same place (behind a root port on the guest node's expander bridge).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTopology } from '../src/adapters/source.js';
import { type EmitOptions, guestOf, emitQemu, type PlacementLike } from '../src/core/emit/index.js';
import { createHostState, parseVmSpec, place } from '../src/core/placement/index.js';
import type { Topology } from '../src/core/topology/model.js';
import { corpus } from './referee-corpus.js';
import { mapPool } from './support/pool.js';
import { tool } from './support/tools.js';

interface QmpView {
  cpus: { 'cpu-index': number; props: { 'node-id'?: number } }[];
  memdev: { id: string; size: number; policy: string; 'host-nodes': number[] }[];
  numa: string;
  pxbNodes: Record<string, number>;
  stderr: string;
  code: number | null;
}

/** Starts QEMU with `argv`, asks QMP what it built, quits. */
function probe(argv: string[], pxbs: string[]): Promise<QmpView> {
  const cmds = [
    { execute: 'qmp_capabilities' },
    { execute: 'query-memdev' },
    { execute: 'query-cpus-fast' },
    { execute: 'human-monitor-command', arguments: { 'command-line': 'info numa' } },
    ...pxbs.map((id) => ({ execute: 'qom-get', arguments: { path: `/machine/peripheral/${id}`, property: 'numa_node' } })),
    { execute: 'quit' },
  ];
  return new Promise((resolve) => {
    const child = spawn('qemu-system-x86_64', [...argv, '-display', 'none', '-serial', 'none', '-nodefaults', '-S', '-qmp', 'stdio'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.on('error', () => {});
    child.stdin.end(`${cmds.map((c) => JSON.stringify(c)).join('\n')}\n`);
    child.on('close', (code) => {
      const replies = out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((m) => 'return' in m || 'error' in m);
      const ret = (i: number): unknown => (replies[i] as { return?: unknown } | undefined)?.return;
      const pxbNodes: Record<string, number> = {};
      pxbs.forEach((id, k) => {
        pxbNodes[id] = ret(4 + k) as number;
      });
      resolve({
        memdev: (ret(1) as QmpView['memdev']) ?? [],
        cpus: (ret(2) as QmpView['cpus']) ?? [],
        numa: (ret(3) as string) ?? '',
        pxbNodes,
        stderr: err,
        code,
      });
    });
  });
}


/** Compares QMP's view with the plan; returns the differences. */
function compare(p: PlacementLike, topology: Topology, argv: string[], v: QmpView, bound: boolean): string[] {
  const g = guestOf(p, topology);
  const bad: string[] = [];
  if (v.code !== 0 || v.stderr.trim() !== '') bad.push(`qemu exit ${v.code}: ${v.stderr.trim()}`);
  if (v.cpus.length !== g.vcpus) bad.push(`${v.cpus.length} vCPUs, planned ${g.vcpus}`);
  const MiB = 1024 * 1024;
  if (g.numa) {
    const cellOf = new Map<number, number>();
    for (const c of g.cells) for (const x of c.vcpus) cellOf.set(x, c.id);
    for (const c of v.cpus) {
      if (c.props['node-id'] !== cellOf.get(c['cpu-index'])) bad.push(`vCPU ${c['cpu-index']} on guest node ${c.props['node-id']}, planned ${cellOf.get(c['cpu-index'])}`);
    }
    if (!v.numa.startsWith(`${g.cells.length} nodes`)) bad.push(`info numa: ${v.numa.split('\r\n')[0]}, planned ${g.cells.length} nodes`);
    for (const c of g.cells) {
      const cpus = new RegExp(`node ${c.id} cpus:(.*)`).exec(v.numa)?.[1]?.trim() ?? '';
      if (cpus !== c.vcpus.join(' ')) bad.push(`info numa node ${c.id} cpus "${cpus}", planned "${c.vcpus.join(' ')}"`);
      const size = Number(new RegExp(`node ${c.id} size: (\\d+) MB`).exec(v.numa)?.[1]);
      if (size !== c.memory / MiB) bad.push(`info numa node ${c.id} size ${size} MB, planned ${c.memory / MiB}`);
    }
  }
  const backends = g.numa ? g.cells.filter((c) => c.memory > 0).map((c) => ({ id: `mem${c.id}`, size: c.memory, nodes: [c.hostNode] })) : [{ id: 'mem0', size: g.memory, nodes: g.memoryNodes }];
  for (const b of backends) {
    const m = v.memdev.find((d) => d.id === b.id);
    if (!m) {
      bad.push(`no memdev ${b.id}`);
      continue;
    }
    if (m.size !== b.size) bad.push(`${b.id} size ${m.size}, planned ${b.size}`);
    const wantPolicy = bound ? 'bind' : 'default';
    if (m.policy !== wantPolicy) bad.push(`${b.id} policy ${m.policy}, planned ${wantPolicy}`);
    const wantNodes = bound ? b.nodes : [];
    if (JSON.stringify(m['host-nodes']) !== JSON.stringify(wantNodes)) bad.push(`${b.id} host-nodes ${JSON.stringify(m['host-nodes'])}, planned ${JSON.stringify(wantNodes)}`);
  }
  for (const d of g.devices) {
    if (d.guestNode === null) continue;
    if (v.pxbNodes[`pxb${d.guestNode}`] !== d.guestNode) bad.push(`device ${d.address}: expander bridge numa_node ${v.pxbNodes[`pxb${d.guestNode}`]}, planned ${d.guestNode}`);
  }
  void argv;
  return bad;
}

function pxbIds(argv: string[]): string[] {
  return argv.filter((a) => a.startsWith('pxb-pcie,')).map((a) => /id=([^,]+)/.exec(a)?.[1] as string);
}

const have = tool('qemu-system-x86_64');
const CORPUS_OPTIONS: EmitOptions = { accel: 'tcg', cpu: 'max,vendor=GenuineIntel', hostBinding: false, reserve: false, hugetlb: false, deviceStandIn: 'edu' };

describe.skipIf(!have)('QEMU referee: the emitted argv starts QEMU and QMP sees the planned guest', () => {
  it('every corpus placement (host binding left out: the preset nodes are not on this host)', async () => {
    const entries = corpus().entries;
    const t0 = Date.now();
    const results = await mapPool(entries, 3, async (e) => {
      const q = emitQemu(e.placement, e.topology, CORPUS_OPTIONS);
      const view = await probe(q.argv, pxbIds(q.argv));
      return { id: e.id, bad: compare(e.placement, e.topology, q.argv, view, false) };
    });
    const bad = results.filter((r) => r.bad.length > 0).map((r) => `${r.id}: ${r.bad.join('; ')}`);
    const numa = entries.filter((e) => e.placement.vnuma).length;
    const huge = entries.filter((e) => e.placement.pageSize > 4096).length;
    const dev = entries.filter((e) => e.placement.devices.length > 0).length;
    console.log(
      `QEMU referee: ${results.length} corpus argv started (${numa} with guest NUMA, ${huge} huge-page layouts as memfd without hugetlb, ${dev} with devices via the edu stand-in) in ${Date.now() - t0} ms`,
    );
    expect(bad).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(50);
  });

  describe('host binding for real on this machine (node 0)', () => {
    let loaded: Topology | null = null;
    beforeAll(async () => {
      loaded = await loadTopology('sysfs');
    });
    const liveHost = (): Topology => {
      if (!loaded) throw new Error('live topology not loaded');
      return loaded;
    };
    // Reads the host afresh: the huge-page tests below reserve pages after the suite started.
    const placeLive = async (spec: string): Promise<PlacementLike> => {
      loaded = await loadTopology('sysfs');
      const r = place(parseVmSpec(spec), createHostState(liveHost()));
      if (!r.ok) throw new Error(`${spec}: ${r.reasons[0]?.detail}`);
      return r.placement;
    };

    it('regular pages: policy bind, host-nodes [0]', async () => {
      const p = await placeLive('name=live-ram,vcpus=1,memory=512M');
      const q = emitQemu(p, liveHost(), { accel: 'tcg' });
      expect(q.argv.join(' ')).toContain('host-nodes=0,policy=bind');
      const view = await probe(q.argv, []);
      expect(compare(p, liveHost(), q.argv, view, true)).toEqual([]);
      console.log('QEMU referee: 1 argv with real host binding (memory-backend-ram bound to node 0)');
    });

    describe('huge pages, reserved for the test if this host allows it', () => {
      let oldPages: string | null = null;
      let mount: string | null = null;
      let why = '';
      beforeAll(() => {
        try {
          const path = '/proc/sys/vm/nr_hugepages';
          oldPages = readFileSync(path, 'utf8').trim();
          writeFileSync(path, String(Number(oldPages) + 256));
          const now = Number(readFileSync(path, 'utf8').trim());
          if (now < Number(oldPages) + 256) why = `only ${now} 2M pages could be reserved`;
        } catch (err) {
          oldPages = null;
          why = `cannot reserve 2M huge pages (${(err as Error).message})`;
        }
        if (why === '') {
          const dir = mkdtempSync(join(tmpdir(), 'numaplan-hugetlbfs-'));
          const r = spawnSync('mount', ['-t', 'hugetlbfs', '-o', 'pagesize=2M', 'none', dir], { encoding: 'utf8' });
          if (r.status === 0) mount = dir;
          else rmSync(dir, { recursive: true, force: true });
        }
      });
      afterAll(() => {
        if (mount) {
          spawnSync('umount', [mount]);
          rmSync(mount, { recursive: true, force: true });
        }
        if (oldPages !== null) writeFileSync('/proc/sys/vm/nr_hugepages', oldPages);
      });

      it('memfd hugetlb=on hugetlbsize=2M, bound to node 0', async (ctx) => {
        if (why !== '') {
          console.log(`QEMU referee: real huge pages not checked: ${why}; the huge-page layout was checked with memfd backends without hugetlb`);
          ctx.skip();
        }
        const p = await placeLive('name=live-memfd,vcpus=1,memory=256M,pages=2M');
        const q = emitQemu(p, liveHost(), { accel: 'tcg', hugePageBackend: 'memfd' });
        expect(q.argv.join(' ')).toContain('memory-backend-memfd,id=mem0,size=256M,hugetlb=on,hugetlbsize=2M,prealloc=on,host-nodes=0,policy=bind');
        const view = await probe(q.argv, []);
        expect(compare(p, liveHost(), q.argv, view, true)).toEqual([]);
        console.log('QEMU referee: 1 argv with real 2M huge pages (memfd hugetlb, preallocated, bound to node 0)');
      });

      it('memory-backend-file on a hugetlbfs mount, bound to node 0', async (ctx) => {
        if (mount === null) {
          console.log(`QEMU referee: hugetlbfs file backend not checked: ${why || 'mounting hugetlbfs failed'}`);
          ctx.skip();
        }
        const p = await placeLive('name=live-file,vcpus=1,memory=256M,pages=2M');
        const q = emitQemu(p, liveHost(), { accel: 'tcg', hugetlbfsPath: mount as string });
        expect(q.argv.join(' ')).toContain(`memory-backend-file,id=mem0,size=256M,mem-path=${mount},prealloc=on,host-nodes=0,policy=bind`);
        const view = await probe(q.argv, []);
        expect(compare(p, liveHost(), q.argv, view, true)).toEqual([]);
        console.log('QEMU referee: 1 argv with a real hugetlbfs file backend (preallocated, bound to node 0)');
      });
    });
  });

  it('QEMU rejects what it should: a bad -numa (the referee is not blind)', async () => {
    const e = corpus().entries.find((x) => x.placement.vnuma);
    const q = emitQemu(e!.placement, e!.topology, CORPUS_OPTIONS);
    const broken = q.argv.map((a) => (a.startsWith('node,nodeid=1,') ? a.replace('memdev=mem1', 'memdev=mem0') : a));
    const view = await probe(broken, []);
    expect(view.code).not.toBe(0);
    expect(view.stderr).toMatch(/mem0|memdev|used/i);
  });
});
