/**
 * The fleet service through HTTP, with 10,000 hosts registered (two-node hosts, 8 cores x 2 threads
 * and 64 GiB per node, 2M pools), on SQLite (file, synchronous=FULL) and on a throwaway PostgreSQL
 * server (fsync off: this measures the service, not the disk), one and two instances.
 *
 * Every service is its own process (the built `dist/server/process-main.js` when there is one, what
 * `numaplan serve` runs; else the sources through tsx), and so is the load generator (below). This
 * machine has two cores: the client, the service(s) and PostgreSQL share them, so the figures are
 * what one small machine does with all of it, not the service alone.
 *
 * The placements and explanations are sent by wrk (lib/wrk.ts: one wrk thread, N keep-alive
 * connections, a closed loop on each), whose CPU per request is a sixth of a Node client's or less: on
 * this two-core machine the load generator's CPU is taken from the service measured. Registration
 * goes through `lib/load-client.ts` (undici).
 *
 * `NUMAPLAN_BENCH_SERVICE_ARGS` passes Node options to the services (not to the load client), e.g.
 * `--cpu-prof --cpu-prof-dir DIR` for a CPU profile of each, written when it stops.
 *
 * The goal case (group commits written by SQLite's writer thread) runs beside the same service
 * writing them on its event loop (`NUMAPLAN_SQLITE_SYNC=loop`: the log synced inside the commit on
 * a fast disk, on the thread pool on a slow one; how it was done before the writer thread), for the
 * ratio, and beside one answering at commit (`--durability commit`: the log written, not waited for on
 * disk). The disk's fdatasync latency is measured at setup: with the default durability each
 * closed-loop client waits for one sync per placement, which bounds the goal case.
 *
 * The goal case and its two comparisons each place on a service of their own, so that their fleets
 * fill alike over the runs (the decision is slower on a fuller fleet); the 1- and 32-client and
 * explain cases share a fourth. Every VM takes one CPU: the notes give how full each fleet ended.
 *
 * Setup registers the hosts through the API (PUT /api/v1/hosts/NAME, 8 clients): its rate is a
 * note. Each case is one burst per run: 1 s warm-up, then SECONDS s measured (1 s under --quick);
 * the table's figure is milliseconds per placement over the burst (1000 / placements per second), and the notes give
 * placements per second, latency p50 / p99 (medians over the runs), the service's CPU time per
 * placement (utime + stime from /proc, warm-up included, and the work after the burst until the
 * services are quiet), the load client's (over the measured window) and the service's resident
 * memory. Every placement asks for `vcpus=1,memory=1G` and is committed. The placement goals (one
 * placement in under 0.1 ms at 8 nodes and under 1 ms at 256, fit and no-fit) are measured in the
 * same run, in this process.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, fdatasyncSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { topologyToJson } from '../src/core/topology/json.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { type PgServer, startPostgres } from '../test/support/postgres.js';
import { placementCases } from './placement.bench.js';
import { type WrkBurst, wrkBurst, wrkUnavailable } from './lib/wrk.js';
import type { BenchCase, BenchSuite, CaseResult } from './lib/types.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const TOKEN = 'bench-token-0123456789';
const G = 1024 ** 3;
const HOSTS = 10_000;
const QUICK_HOSTS = 2_000;
const SECONDS = 2;
/** Each burst's warm-up (wrk counts whole seconds). */
const WARMUP_SECONDS = 1;
const VM = 'vcpus=1,memory=1G';
/** The case the throughput goal judges, and the goal. */
const GOAL_CASE = 'place, 8 clients, SQLite';
const GOAL_PER_SECOND = 5000;
/** The goal case with the group commits on the service's event loop (NUMAPLAN_SQLITE_SYNC=loop), as before the writer thread. */
const LOOP_CASE = 'place, 8 clients, SQLite, group commits on the event loop';
/** The goal case answering at commit, without waiting for the disk (`numaplan serve --durability commit`). */
const COMMIT_CASE = 'place, 8 clients, SQLite, --durability commit';
/** PostgreSQL: one and two instances (a group commit of placements in one statement), and the same with every group commit a transaction (NUMAPLAN_PG_FLUSH=transaction). */
const PG_ONE = 'place, 8 clients, PostgreSQL, 1 instance';
const PG_TWO = 'place, 16 clients, PostgreSQL, 2 instances';
const PG_ONE_TX = 'place, 8 clients, PostgreSQL, 1 instance, group commits as transactions';
const PG_TWO_TX = 'place, 16 clients, PostgreSQL, 2 instances, group commits as transactions';

interface Service {
  url: string;
  child: ChildProcess;
}

interface Burst {
  answered: number;
  total: number;
  elapsedMs: number;
  p50: number;
  p99: number;
  unexpected: string | null;
  /** The load client's own CPU time over the measured window, µs. */
  cpuUs: number;
}

const services = new Map<string, Service[]>();
const notes: string[] = [];
const bursts = new Map<
  string,
  { p50: number[]; p99: number[]; cpuUs: number[]; clientUs: number[]; rssMb: number[]; perSecond: number[]; groupSize: number[]; machineCores: number[] }
>();

/** VMs placed through each service over the runs (warm-up bursts included), by its URL; its name; the CPUs of one fleet. */
const placedOn = new Map<string, number>();
const serviceName = new Map<string, string>();
let fleetCpus = 0;

/** Cases whose warm-up burst (the runner's first call) has run. */
const warmedUp = new Set<string>();

/** The services' group commits so far (transactions, and the requests they wrote), from /metrics. */
async function groupCommits(list: readonly Service[]): Promise<{ commits: number; requests: number }> {
  let commits = 0;
  let requests = 0;
  for (const s of list) {
    const text = await (await fetch(new URL('/metrics', s.url), { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    commits += Number(/^numaplan_store_group_commits_total (\d+)$/m.exec(text)?.[1] ?? 0);
    requests += Number(/^numaplan_store_group_commit_requests_total (\d+)$/m.exec(text)?.[1] ?? 0);
  }
  return { commits, requests };
}
let pg: PgServer | null = null;
let pgReason: string | null = null;
let hostBody = '';
let seq = 0;
/** Measured seconds per burst (shorter under --quick, where fewer hosts fill up sooner). */
let seconds = SECONDS;

function startService(db: string, data: string, env: Record<string, string> = {}, args: readonly string[] = []): Promise<Service> {
  const built = join(ROOT, 'dist', 'server', 'process-main.js');
  const entry = existsSync(built) ? [built] : ['--import', 'tsx', join('src', 'server', 'process-main.ts')];
  // Node options for the services alone, e.g. NUMAPLAN_BENCH_SERVICE_ARGS="--cpu-prof --cpu-prof-dir DIR" to profile them.
  const extra = (process.env.NUMAPLAN_BENCH_SERVICE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
  const child = spawn(process.execPath, [...extra, ...entry, '--db', db, '--data', data, '--port', '0', '--token', TOKEN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (l) => resolve({ url: (JSON.parse(l) as { url: string }).url, child }));
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
}

/** Runs the load client to completion; resolves to its report. */
function load(urls: readonly string[], args: readonly string[]): Promise<Burst> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join('bench', 'lib', 'load-client.ts'), '--url', urls.join(','), '--token', TOKEN, ...args],
      { cwd: ROOT, maxBuffer: 1 << 24 },
      (err, stdout) => {
        if (err) reject(err);
        else resolve(JSON.parse(stdout) as Burst);
      },
    );
  });
}

/** utime + stime of a process, in microseconds. */
function cpuUs(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] as string).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

async function register(label: string, svc: Service, hosts: number, log: (m: string) => void): Promise<void> {
  log(`${label}: registering ${hosts} hosts through the API`);
  serviceName.set(svc.url, label);
  const t0 = performance.now();
  const r = await load([svc.url], ['--mode', 'register', '--hosts', String(hosts), '--clients', '8', '--body', hostBody]);
  const s = (performance.now() - t0) / 1000;
  if (r.unexpected) throw new Error(`${label}: registration answered ${r.unexpected}`);
  notes.push(`${label}: ${hosts.toLocaleString('en-US')} hosts registered through the API (8 clients) in ${s.toFixed(1)} s (${Math.round(hosts / s).toLocaleString('en-US')}/s)`);
}

/**
 * Waits until the services are quiet (under 5% of a core over 100 ms; at most 10 s): after a burst,
 * instances sharing a database still read back each other's changes from the event log. That work
 * belongs to the burst (its CPU is counted in the burst's CPU per request) and must not run into the
 * next case's measurement.
 */
async function settle(pids: readonly number[]): Promise<void> {
  await quiet(() => pids.reduce((s, pid) => s + cpuUs(pid), 0), 10_000);
  // Then the machine: PostgreSQL's own work after a burst (autovacuum, its checkpointer) and the
  // SQLite stores' checkpoint threads would otherwise run into the next case, the in-process
  // placement rows above all (one call per sample at 256 nodes). At most 5 s: a machine busy with
  // other work is never quiet.
  await quiet(machineBusyUs, 5_000);
}

/** Waits until `busyUs` grows by under 5 ms over 100 ms (5% of a core), or `maxMs` passed. */
async function quiet(busyUs: () => number, maxMs: number): Promise<void> {
  const deadline = performance.now() + maxMs;
  let before = busyUs();
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const now = busyUs();
    if (now - before < 5_000) return;
    before = now;
  }
}

/** CPU time the whole machine spent busy (all cores, /proc/stat: everything but idle and iowait), µs. */
function machineBusyUs(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  const ticks = f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0);
  return ticks * 10_000;
}

/**
 * `clients` closed-loop clients for `s` seconds through wrk, spread evenly over the services (one
 * wrk per service): requests answered, the longest burst's length, the slowest service's latency
 * percentiles and wrk's CPU time.
 */
async function wrkLoad(list: readonly Service[], clients: number, s: number, prefix: string, mode: 'place' | 'explain'): Promise<WrkBurst> {
  const path = mode === 'place' ? '/api/v1/vms' : '/api/v1/explain';
  const each = await Promise.all(
    list.map((svc, i) =>
      wrkBurst({ url: svc.url, path, token: TOKEN, connections: Math.max(1, Math.round(clients / list.length)), seconds: s, prefix: `${prefix}${i}-`, vm: VM }),
    ),
  );
  return {
    requests: each.reduce((t, r) => t + r.requests, 0),
    elapsedMs: Math.max(...each.map((r) => r.elapsedMs)),
    p50Ms: Math.max(...each.map((r) => r.p50Ms)),
    p99Ms: Math.max(...each.map((r) => r.p99Ms)),
    cpuUs: each.reduce((t, r) => t + r.cpuUs, 0),
  };
}

/** One burst of placements (a warm-up, then the measured part); returns ms per placement and records the figures for the notes. */
async function burst(name: string, list: readonly Service[], clients: number, mode: 'place' | 'explain' = 'place'): Promise<number[]> {
  const pids = list.map((s) => s.child.pid as number);
  const g0 = await groupCommits(list);
  const c0 = pids.map(cpuUs);
  const prefix = `b${++seq}`;
  const warm = await wrkLoad(list, clients, WARMUP_SECONDS, `${prefix}w`, mode);
  const m0 = machineBusyUs();
  const r = await wrkLoad(list, clients, seconds, `${prefix}m`, mode);
  // Cores of the machine busy over the measured part (everything: services, database, load client).
  const machineCores = (machineBusyUs() - m0) / 1000 / r.elapsedMs;
  if (mode === 'place') for (const s of list) placedOn.set(s.url, (placedOn.get(s.url) ?? 0) + (warm.requests + r.requests) / list.length);
  await settle(pids);
  const used = pids.reduce((s, pid, i) => s + cpuUs(pid) - (c0[i] as number), 0);
  const g1 = await groupCommits(list);
  // The runner's warm-up call of a case is not one of its runs: the notes' medians are over the runs, as the table's.
  if (!warmedUp.has(name)) {
    warmedUp.add(name);
    return [r.elapsedMs / Math.max(1, r.requests)];
  }
  const b = bursts.get(name) ?? { p50: [], p99: [], cpuUs: [], clientUs: [], rssMb: [], perSecond: [], groupSize: [], machineCores: [] };
  if (g1.commits > g0.commits) b.groupSize.push((g1.requests - g0.requests) / (g1.commits - g0.commits));
  b.p50.push(r.p50Ms);
  b.p99.push(r.p99Ms);
  b.cpuUs.push(used / Math.max(1, warm.requests + r.requests));
  b.clientUs.push(r.cpuUs / Math.max(1, r.requests));
  b.rssMb.push(pids.reduce((s, pid) => s + rssMb(pid), 0));
  b.perSecond.push((r.requests * 1000) / r.elapsedMs);
  b.machineCores.push(machineCores);
  bursts.set(name, b);
  return [r.elapsedMs / Math.max(1, r.requests)];
}

/**
 * fdatasync latency of this machine's disk where the SQLite file lives (200 syncs of an 8 KiB
 * write, as a commit's log append): with durability `disk`, each of N closed-loop clients waits for
 * one such sync per placement, so N / latency bounds the placements per second whatever the CPU.
 */
function syncLatencyMs(dir: string): { p50: number; p90: number } {
  const file = join(dir, 'sync-probe');
  const fd = openSync(file, 'w');
  const b = Buffer.alloc(8192, 1);
  const t: number[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      writeSync(fd, b, 0, b.length, (i % 64) * 8192);
      const t0 = process.hrtime.bigint();
      fdatasyncSync(fd);
      t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  t.sort((a, b2) => a - b2);
  return { p50: t[100] as number, p90: t[180] as number };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};

/** The placement goal rows measured in this run: fit and no-fit at 8 and 256 nodes. */
const GOAL_ROWS = /^numaplan (fit|no-fit) (8|256) nodes$/;

/**
 * A placement goal row, timed in this process between the service bursts. Its first call (the
 * runner's warm-up) places for 300 ms, so that V8 has optimised the placement code as the placement
 * suite's calibration does; each sample then makes three calls to warm it again (a burst ran since),
 * and times calls for at least 20 ms: the sample is their mean. Left to the runner, these rows were
 * calibrated on a few cold calls after the setup and timed unoptimised code, at 3-12x the placement
 * suite's figures (fit at 8 nodes: 37-77 µs against 6-12 µs).
 */
function warmGoalRow(c: BenchCase): BenchCase {
  const callsFor = async (ms: number): Promise<number> => {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms || calls < 3) {
      await c.run();
      calls++;
      t = performance.now();
    }
    return (t - t0) / calls;
  };
  let warm = false;
  return {
    name: c.name,
    selfTimed: true,
    run: async () => {
      if (!warm) {
        warm = true;
        return [await callsFor(300)];
      }
      for (let i = 0; i < 3; i++) await c.run();
      return [await callsFor(20)];
    },
  };
}

/** The suite `npm run bench` finds. */
export const suite: BenchSuite = {
  name: 'service',
  description: 'fleet service over HTTP with 10,000 hosts: placements per second with 1, 8 and 32 clients on SQLite, PostgreSQL with 1 and 2 instances; one placement on 8 and 256 nodes',
  goal: {
    text: `${GOAL_PER_SECOND.toLocaleString('en-US')} placements/s or more with 8 clients on SQLite (one instance, 10,000 hosts), and one placement in under 0.1 ms at 8 nodes and under 1 ms at 256 (fit and no-fit)`,
    check: (cases: readonly CaseResult[]) => {
      const goal = cases.find((c) => c.name === GOAL_CASE);
      const rows = cases.filter((c) => GOAL_ROWS.test(c.name));
      if (!goal || goal.median === undefined || rows.length !== 4 || rows.some((c) => c.median === undefined)) return null;
      const fast = rows.every((c) => (c.median as number) < (c.name.endsWith(' 8 nodes') ? 0.1 : 1));
      return 1000 / goal.median >= GOAL_PER_SECOND && fast;
    },
  },
  runs: 5,
  setup: async (ctx) => {
    const hosts = ctx.quick ? QUICK_HOSTS : HOSTS;
    seconds = ctx.quick ? 1 : SECONDS;
    const topo = syntheticTopology({
      source: 'bench-2n',
      packages: 2,
      nodesPerPackage: 1,
      coresPerNode: 8,
      threadsPerCore: 2,
      memoryPerNode: 64 * G,
      hugePages: [{ pageSize: 2 * 1024 ** 2, total: 4096, free: 4096 }],
    });
    fleetCpus = hosts * topo.pus.length;
    hostBody = join(ctx.tmpdir('bench-host-'), 'host.json');
    writeFileSync(hostBody, JSON.stringify({ format: 'json', topology: JSON.parse(topologyToJson(topo)) }));
    const sqliteData = ctx.tmpdir('bench-sqlite-');
    const sqlite = await startService(`sqlite:${join(sqliteData, 'fleet.db')}`, sqliteData);
    services.set('sqlite', [sqlite]);
    await register('SQLite', sqlite, hosts, ctx.log);
    // The goal case and its two comparisons each place on a service of their own, so that the three
    // fleets fill alike over the runs (a fuller fleet decides more slowly); the 1- and 32-client and
    // explain cases share the first.
    const goalData = ctx.tmpdir('bench-sqlite-goal-');
    const goal = await startService(`sqlite:${join(goalData, 'fleet.db')}`, goalData);
    services.set('sqlite-goal', [goal]);
    await register('SQLite, goal case', goal, hosts, ctx.log);
    // The same service writing its group commits on the event loop (as before the writer thread):
    // the baseline of the goal case, measured in the same run.
    const loopData = ctx.tmpdir('bench-sqlite-loop-');
    const loop = await startService(`sqlite:${join(loopData, 'fleet.db')}`, loopData, { NUMAPLAN_SQLITE_SYNC: 'loop' });
    services.set('sqlite-loop', [loop]);
    await register('SQLite, group commits on the event loop', loop, hosts, ctx.log);
    // The same service answering at commit (the log written, not waited for on disk).
    const commitData = ctx.tmpdir('bench-sqlite-commit-');
    const commit = await startService(`sqlite:${join(commitData, 'fleet.db')}`, commitData, {}, ['--durability', 'commit']);
    services.set('sqlite-commit', [commit]);
    await register('SQLite, --durability commit', commit, hosts, ctx.log);
    const sync = syncLatencyMs(sqliteData);
    notes.push(
      `fdatasync on the SQLite file's disk: p50 ${sync.p50.toFixed(2)} ms, p90 ${sync.p90.toFixed(2)} ms (200 syncs of 8 KiB at setup): with --durability disk, 8 closed-loop clients place at most ${Math.round(8000 / sync.p50).toLocaleString('en-US')}/s at that p50, whatever the CPU`,
    );
    try {
      pg = await startPostgres();
    } catch (err) {
      pgReason = (err as Error).message;
    }
    if (pg) {
      const data = ctx.tmpdir('bench-pg-');
      const one = await startService(await pg.createDatabase('bench1'), data);
      services.set('pg1', [one]);
      await register('PostgreSQL, 1 instance', one, hosts, ctx.log);
      const db2 = await pg.createDatabase('bench2');
      const a = await startService(db2, data);
      await register('PostgreSQL, 2 instances', a, hosts, ctx.log);
      const b = await startService(db2, data);
      services.set('pg2', [a, b]);
      // The same with every group commit a transaction (the shared path, seven round trips): the
      // baseline of the one-statement commit, one and two instances.
      const tx = { NUMAPLAN_PG_FLUSH: 'transaction' };
      const oneTx = await startService(await pg.createDatabase('bench1tx'), data, tx);
      services.set('pg1tx', [oneTx]);
      await register('PostgreSQL, 1 instance, group commits as transactions', oneTx, hosts, ctx.log);
      const db2tx = await pg.createDatabase('bench2tx');
      const aTx = await startService(db2tx, data, tx);
      await register('PostgreSQL, 2 instances, group commits as transactions', aTx, hosts, ctx.log);
      services.set('pg2tx', [aTx, await startService(db2tx, data, tx)]);
    } else pgReason ??= 'PostgreSQL server binaries not installed';
  },
  cases: () => {
    const get = (key: string) => (): Service[] => {
      const s = services.get(key);
      if (!s) throw new Error(pgReason ?? `${key} not started`);
      return s;
    };
    const noWrk = wrkUnavailable();
    const unavailable = (key: string) => (): string | null => noWrk ?? (services.has(key) ? null : (pgReason ?? 'not started'));
    // One burst case: `clients` closed-loop clients on the services started under `key`.
    const burstCase = (name: string, key: string, clients: number, mode: 'place' | 'explain' = 'place'): BenchCase => ({
      name,
      selfTimed: true,
      unavailable: unavailable(key),
      run: () => burst(name, get(key)(), clients, mode),
    });
    const cases: BenchCase[] = [
      burstCase('place, 1 client, SQLite', 'sqlite', 1),
      burstCase(GOAL_CASE, 'sqlite-goal', 8),
      burstCase(LOOP_CASE, 'sqlite-loop', 8),
      burstCase(COMMIT_CASE, 'sqlite-commit', 8),
      burstCase('place, 32 clients, SQLite', 'sqlite', 32),
      burstCase('explain, 1 client, SQLite', 'sqlite', 1, 'explain'),
      burstCase(PG_ONE, 'pg1', 8),
      burstCase(PG_TWO, 'pg2', 16),
      burstCase(PG_ONE_TX, 'pg1tx', 8),
      burstCase(PG_TWO_TX, 'pg2tx', 16),
      ...placementCases()
        .filter((c) => GOAL_ROWS.test(c.name))
        .map(warmGoalRow),
    ];
    return cases;
  },
  notes: () => {
    const out = [...notes];
    for (const [name, b] of bursts) {
      out.push(
        `${name}: ${Math.round(median(b.perSecond)).toLocaleString('en-US')}/s, latency p50 ${median(b.p50).toFixed(2)} ms, p99 ${median(b.p99).toFixed(2)} ms, service CPU ${Math.round(median(b.cpuUs))} µs per request, load client CPU ${Math.round(median(b.clientUs))} µs, machine ${median(b.machineCores).toFixed(2)} cores busy, RSS ${Math.round(median(b.rssMb))} MB${b.groupSize.length > 0 ? `, ${median(b.groupSize).toFixed(1)} requests per group commit` : ''}`,
      );
    }
    // Each VM takes one CPU: how full each SQLite service's fleet was at the end (the services are gone by now).
    for (const [url, n] of placedOn) {
      const name = serviceName.get(url) ?? url;
      if (name.startsWith('SQLite')) out.push(`${name}: ${Math.round(n).toLocaleString('en-US')} VMs placed over the runs, ${((100 * n) / fleetCpus).toFixed(0)}% of its fleet's CPUs`);
    }
    const one = bursts.get(PG_ONE);
    const two = bursts.get(PG_TWO);
    const oneTx = bursts.get(PG_ONE_TX);
    const twoTx = bursts.get(PG_TWO_TX);
    const goal = bursts.get(GOAL_CASE);
    const loop = bursts.get(LOOP_CASE);
    if (goal && loop) out.push(`SQLite, 8 clients: group commits written by the writer thread place ${(median(goal.perSecond) / median(loop.perSecond)).toFixed(2)}x what group commits on the event loop do`);
    const commit = bursts.get(COMMIT_CASE);
    if (goal && commit) out.push(`SQLite, 8 clients: answering at commit (--durability commit) places ${(median(commit.perSecond) / median(goal.perSecond)).toFixed(2)}x what waiting for the disk does`);
    if (one && oneTx) out.push(`PostgreSQL, 1 instance: group commits of placements in one statement place ${(median(one.perSecond) / median(oneTx.perSecond)).toFixed(2)}x what group commits as transactions do`);
    if (one && two) {
      // On this two-core machine the ratio is bounded by what one instance leaves idle.
      const busy = median(one.machineCores);
      out.push(
        `PostgreSQL: 2 instances place ${(median(two.perSecond) / median(one.perSecond)).toFixed(2)}x what 1 instance does (goal: 1.5x); with 1 instance the machine is ${busy.toFixed(2)} of its ${availableParallelism()} cores busy, with 2 ${median(two.machineCores).toFixed(2)}`,
      );
    }
    if (oneTx && twoTx) out.push(`PostgreSQL, group commits as transactions: 2 instances place ${(median(twoTx.perSecond) / median(oneTx.perSecond)).toFixed(2)}x what 1 instance does`);
    return out;
  },
  teardown: async () => {
    const all = [...services.values()].flat();
    for (const s of all) s.child.kill('SIGTERM');
    await Promise.all(all.map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
    services.clear();
    pg?.stop();
  },
};
