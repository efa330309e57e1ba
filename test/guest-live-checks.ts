/**
 * The live-host checks every guest shape gets (test/guest-shapes.test.ts), in one booted guest per
 * shape (test/support/guest): the referees are the guest's kernel (/proc, /sys) and hwloc's
 * `lstopo-no-graphics`, run in the same guest as numaplan.
 *
 * `liveHostPlan` is the work done in the guest (steps that return what they saw, in this order);
 * `liveHostTests` registers the tests that judge each step's observation:
 * 1. lstopo sees the shape QEMU was given (the harness does what it says);
 * 2. `numaplan topology --json` equals lstopo: packages, nodes, cores, PUs, each node's CPUs,
 *    memory and huge-page pools, the distance matrix;
 * 3. the same with one CPU taken offline through /sys/devices/system/cpu/cpuN/online;
 * 4. `numaplan place` on the live host, then `numaplan run --placement` on every node at once:
 *    each process's /proc/PID/status and /proc/PID/numa_maps (read by the test, not by numaplan)
 *    show the planned CPUs, the bind policy and its touched pages on the planned node;
 * 5. numa=interleave and numa=preferred become those kernel policies, with the pages where they say,
 *    and the child's exit status passes through `numaplan run`;
 * 6. a command that ends at once (`-- true`) is still judged bound, on what /proc showed at start.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';
import { type Guest, type GuestShape, type ResolvedShape, resolveShape, shq } from './support/guest/index.js';
import { guestCli } from './support/guest/cli.js';
import { guestPlan } from './support/guest/plan.js';
import { countsFromLstopoXml, lstopoMachineCpusets, lstopoNodes } from './support/lstopo.js';

/** What a shape's checks need to know beyond the shape. */
export interface LiveChecks {
  /** A CPU to take offline and back (not CPU 0, which Linux keeps online). */
  offlineCpu: number;
  /** Two adjacent node ids with CPUs, for numa=interleave. */
  interleave: readonly [number, number];
  /** numa=preferred: the memory node, and a CPU of another node to run on. */
  preferred: { node: number; cpu: number };
  /** For each CPU-less node: the CPU its bound process runs on. */
  cpuForMemoryNode?: Record<number, number>;
  /** Extra `numaplan place` / `run --proc` options (the host reserve on a host too small for the default). */
  reserveArgs?: readonly string[];
}

/**
 * The numaplan CLI as the guest runs it (the checkout, seen through the 9p root), as a process of its
 * own: the `-- true` run is one, so that each guest also starts numaplan as users do. The other
 * commands go to the guest's CLI server (guestCli), which spares each the seconds a Node start and
 * its module loading take under TCG.
 */
const NUMAPLAN = `node ${shq(join(REPO_ROOT, 'bin', 'numaplan.js'))}`;

/** MiB each bound test process allocates and touches. */
const TOUCH_MIB = 32;
const PAGES_4K = (TOUCH_MIB << 20) / 4096;

/**
 * `numaplan run --settle`: when numaplan reads the running process's binding the second time. Short,
 * so that its running check happens while the test process is certainly alive (it waits for the
 * test's go), typically before the process has touched its buffer: the test's own reading of /proc
 * judges the pages.
 */
const SETTLE_MS = 300;

/**
 * The bound test process: allocates and touches TOUCH_MIB MiB, writes its pid to DIR/ready.KEY,
 * and exits with STATUS once DIR/go.KEY exists (args: DIR KEY STATUS).
 */
const TOUCH = [
  "const fs = require('fs');",
  'const [dir, key, status] = process.argv.slice(1);',
  `const b = Buffer.alloc(${TOUCH_MIB} << 20, 1);`,
  "fs.writeFileSync(`${dir}/ready.${key}`, String(process.pid));",
  'const t = setInterval(() => { if (fs.existsSync(`${dir}/go.${key}`)) { clearInterval(t); process.exit(b[b.length - 1] === 1 ? Number(status) : 3); } }, 50);',
].join(' ');

/** Fails early when dist/ is older than src/ (the guest runs the built CLI; `npm test` builds first). */
export function assertBuilt(): void {
  const main = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error('dist/ is not built: run `npm run build` first (npm test does)');
  let newest = 0;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(REPO_ROOT, 'src'));
  if (newest > statSync(join(REPO_ROOT, 'dist', 'index.js')).mtimeMs) throw new Error('dist/ is older than src/: run `npm run build` first (npm test does)');
}

interface TopologyJson {
  nodes: { id: number; cpus: number[]; memory: { total: number }; hugePages: { pageSize: number; total: number }[]; kind: string }[];
  distances: number[][];
  packages: { id: number; pus: number[] }[];
  cores: { pus: number[] }[];
  pus: { os: number; online: boolean; node: number | null }[];
  offlineCpus: number[];
  warnings: unknown[];
}

/** One view of the host, from numaplan and from lstopo, in the same form. */
interface View {
  packages: number;
  cores: number;
  pus: number;
  nodes: { id: number; cpus: number[]; memory: number; hugePages: Record<string, number> }[];
  distances: Record<string, Record<string, number>>;
  offline: number[];
}

function numaplanView(t: TopologyJson): View {
  const online = new Set(t.pus.filter((p) => p.online).map((p) => p.os));
  const distances: View['distances'] = {};
  t.nodes.forEach((a, i) => {
    distances[a.id] = Object.fromEntries(t.nodes.map((b, j) => [b.id, t.distances[i]?.[j] as number]));
  });
  return {
    packages: t.packages.length,
    cores: t.cores.filter((c) => c.pus.some((p) => online.has(p))).length,
    pus: online.size,
    nodes: t.nodes.map((n) => ({
      id: n.id,
      cpus: n.cpus.filter((c) => online.has(c)),
      memory: n.memory.total,
      hugePages: Object.fromEntries(n.hugePages.filter((h) => h.total > 0).map((h) => [String(h.pageSize), h.total])),
    })),
    distances,
    // An offline CPU exports no topology: numaplan lists it apart, hwloc only in the complete cpuset.
    offline: [...t.offlineCpus, ...t.pus.filter((p) => !p.online).map((p) => p.os)].sort((a, b) => a - b),
  };
}

function lstopoView(xml: string, nodeCpus: ReadonlyMap<number, readonly number[]>): View {
  const counts = countsFromLstopoXml(xml);
  const machine = lstopoMachineCpusets(xml);
  const online = new Set(machine.cpuset);
  // A node none of whose own CPUs is online (by the shape QEMU was given) has no CPUs now.
  const cpuless = new Set([...nodeCpus].filter(([, cpus]) => !cpus.some((c) => online.has(c))).map(([id]) => id));
  const distances: View['distances'] = {};
  for (const [a, row] of counts.numaLatency ?? new Map()) distances[a] = Object.fromEntries(row);
  return {
    packages: counts.packagesWithPus,
    cores: counts.cores,
    pus: counts.pus,
    nodes: lstopoNodes(xml)
      .sort((a, b) => a.os - b.os)
      .map((n) => ({
        id: n.os,
        // hwloc gives a CPU-less node the cpuset of the CPUs it attached it beside; it has none of its own.
        cpus: cpuless.has(n.os) ? [] : n.cpus,
        memory: n.localMemory,
        hugePages: Object.fromEntries([...n.pages].filter(([size, count]) => size !== 4096 && count > 0).map(([size, count]) => [String(size), count])),
      })),
    distances,
    offline: machine.complete.filter((c) => !online.has(c)),
  };
}

/** numaplan's and lstopo's views of the guest, taken back to back. */
async function views(g: Guest, nodeCpus: ReadonlyMap<number, readonly number[]>): Promise<{ numaplan: View; lstopo: View; json: TopologyJson }> {
  const out = await g.runOk(`${await guestCli(g)} topology --json && echo '@@@ lstopo' && lstopo-no-graphics --of xml -`);
  const at = out.indexOf('\n@@@ lstopo\n');
  const json = JSON.parse(out.slice(0, at)) as TopologyJson;
  return { numaplan: numaplanView(json), lstopo: lstopoView(out.slice(at + 12), nodeCpus), json };
}

/** What the kernel says about one process: its allowed CPUs and nodes, and its anonymous memory. */
interface ProcView {
  cpus: string;
  mems: string;
  /** Resident pages per node over every anonymous, heap and stack mapping (no file mappings). */
  pagesByNode: Record<string, number>;
  /** Policy of the mapping holding the most resident anonymous pages (the touched buffer). */
  bufferPolicy: string;
}

/** Reads /proc/PID/status and /proc/PID/numa_maps of the processes whose pids are in DIR/ready.KEY. */
async function readProcs(g: Guest, dir: string, keys: readonly string[]): Promise<Record<string, ProcView>> {
  const out = await g.runOk(
    keys.map((k) => `pid=$(cat ${dir}/ready.${k}); echo; echo "@@@ ${k}"; grep -E '^(Cpus|Mems)_allowed_list' /proc/$pid/status; cat /proc/$pid/numa_maps`).join('\n'),
  );
  const result: Record<string, ProcView> = {};
  for (const block of out.split('\n@@@ ').slice(1)) {
    const [key, ...lines] = block.split('\n');
    const field = (name: string): string => lines.find((l) => l.startsWith(name))?.split(/:\s*/)[1]?.trim() ?? '';
    const pagesByNode: Record<string, number> = {};
    let biggest = { pages: -1, policy: '' };
    for (const line of lines) {
      const parts = line.trim().split(/\s+/);
      if (parts.length < 3 || !/^[0-9a-f]+$/.test(parts[0] as string)) continue;
      // Anonymous memory only: a file mapping's counts include page cache, on whichever node read the file first.
      if (!parts.some((p) => p.startsWith('anon=') || p === 'heap' || p === 'stack') || parts.some((p) => p.startsWith('file='))) continue;
      let pages = 0;
      for (const p of parts) {
        const m = /^N(\d+)=(\d+)$/.exec(p);
        if (m) {
          pagesByNode[m[1] as string] = (pagesByNode[m[1] as string] ?? 0) + Number(m[2]);
          pages += Number(m[2]);
        }
      }
      if (pages > biggest.pages) biggest = { pages, policy: parts[1] as string };
    }
    result[key as string] = { cpus: field('Cpus_allowed_list'), mems: field('Mems_allowed_list'), pagesByNode, bufferPolicy: biggest.policy };
  }
  return result;
}

/** One `numaplan run` of a bound test process. */
interface TouchJob {
  key: string;
  /** `numaplan run` options choosing the binding. */
  args: string;
  /** The exit status the process ends with. */
  status?: number;
}

/**
 * Starts `numaplan run ARGS -- node -e TOUCH DIR KEY STATUS` in the background for every job (one
 * guest command), then waits until every process has touched its memory; a run that ends first
 * fails with its stderr.
 */
async function startTouching(g: Guest, dir: string, jobs: readonly TouchJob[]): Promise<void> {
  const np = await guestCli(g);
  const lines = [`rm -rf ${dir} && mkdir -p ${dir}`];
  for (const j of jobs) {
    lines.push(
      `( ${np} run ${j.args} --settle ${SETTLE_MS} --json -- node -e ${shq(TOUCH)} ${dir} ${j.key} ${j.status ?? 0} > ${dir}/run.${j.key}.json 2> ${dir}/run.${j.key}.err; echo $? > ${dir}/rc.${j.key} ) < /dev/null > /dev/null 2>&1 &`,
    );
  }
  lines.push(
    `for k in ${jobs.map((j) => j.key).join(' ')}; do`,
    `  while [ ! -f ${dir}/ready.$k ]; do`,
    `    if [ -f ${dir}/rc.$k ]; then echo "numaplan run for $k ended with $(cat ${dir}/rc.$k) before its process was ready:" >&2; cat ${dir}/run.$k.err ${dir}/run.$k.json >&2; exit 1; fi`,
    '    sleep 0.1',
    '  done',
    'done',
  );
  await g.runOk(lines.join('\n'), { timeoutMs: 300_000 });
}

/** Lets the touching processes end; each `numaplan run`'s exit status and JSON report. */
async function finish(g: Guest, dir: string, keys: readonly string[]): Promise<Record<string, { code: number; report: Record<string, unknown> }>> {
  const out = await g.runOk(
    [
      ...keys.map((k) => `touch ${dir}/go.${k}`),
      `for k in ${keys.join(' ')}; do while [ ! -f ${dir}/rc.$k ]; do sleep 0.1; done; echo; echo "@@@ $k $(cat ${dir}/rc.$k)"; cat ${dir}/run.$k.json; done`,
    ].join('\n'),
    { timeoutMs: 120_000 },
  );
  const result: Record<string, { code: number; report: Record<string, unknown> }> = {};
  for (const block of out.split('\n@@@ ').slice(1)) {
    const nl = block.indexOf('\n');
    const [key, code] = block.slice(0, nl).split(' ');
    result[key as string] = { code: Number(code), report: JSON.parse(block.slice(nl + 1)) as Record<string, unknown> };
  }
  return result;
}

/** What the binding steps saw: the placement, each process's /proc, each `numaplan run`'s exit status and report. */
interface BindObservation {
  placed: { ok: boolean; placements: { name: string; cpus: number[]; memoryByNode: Record<string, number> }[] };
  seen: Record<string, ProcView>;
  runs: Record<string, { code: number; report: Record<string, unknown> }>;
}

/** Derived facts about a shape the steps and tests share. */
function facts(shape: GuestShape, checks: LiveChecks) {
  const spec: ResolvedShape = resolveShape(shape);
  return {
    spec,
    cpuless: new Set(spec.nodes.filter((n) => n.cpus.length === 0).map((n) => n.id)),
    nodeCpus: new Map(spec.nodes.map((n) => [n.id, n.cpus] as const)),
    nodeOfCpu: new Map(spec.nodes.flatMap((n) => n.cpus.map((c) => [c, n.id] as const))),
    reserve: (checks.reserveArgs ?? []).map(shq).join(' '),
  };
}

/** The work in one shape's guest: each step returns what it saw, for liveHostTests to judge; `extra` steps run after them. */
export function liveHostPlan<E extends Record<string, (g: Guest) => Promise<unknown>> = Record<never, never>>(shape: GuestShape, checks: LiveChecks, extra?: E) {
  const { spec, nodeCpus, reserve } = facts(shape, checks);
  return guestPlan(shape, {
    /** lstopo's view right after boot. */
    shape: async (g: Guest) => lstopoView(await g.runOk('lstopo-no-graphics --of xml -'), nodeCpus),
    /** numaplan's and lstopo's views. */
    topology: (g: Guest) => views(g, nodeCpus),
    /** The same with one CPU offline (back online afterwards). */
    offline: async (g: Guest) => {
      const online = `/sys/devices/system/cpu/cpu${checks.offlineCpu}/online`;
      await g.runOk(`echo 0 > ${online}`);
      try {
        return await views(g, nodeCpus);
      } finally {
        await g.runOk(`echo 1 > ${online}`);
      }
    },
    /** One placement per node, then a bound process per node, all running at once. */
    bind: async (g: Guest): Promise<BindObservation> => {
      const dir = '/tmp/bind';
      // CPU-less nodes first: their jobs name their CPU, which the engine then leaves to them.
      const order = [...spec.nodes].sort((a, b) => Number(a.cpus.length > 0) - Number(b.cpus.length > 0));
      const vms = order.map((n) =>
        n.cpus.length > 0 ? `name=n${n.id},vcpus=1,memory=64M,nodes=${n.id}` : `name=n${n.id},vcpus=1,memory=64M,cpus=${checks.cpuForMemoryNode?.[n.id]},nodes=${n.id}`,
      );
      const placedText = await g.runOk(`mkdir -p /tmp/place && ${await guestCli(g)} place --host sysfs ${reserve} ${vms.map((v) => `--vm ${v}`).join(' ')} --json | tee /tmp/place/all.json`);
      const placed = JSON.parse(placedText) as BindObservation['placed'];
      if (!placed.ok) return { placed, seen: {}, runs: {} };
      const keys = spec.nodes.map((n) => String(n.id));
      await startTouching(g, dir, keys.map((k) => ({ key: k, args: `--placement /tmp/place/all.json --name n${k}` })));
      const seen = await readProcs(g, dir, keys);
      return { placed, seen, runs: await finish(g, dir, keys) };
    },
    /** An interleaved and a preferred process (the preferred one ends with status 7). */
    policy: async (g: Guest) => {
      const [a, b] = checks.interleave;
      const { node: pn, cpu: pc } = checks.preferred;
      await startTouching(g, '/tmp/policy', [
        { key: 'interleave', args: `--proc name=il,vcpus=2,memory=64M,nodes=${a}-${b},numa=interleave ${reserve}` },
        { key: 'preferred', args: `--proc name=pf,vcpus=1,memory=64M,cpus=${pc},nodes=${pn},numa=preferred ${reserve}`, status: 7 },
      ]);
      const seen = await readProcs(g, '/tmp/policy', ['interleave', 'preferred']);
      return { seen, runs: await finish(g, '/tmp/policy', ['interleave', 'preferred']) };
    },
    /** `numaplan run -- true`, waiting for a ready line `true` never prints: it surely ends before the running check. */
    endsAtOnce: (g: Guest) => g.run(`${NUMAPLAN} run --proc name=x,vcpus=1,memory=64M,nodes=${checks.interleave[1]} ${reserve} --ready-line never-printed --json -- true`),
    ...(extra ?? ({} as E)),
  });
}

/** A shape's plan. */
export type LiveHostPlan = ReturnType<typeof liveHostPlan>;

/** Registers the tests judging one shape's plan (and `more`, the tests of its extra steps); returns which step each test (by title) judges. */
export function liveHostTests(
  plan: Pick<LiveHostPlan, 'shape' | 'guest' | 'result'>,
  checks: LiveChecks,
  more?: (judge: (title: string, step: string, fn: () => Promise<void>) => void) => void,
): Map<string, string> {
  const stepOf = new Map<string, string>();
  const judge = (title: string, step: string, fn: () => Promise<void>, timeout: number): void => {
    stepOf.set(title, step);
    it(title, fn, timeout);
  };
  const { spec, cpuless, nodeOfCpu } = facts(plan.shape, checks);
  // A test waits for its step, which may queue behind other shapes' guests.
  const T = 900_000;

  describe(`a live ${spec.nodes.length}-node host in a guest: ${spec.name}`, () => {
    beforeEach((ctx) => {
      ctx.onTestFailed(({ task }) => {
        const tail = plan.guest?.describe('', 30);
        for (const e of task.result?.errors ?? []) {
          if (tail && typeof e.message === 'string' && !e.message.includes('serial console, last')) e.message += tail;
        }
      });
    });

    judge('lstopo in the guest sees the shape QEMU was given', 'shape', async () => {
      const v = await plan.result('shape');
      expect({ packages: v.packages, cores: v.cores, pus: v.pus }).toEqual({ packages: spec.cpu.sockets, cores: spec.cpu.sockets * spec.cpu.cores, pus: spec.vcpus });
      expect(v.nodes.map((n) => ({ id: n.id, cpus: n.cpus, hugePages: n.hugePages }))).toEqual(
        spec.nodes.map((n) => ({
          id: n.id,
          cpus: n.cpus,
          hugePages: Object.fromEntries(Object.entries(n.hugepages).filter(([, c]) => (c as number) > 0).map(([s, c]) => [String(s === '2M' ? 2 << 20 : 1 << 30), c])),
        })),
      );
      expect(v.distances).toEqual(Object.fromEntries(spec.distances.map((row, i) => [i, Object.fromEntries(row.map((d, j) => [j, d]))])));
      // The kernel keeps some of each node's memory for itself; what it reports is most of it.
      for (const n of v.nodes) {
        const given = spec.nodes[n.id]?.memory as number;
        expect(n.memory, `node ${n.id}`).toBeLessThanOrEqual(given);
        expect(n.memory, `node ${n.id}`).toBeGreaterThan(given * 0.75);
      }
    }, T);

    judge("numaplan topology --json equals lstopo: counts, each node's CPUs, memory and huge pages, distances", 'topology', async () => {
      const { numaplan, lstopo, json } = await plan.result('topology');
      expect(numaplan).toEqual(lstopo);
      expect(json.nodes.filter((n) => n.kind === 'cpu-less').map((n) => n.id)).toEqual([...cpuless]);
    }, T);

    judge(`with CPU ${checks.offlineCpu} offline, numaplan and lstopo agree, and both say which CPU`, 'offline', async () => {
      const { numaplan, lstopo } = await plan.result('offline');
      expect(numaplan.offline).toEqual([checks.offlineCpu]);
      expect(numaplan).toEqual(lstopo);
    }, T);

    judge('place on the live host, then run binds on every node: /proc shows the CPUs, the policy and the touched pages on that node', 'bind', async () => {
      const { placed, seen, runs } = await plan.result('bind');
      expect(placed.ok, JSON.stringify(placed)).toBe(true);
      for (const n of spec.nodes) {
        const p = placed.placements.find((x) => x.name === `n${n.id}`);
        expect(Object.keys(p?.memoryByNode ?? {}), `n${n.id}`).toEqual([String(n.id)]);
        if (n.cpus.length > 0) expect(p?.cpus.map((c) => nodeOfCpu.get(c)), `n${n.id}`).toEqual([n.id]);
        const s = seen[String(n.id)] as ProcView;
        expect({ node: n.id, cpus: s.cpus, policy: s.bufferPolicy }).toEqual({ node: n.id, cpus: p?.cpus.join(','), policy: `bind:${n.id}` });
        expect(Object.keys(s.pagesByNode).filter((k) => (s.pagesByNode[k] as number) > 0), `pages of the process bound to node ${n.id}`).toEqual([String(n.id)]);
        expect(s.pagesByNode[String(n.id)], `node ${n.id}`).toBeGreaterThanOrEqual(PAGES_4K);
        const run = runs[String(n.id)];
        expect({ node: n.id, code: run?.code, ok: run?.report.ok }, `numaplan run's report for node ${n.id}: ${JSON.stringify(run?.report)}`).toEqual({ node: n.id, code: 0, ok: true });
      }
    }, T);

    judge("numa=interleave and numa=preferred become those kernel policies, with the pages where they say; the child's exit status passes through", 'policy', async () => {
      const { seen, runs } = await plan.result('policy');
      const [a, b] = checks.interleave;
      const { node: pn, cpu: pc } = checks.preferred;
      const il = seen.interleave as ProcView;
      expect(il.bufferPolicy).toBe(`interleave:${a}-${b}`);
      for (const n of [a, b]) expect(il.pagesByNode[String(n)], `interleaved pages on node ${n}`).toBeGreaterThan(PAGES_4K * 0.4);
      const pf = seen.preferred as ProcView;
      expect({ cpus: pf.cpus, policy: pf.bufferPolicy }).toEqual({ cpus: String(pc), policy: `prefer:${pn}` });
      expect(nodeOfCpu.get(pc)).not.toBe(pn);
      expect(pf.pagesByNode[String(pn)], `preferred node ${pn}`).toBeGreaterThanOrEqual(PAGES_4K);
      expect({ code: runs.interleave?.code, ok: runs.interleave?.report.ok }, JSON.stringify(runs.interleave?.report)).toEqual({ code: 0, ok: true });
      expect({ code: runs.preferred?.code, ok: runs.preferred?.report.ok, exitCode: runs.preferred?.report.exitCode }, JSON.stringify(runs.preferred?.report)).toEqual({ code: 7, ok: true, exitCode: 7 });
    }, T);

    judge('a command that ends at once (-- true) is judged bound on what /proc showed at start, and exits 0', 'endsAtOnce', async () => {
      const t = await plan.result('endsAtOnce');
      const node = checks.interleave[1];
      expect(t.code, t.stderr).toBe(0);
      const report = JSON.parse(t.stdout) as { ok: boolean; checkedWhileRunning: boolean; observedAtStart: { cpusAllowed: string; policies: string[] } };
      expect({ ok: report.ok, whileRunning: report.checkedWhileRunning, policies: report.observedAtStart.policies }).toEqual({ ok: true, whileRunning: false, policies: [`bind:${node}`] });
      expect(nodeOfCpu.get(Number(report.observedAtStart.cpusAllowed))).toBe(node);
    }, T);

    more?.((title, step, fn) => judge(title, step, fn, T));
  });
  return stepOf;
}
