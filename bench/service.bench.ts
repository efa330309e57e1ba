/**
 * The fleet service through HTTP: placement requests per second and latency percentiles with
 * 10,000 hosts registered (two-node hosts, 8 cores x 2 threads and 64 GiB per node, 2M pools), on
 * SQLite (file, synchronous=FULL) and on PostgreSQL (a throwaway local server, fsync off: this
 * measures the service, not the disk).
 *
 * Each backend gets one service process (`src/server/process-main.ts`, the code `numaplan serve`
 * runs) and this process is the client, over loopback:
 *   place 1 client     one POST /api/v1/vms (1 vCPU, 1 GiB, committed) per sample: the p95 column is
 *                      the per-request 95th percentile; requests/s = 1000 / median ms;
 *   place 8 parallel   eight concurrent POSTs per call: requests/s = 8000 / median ms;
 *   explain            one POST /api/v1/explain (decision only, nothing written).
 * The hosts are written straight into the store in setup (same rows the API would write) so that
 * setup takes seconds, not minutes; `--quick` registers 500.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createHostState } from '../src/core/placement/state.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { hostStats } from '../src/store/host-change.js';
import { openStore } from '../src/store/open.js';
import { type PgServer, startPostgres } from '../test/support/postgres.js';
import type { BenchCase, BenchSuite } from './lib/types.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const TOKEN = 'bench-token-0123456789';
const G = 1024 ** 3;
const HOSTS = 10_000;
const QUICK_HOSTS = 500;

interface Backend {
  name: string;
  url: string;
  child: ChildProcess;
}

const backends: Backend[] = [];
let pg: PgServer | null = null;
let pgReason: string | null = null;
let seq = 0;

async function register(db: string, data: string, hosts: number): Promise<void> {
  const topo = syntheticTopology({
    source: 'bench-2n',
    packages: 2,
    nodesPerPackage: 1,
    coresPerNode: 8,
    threadsPerCore: 2,
    memoryPerNode: 64 * G,
    hugePages: [{ pageSize: 2 * 1024 ** 2, total: 4096, free: 4096 }],
  });
  const state = createHostState(topo);
  const stats = hostStats(state);
  const topology = JSON.stringify(topo);
  const reserve = JSON.stringify(state.reserve);
  const store = await openStore(db, data);
  try {
    const width = store.kind === 'postgres' ? 16 : 1;
    for (let i = 0; i < hosts; i += width) {
      const batch = [];
      for (let k = i; k < Math.min(hosts, i + width); k++) {
        const name = `host-${String(k).padStart(5, '0')}`;
        batch.push(store.putHost({ name, source: topo.source, topology, reserve, stats, expectedGeneration: null, topologyChanged: true, now: Date.now(), events: [] }));
      }
      await Promise.all(batch);
    }
  } finally {
    await store.close();
  }
}

function startService(db: string, data: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join('src', 'server', 'process-main.ts'), '--db', db, '--data', data, '--port', '0', '--token', TOKEN], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (l) => resolve({ url: (JSON.parse(l) as { url: string }).url, child }));
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
}

async function post(url: string, path: string, body: unknown, want: number): Promise<void> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== want) throw new Error(`${path}: ${res.status} ${text.slice(0, 200)}`);
}

const placeOne = (url: string): Promise<void> => post(url, '/api/v1/vms', { vm: `name=b${++seq},vcpus=1,memory=1G` }, 201);

/** The suite `npm run bench` finds. */
export const suite: BenchSuite = {
  name: 'service',
  description: 'fleet service over HTTP with 10,000 hosts: placement latency (1 client) and throughput (8 parallel), SQLite and PostgreSQL',
  runs: 60,
  setup: async (ctx) => {
    const hosts = ctx.quick ? QUICK_HOSTS : HOSTS;
    const sqliteData = ctx.tmpdir('bench-sqlite-');
    const sqliteDb = `sqlite:${join(sqliteData, 'fleet.db')}`;
    ctx.log(`service: registering ${hosts} hosts in SQLite`);
    await register(sqliteDb, sqliteData, hosts);
    const s = await startService(sqliteDb, sqliteData);
    backends.push({ name: 'sqlite', ...s });
    try {
      pg = await startPostgres();
    } catch (err) {
      pgReason = (err as Error).message;
    }
    if (pg) {
      const db = await pg.createDatabase('bench');
      ctx.log(`service: registering ${hosts} hosts in PostgreSQL`);
      await register(db, sqliteData, hosts);
      const p = await startService(db, sqliteData);
      backends.push({ name: 'postgres', ...p });
    } else pgReason ??= 'PostgreSQL server binaries not installed';
  },
  cases: () => {
    const cases: BenchCase[] = [];
    for (const name of ['sqlite', 'postgres']) {
      const b = (): Backend => {
        const found = backends.find((x) => x.name === name);
        if (!found) throw new Error(pgReason ?? `${name} not started`);
        return found;
      };
      const unavailable = (): string | null => (backends.some((x) => x.name === name) ? null : (pgReason ?? 'not started'));
      cases.push(
        { name: `place 1 client ${name}`, process: true, unavailable, run: () => placeOne(b().url) },
        { name: `place 8 parallel ${name}`, process: true, unavailable, run: () => Promise.all(Array.from({ length: 8 }, () => placeOne(b().url))) },
        { name: `explain ${name}`, process: true, unavailable, run: () => post(b().url, '/api/v1/explain', { vm: 'name=probe,vcpus=4,memory=8G' }, 200) },
      );
    }
    return cases;
  },
  teardown: async () => {
    for (const b of backends) b.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    backends.length = 0;
    pg?.stop();
  },
};
