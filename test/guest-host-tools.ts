/**
 * `numaplan host prep` and `numaplan probe` on a real multi-node kernel: steps run in a shape's
 * guest after its live-host checks (test/guest-shapes.test.ts adds them to the four-node guest),
 * judged by what the guest's kernel shows: the pool files in /sys read back by the test itself,
 * the THP files, the cgroup's effective cpuset, and for the probe the /proc lines the kernel
 * printed while each pair ran.
 *
 * 1. a dry run changes nothing;
 * 2. `--hugepages 2M:64@1 --thp madvise --thp-defrag never --apply` leaves node 1's 2M pool at 64
 *    pages and THP as asked; a second --apply changes nothing and says so;
 * 3. against a state file whose VM holds 16 of node 1's 2M pages, shrinking that pool to 8 is
 *    refused (exit 1) and leaves it at 64; a reserve taking the VM's CPU is refused too;
 * 4. a reserve of CPU 0 is recorded in the state file and becomes the numaplan-host cpuset;
 * 5. `numaplan probe --quick --json` prints a full latency matrix, every pair measured from a CPU of
 *    its row's node with every page of its buffer on its column's node;
 * 6. `place --calibration` with that file predicts from the measured matrix;
 * 7. asked for more pages than a node can give, the kernel grants fewer: the report says how many
 *    (the test reads the pool), and --strict exits 1.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT } from './support/data.js';
import { guestCli } from './support/guest/cli.js';
import { type Guest, type GuestResult, resolveShape, shq } from './support/guest/index.js';
import type { GuestShape } from './support/guest/shape.js';

/** numaplan as a process of its own, for `probe` (it pins and binds its own threads); the other commands go to the guest's CLI server (guestCli). */
const NUMAPLAN = `node ${shq(join(REPO_ROOT, 'bin', 'numaplan.js'))}`;
const POOL1 = '/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages';
const THP = '/sys/kernel/mm/transparent_hugepage';
const DIR = '/tmp/host-tools';
const STATE = `${DIR}/state.json`;

/** A command's result with the JSON it printed (null when it printed none). */
interface Ran {
  code: number;
  json: Record<string, unknown> | null;
  stderr: string;
  stdout: string;
}

async function numaplan(g: Guest, args: string, ownProcess = false): Promise<Ran> {
  const cli = ownProcess ? NUMAPLAN : await guestCli(g);
  const r: GuestResult = await g.run(`mkdir -p ${DIR} && ${cli} ${args}`, { timeoutMs: 240_000 });
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { code: r.code, json, stderr: r.stderr, stdout: r.stdout };
}

const readInt = async (g: Guest, path: string): Promise<number> => Number((await g.readFile(path)).trim());

/** The steps, in order (names are unique within a plan). */
export function hostToolSteps() {
  return {
    /** A dry run, then the pool as the kernel shows it. */
    prepDryRun: async (g: Guest) => {
      const before = await readInt(g, POOL1);
      const run = await numaplan(g, 'host prep --hugepages 2M:64@1 --json');
      return { before, run, after: await readInt(g, POOL1) };
    },
    /** --apply, the pool and THP files, then the same --apply again. */
    prepApply: async (g: Guest) => {
      const args = 'host prep --hugepages 2M:64@1 --thp madvise --thp-defrag never --apply --json';
      const run = await numaplan(g, args);
      const pool = await readInt(g, POOL1);
      const free = await readInt(g, POOL1.replace('nr_hugepages', 'free_hugepages'));
      const thp = { enabled: (await g.readFile(`${THP}/enabled`)).trim(), defrag: (await g.readFile(`${THP}/defrag`)).trim() };
      const again = await numaplan(g, args);
      return { run, pool, free, thp, again, poolAfterAgain: await readInt(g, POOL1) };
    },
    /** A VM placed in a state file holding node 1's 2M pages; host prep shrinking that pool, and a reserve taking its CPU. */
    prepRefused: async (g: Guest) => {
      await g.runOk(`rm -rf ${DIR} && mkdir -p ${DIR}`);
      const placed = await numaplan(g, `place --host sysfs --state ${STATE} --vm name=hp,vcpus=1,memory=32M,pages=2M,nodes=1 --json`);
      const vmCpu = ((placed.json?.placements as { cpus: number[] }[] | undefined)?.[0]?.cpus ?? [])[0] ?? -1;
      const shrink = await numaplan(g, `host prep --hugepages 2M:8@1 --state ${STATE} --apply --json`);
      const pool = await readInt(g, POOL1);
      const cpu = await numaplan(g, `host prep --reserve-cpus 0,${vmCpu} --state ${STATE} --apply --json`);
      return { placed, vmCpu, shrink, pool, cpu };
    },
    /** A reserve of CPU 0: the state file and the host cpuset. */
    prepReserve: async (g: Guest) => {
      const run = await numaplan(g, `host prep --reserve-cpus 0 --reserve-memory 64M --state ${STATE} --apply --json`);
      const state = JSON.parse(await g.readFile(STATE)) as { reserve: { cpus: number[]; memory: { node: number; bytes: number }[] }; allocations: { name: string }[] };
      const cg = '/sys/fs/cgroup/numaplan-host';
      const cpuset = { cpus: (await g.readFile(`${cg}/cpuset.cpus.effective`)).trim(), mems: (await g.readFile(`${cg}/cpuset.mems.effective`)).trim() };
      return { run, state, cpuset };
    },
    /** numaplan probe --quick --json, saved for the next step. */
    probe: async (g: Guest) => {
      const started = Date.now();
      const run = await numaplan(g, `probe --quick --json -o ${DIR}/probe.json --no-progress`, true);
      return { run, ms: Date.now() - started };
    },
    /** place with the probe's file as calibration. */
    calibrated: async (g: Guest) => numaplan(g, `place --host sysfs --calibration ${DIR}/probe.json --vm name=w,vcpus=2,memory=128M,nodes=2-3 --json`),
    /** More 2M pages on node 2 than its free memory holds, with --strict (last: it leaves node 2 almost without free memory). */
    prepShort: async (g: Guest) => {
      const pool2 = POOL1.replace('node1', 'node2');
      const before = await readInt(g, pool2);
      const run = await numaplan(g, 'host prep --hugepages 2M:180@2 --apply --strict --json');
      return { before, run, granted: await readInt(g, pool2) };
    },
  };
}

/** The steps' plan type (any plan holding them). */
type StepResults = { [K in keyof ReturnType<typeof hostToolSteps>]: Awaited<ReturnType<ReturnType<typeof hostToolSteps>[K]>> };
type Plan = { result<K extends keyof StepResults>(name: K): Promise<StepResults[K]> };

/** Registers the tests of the steps; `judge(title, step, fn)` is the shape file's registration. */
export function hostToolTests(shape: GuestShape, plan: Plan, judge: (title: string, step: string, fn: () => Promise<void>) => void): void {
  const spec = resolveShape(shape);
  const nodeOfCpu = new Map(spec.nodes.flatMap((n) => n.cpus.map((c) => [c, n.id] as const)));
  const ids = spec.nodes.map((n) => n.id);

  judge('host prep without --apply changes nothing and shows the plan', 'prepDryRun', async () => {
    const { before, run, after } = await plan.result('prepDryRun');
    expect(run.code, run.stderr).toBe(0);
    expect(after).toBe(before);
    expect(run.json).toMatchObject({ ok: true, applied: false, changes: [{ kind: 'hugepages', node: 1, from: before, to: 64, status: 'planned', file: POOL1 }] });
  });

  judge("host prep --hugepages 2M:64@1 --apply leaves node 1's 2M pool at 64 pages (sysfs), THP as asked; a second --apply changes nothing and says so", 'prepApply', async () => {
    const r = await plan.result('prepApply');
    expect(r.run.code, r.run.stderr).toBe(0);
    expect(r.pool).toBe(64);
    expect(r.free).toBe(64);
    expect(r.thp.enabled).toContain('[madvise]');
    expect(r.thp.defrag).toContain('[never]');
    const changes = r.run.json?.changes as { kind: string; status: string; granted?: number }[];
    expect(changes.map((c) => [c.kind, c.status])).toEqual([['hugepages', 'changed'], ['thp', 'changed'], ['thp', 'changed']]);
    expect(changes[0]?.granted).toBe(64);
    expect(r.again.code, r.again.stderr).toBe(0);
    expect(r.again.json).toMatchObject({ ok: true, applied: true, changes: [] });
    expect((r.again.json?.unchanged as unknown[]).length).toBe(3);
    expect(r.poolAfterAgain).toBe(64);
  });

  judge('host prep refuses to shrink a pool under a VM of the state file, or to reserve its CPU (exit 1), and changes nothing', 'prepRefused', async () => {
    const r = await plan.result('prepRefused');
    expect(r.placed.code, r.placed.stderr).toBe(0);
    expect(nodeOfCpu.get(r.vmCpu)).toBe(1);
    expect(r.shrink.code, r.shrink.stdout + r.shrink.stderr).toBe(1);
    expect(r.shrink.json).toMatchObject({ ok: false, applied: false, refusals: [{ vm: 'hp', resource: 'hugepages-2M', node: 1, need: 32 << 20, have: 16 << 20 }] });
    expect(r.pool).toBe(64);
    expect(r.cpu.code).toBe(1);
    expect(r.cpu.json).toMatchObject({ ok: false, refusals: [{ vm: 'hp', resource: `cpu:${r.vmCpu}` }] });
  });

  judge('host prep --reserve-cpus 0 records the reserve in the state file and makes it the numaplan-host cpuset (cgroup v2)', 'prepReserve', async () => {
    const r = await plan.result('prepReserve');
    expect(r.run.code, r.run.stdout + r.run.stderr).toBe(0);
    expect(r.state.reserve).toEqual({ cpus: [0], memory: [{ node: 0, bytes: 64 << 20 }] });
    expect(r.state.allocations.map((a) => a.name)).toEqual(['hp']);
    expect(r.cpuset).toEqual({ cpus: '0', mems: '0' });
  });

  judge(`numaplan probe --json prints a ${ids.length} x ${ids.length} latency matrix in ns, every pair measured from its node's CPU with every page on its node (as /proc showed)`, 'probe', async () => {
    const { run } = await plan.result('probe');
    expect(run.code, run.stderr).toBe(0);
    const doc = run.json as {
      nodes: number[];
      latency: (number | null)[][];
      bandwidth: (number | null)[][];
      distances: number[][];
      cpus: Record<string, number>;
      verified: boolean;
      bufferBytes: number;
      method: string;
      pairs: { initiator: number; target: number; cpu: number; verified: boolean; observed: { procStatus: string; procNumaMaps: string } }[];
    };
    expect(doc.nodes).toEqual(ids);
    expect(doc.latency).toHaveLength(ids.length);
    for (const row of doc.latency) {
      expect(row).toHaveLength(ids.length);
      for (const v of row) expect(v).toBeGreaterThan(0);
    }
    for (const row of doc.bandwidth) for (const v of row) expect(v).toBeGreaterThan(0);
    expect(doc.distances).toEqual(spec.distances);
    expect(doc.verified).toBe(true);
    expect(doc.pairs).toHaveLength(ids.length * ids.length);
    const pages = doc.bufferBytes / 4096;
    for (const p of doc.pairs) {
      const at = `node ${p.initiator} -> node ${p.target}`;
      expect(nodeOfCpu.get(p.cpu), at).toBe(p.initiator);
      expect(doc.cpus[String(p.initiator)], at).toBe(p.cpu);
      // The kernel's own words while the pair ran: the thread's allowed CPUs, and the buffer's
      // policy and resident pages per node in numa_maps (every page on the target node).
      expect(p.observed.procStatus.split(/:\s*/)[1], at).toBe(String(p.cpu));
      const maps = p.observed.procNumaMaps.split(/\s+/);
      expect(maps[1], at).toBe(`bind:${p.target}`);
      expect(maps.filter((f) => /^N\d+=/.test(f)), at).toEqual([`N${p.target}=${pages}`]);
    }
  });

  judge('place --calibration FILE predicts latency from the measured matrix', 'calibrated', async () => {
    const r = await plan.result('calibrated');
    const probe = (await plan.result('probe')).run.json as { latency: number[][]; nodes: number[] };
    expect(r.code, r.stderr).toBe(0);
    const p = (r.json?.placements as { cpus: number[]; memoryByNode: Record<string, number>; explanation: { cost: { expectedLatencyNs: number; calibration?: { source: string } } } }[])[0];
    expect(p?.explanation.cost.calibration?.source).toBe('measured');
    const total = Object.values(p?.memoryByNode ?? {}).reduce((s, b) => s + b, 0);
    const at = (a: number, b: number): number => probe.latency[probe.nodes.indexOf(a)]?.[probe.nodes.indexOf(b)] as number;
    let ns = 0;
    for (const c of p?.cpus ?? []) for (const [node, bytes] of Object.entries(p?.memoryByNode ?? {})) ns += (1 / (p?.cpus.length ?? 1)) * (bytes / total) * at(nodeOfCpu.get(c) as number, Number(node));
    expect(p?.explanation.cost.expectedLatencyNs).toBeCloseTo(ns, 0);
  });

  judge('host prep reports what the kernel granted when it is less than asked (exit 1 with --strict)', 'prepShort', async () => {
    const r = await plan.result('prepShort');
    expect(r.granted, 'a 384 MiB node cannot give 360 MiB of huge pages').toBeLessThan(180);
    expect(r.granted).toBeGreaterThan(r.before);
    expect(r.run.code, r.run.stdout + r.run.stderr).toBe(1);
    expect(r.run.json).toMatchObject({ ok: false, applied: true, changes: [{ kind: 'hugepages', node: 2, to: 180, status: 'short', granted: r.granted }] });
    expect((r.run.json?.notes as string[]).join(' ')).toContain(`the kernel granted ${r.granted} of the 180 pages asked`);
  });
}
