/**
 * No request may stall the service: while clients keep sending the slowest valid-looking requests
 * that can be built (huge cpulist and node ranges, long device lists, host documents that expand to
 * millions of CPUs or carry many devices with long local CPU lists, a large hwloc XML, explain with
 * the slowest peer policy on a wide host), `/health` must keep answering. The service runs in its own
 * process, so the probes measure its event loop, not the test's.
 *
 * The assertion is on the median of a fixed number of probes, each driven to completion, with every
 * attacker request also driven to completion (none may answer 5xx): no time window, no count of what
 * fits in one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topologyToHwlocXml } from '../src/adapters/hwloc-xml/export.js';
import { topologyToJson } from '../src/core/topology/json.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { REPO_ROOT } from './support/data.js';

const TOKEN = 'latency-token-0123456';
const PROBES = 60;
const ROUNDS = 2;
let dir = '';
let child: ChildProcess | null = null;
let url = '';
/** What the service wrote to stderr (shown when a request fails). */
let childErr = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'numaplan-latency-'));
  child = spawn(process.execPath, ['--import', 'tsx', join('src', 'server', 'process-main.ts'), '--data', dir, '--port', '0', '--token', TOKEN, '--sweep', '0'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    childErr = err.slice(-4000);
  });
  url = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child?.stdout as NodeJS.ReadableStream });
    rl.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    child?.once('exit', (code) => reject(new Error(`service exited (${code}): ${err}`)));
  });
  for (const [name, preset] of [
    ['wide', 'xeon-8s'],
    ['nps4', 'epyc-2s-nps4'],
  ]) {
    const r = await call('PUT', `/api/v1/hosts/${name}`, JSON.stringify({ format: 'preset', topology: preset }));
    expect(r.status).toBe(201);
  }
}, 120_000);

afterAll(() => {
  child?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  return { status: res.status, text: await res.text() };
}

/** The attacks, built before any probe runs (building them must not delay the probes). */
function attacks(): { name: string; method: string; path: string; body: string }[] {
  const vm = (spec: string): string => JSON.stringify({ vm: spec });
  const manyRanges = `name=a,vcpus=1,memory=1G,cpus=${Array.from({ length: 400 }, () => '0-4194303').join(',')}`.slice(0, 4096).replace(/,[^,]*$/, '');
  const devices = `name=d,vcpus=1,memory=1G,devices=${Array.from({ length: 600 }, () => 'rdma-vf:64:required').join('+')}`.slice(0, 4096).replace(/\+[^+]*$/, '');
  const numactlHuge = ['available: 1 nodes (0)', 'node 0 cpus: 0-4194303', 'node 0 size: 1024 MB', 'node 0 free: 1024 MB', 'node distances:', 'node 0', '  0: 10', ''].join('\n');
  const numactlMany = [
    'available: 1024 nodes (0-1023)',
    ...Array.from({ length: 1024 }, (_, i) => `node ${i} cpus: ${i * 4096}-${i * 4096 + 4095}\nnode ${i} size: 1024 MB\nnode ${i} free: 1024 MB`),
    '',
  ].join('\n');
  // Many devices whose local CPU lists are long (device locality is inferred from them).
  const base = syntheticTopology({ source: 'devs', packages: 2, nodesPerPackage: 8, coresPerNode: 32, threadsPerCore: 2, memoryPerNode: 64 * 1024 ** 3 });
  const all = base.pus.map((p) => p.os);
  const doc = JSON.parse(topologyToJson(base)) as { pciDevices: unknown[] };
  doc.pciDevices = Array.from({ length: 1200 }, (_, i) => ({
    address: `0000:${(i >> 8).toString(16).padStart(2, '0')}:${((i >> 3) & 31).toString(16).padStart(2, '0')}.${i & 7}`,
    class: 'nic',
    classCode: 0x020000,
    vendorId: 0x15b3,
    deviceId: 0x1017,
    name: null,
    node: null,
    localCpus: all,
    inferredNode: null,
    sriov: null,
    physfn: null,
    rdmaDevices: [],
    netDevices: [],
  }));
  const bigXml = topologyToHwlocXml(syntheticTopology({ source: 'big', packages: 4, nodesPerPackage: 4, coresPerNode: 64, threadsPerCore: 2, memoryPerNode: 64 * 1024 ** 3 }));
  const wideJson = topologyToJson(syntheticTopology({ source: 'wide-json', packages: 4, nodesPerPackage: 8, coresPerNode: 256, threadsPerCore: 2, memoryPerNode: 64 * 1024 ** 3 }));
  const out = [
    { name: 'cpus range', method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G,cpus=0-4194304') },
    { name: 'nodes range', method: 'POST', path: '/api/v1/explain', body: vm('name=a,vcpus=1,memory=1G,nodes=0-4194304') },
    { name: 'many cpus ranges', method: 'POST', path: '/api/v1/explain', body: vm(manyRanges) },
    { name: 'long device list', method: 'POST', path: '/api/v1/explain', body: vm(devices) },
    { name: 'wide VM, slowest peer policy', method: 'POST', path: '/api/v1/explain', body: JSON.stringify({ vm: 'name=w,vcpus=200,memory=300G', host: 'wide', policy: 'nova-spread' }) },
    { name: 'numactl text naming 4M CPUs', method: 'PUT', path: '/api/v1/hosts/huge', body: JSON.stringify({ format: 'numactl', topology: numactlHuge }) },
    { name: 'numactl text, 1024 nodes x 4096 CPUs', method: 'PUT', path: '/api/v1/hosts/many', body: JSON.stringify({ format: 'numactl', topology: numactlMany }) },
    { name: 'devices with long local CPU lists', method: 'PUT', path: '/api/v1/hosts/devs', body: JSON.stringify({ format: 'json', topology: doc }) },
    { name: 'a 16,384-PU host as JSON', method: 'PUT', path: '/api/v1/hosts/widejson', body: JSON.stringify({ format: 'json', topology: wideJson }) },
    { name: 'large hwloc XML', method: 'PUT', path: '/api/v1/hosts/xml', body: JSON.stringify({ format: 'hwloc-xml', topology: bigXml }) },
  ];
  // Every body within the service's limits (8 MiB for hosts, 64 KiB otherwise): valid-looking.
  for (const a of out) expect(Buffer.byteLength(a.body), a.name).toBeLessThan(a.method === 'PUT' ? 8 * 1024 * 1024 : 64 * 1024);
  return out;
}

describe('the service under the slowest requests', () => {
  it('keeps /health answering (median under 100 ms) while they run', async () => {
    const list = attacks();
    const answered = new Map<string, number[]>();
    const serverErrors: string[] = [];
    let running = 0;
    // Each attacker sends every attack ROUNDS times, each request driven to completion.
    const attacker = async (k: number): Promise<void> => {
      running++;
      try {
        for (let i = k; i < k + ROUNDS * list.length; i++) {
          const a = list[i % list.length] as (typeof list)[number];
          let r: { status: number; text: string };
          try {
            r = await call(a.method, a.path, a.body);
          } catch (err) {
            serverErrors.push(`${a.name}: ${(err as Error).message} (${String((err as { cause?: unknown }).cause)}); service stderr: ${childErr}`);
            continue;
          }
          if (r.status >= 500) serverErrors.push(`${a.name}: ${r.status} ${r.text.slice(0, 200)}`);
          answered.set(a.name, [...(answered.get(a.name) ?? []), r.status]);
        }
      } finally {
        running--;
      }
    };
    const attackers = Promise.all(Array.from({ length: 3 }, (_, k) => attacker(k * 3)));
    // Probe for as long as the attack lasts (and at least PROBES times), one probe at a time.
    const times: number[] = [];
    while (running > 0 || times.length < PROBES) {
      const t0 = performance.now();
      const r = await fetch(`${url}/health`).catch((err: unknown) => {
        throw new Error(`/health failed: ${String(err)}; service stderr: ${childErr}`);
      });
      await r.text();
      times.push(performance.now() - t0);
      expect(r.status).toBe(200);
      await new Promise((res) => setTimeout(res, 10));
    }
    await attackers;
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] as number;
    console.log(
      `/health under attack: median ${median.toFixed(1)} ms, max ${(times[times.length - 1] as number).toFixed(1)} ms, p90 ${(times[Math.floor(times.length * 0.9)] as number).toFixed(1)} ms over ${times.length} probes; ` +
        `attacks answered: ${[...answered].map(([n, s]) => `${n} ${s.length}x ${[...new Set(s)].join('/')}`).join('; ')}`,
    );
    expect(serverErrors).toEqual([]);
    // Every attack was answered every time it was sent (3 attackers x ROUNDS).
    for (const a of list) expect(answered.get(a.name)?.length, a.name).toBe(3 * ROUNDS);
    expect(median).toBeLessThan(100);
  }, 600_000);
});
