/**
 * Hostile and malformed requests against a real listening service (SQLite): wrong types, huge and
 * non-finite numbers, deep JSON, oversized bodies, wrong content types, missing and other tokens,
 * injection-looking names, random JSON (fast-check). Every answer must be 4xx, the service must
 * stay up, and the fleet must be exactly as before (hosts, generations, VMs, event log).
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topologyToJson } from '../src/core/topology/json.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { type RunningService, runService } from '../src/server/start.js';

const TOKEN = 'fuzz-token-abcdefgh';
let dir = '';
let svc: RunningService;

interface Sent {
  method: string;
  path: string;
  body?: string | Uint8Array;
  type?: string | null;
  auth?: string | null;
}

async function send(s: Sent): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  const auth = s.auth === undefined ? `Bearer ${TOKEN}` : s.auth;
  if (auth !== null) headers.authorization = auth;
  const type = s.type === undefined ? 'application/json' : s.type;
  if (type !== null && s.body !== undefined) headers['content-type'] = type;
  const res = await fetch(`${svc.url}${s.path}`, { method: s.method, headers, ...(s.body !== undefined ? { body: s.body } : {}) });
  return { status: res.status, text: await res.text() };
}

async function snapshot(): Promise<string> {
  const hosts = await svc.store.listHosts({ limit: 1000 });
  const vms = await svc.store.listVms({ limit: 1000 });
  const events = await svc.store.events({ limit: 100_000 });
  return JSON.stringify({ hosts: hosts.map((h) => [h.name, h.generation, h.freeCpus]), vms: vms.map((v) => [v.name, v.status]), events: events.length });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'numaplan-fuzz-'));
  svc = await runService({ data: dir, port: 0, token: TOKEN, sweepSeconds: 0 });
  const h = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  await fetch(`${svc.url}/api/v1/hosts/target`, { method: 'PUT', headers: h, body: JSON.stringify({ format: 'preset', topology: 'broadwell-2s' }) });
  await fetch(`${svc.url}/api/v1/vms`, { method: 'POST', headers: h, body: JSON.stringify({ vm: 'name=resident,vcpus=2,memory=2G' }) });
});

afterAll(async () => {
  await svc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;

/** broadwell-2s as a JSON host document, edited (into something no machine can be, or one that breaks the VM on it). */
function edited(edit: (doc: { nodes: { memory: { total: number; free: number }; hugePages: { pageSize: number; total: number; free: number }[] }[]; distances: number[][] }) => void): string {
  const doc = JSON.parse(topologyToJson(getPreset('broadwell-2s')?.build() as never));
  edit(doc);
  return JSON.stringify({ format: 'json', topology: doc });
}
const vm = (v: unknown): string => JSON.stringify({ vm: v });

const HOSTILE: Sent[] = [
  // Authentication.
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G'), auth: null },
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G'), auth: 'Bearer other-token-abcdefgh' },
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G'), auth: `Bearer ${TOKEN}x` },
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G'), auth: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` },
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G'), auth: 'Bearer' },
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G'), auth: `Bearer ${TOKEN} ${TOKEN}` },
  { method: 'DELETE', path: '/api/v1/vms/resident', auth: null },
  { method: 'DELETE', path: '/api/v1/vms/resident', auth: 'Bearer nope-nope-nope' },
  { method: 'PUT', path: '/api/v1/hosts/target', body: JSON.stringify({ format: 'preset', topology: 'ring-4s' }), auth: null },
  { method: 'DELETE', path: '/api/v1/hosts/target', auth: 'Bearer x' },
  { method: 'GET', path: '/api/v1/hosts', auth: null },
  { method: 'GET', path: '/metrics', auth: 'Bearer wrong-wrong' },
  // Content type and body shape.
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G'), type: 'text/plain' },
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G'), type: null },
  { method: 'POST', path: '/api/v1/vms', body: '' },
  { method: 'POST', path: '/api/v1/vms', body: '{"vm":' },
  { method: 'POST', path: '/api/v1/vms', body: 'null' },
  { method: 'POST', path: '/api/v1/vms', body: '[1,2,3]' },
  { method: 'POST', path: '/api/v1/vms', body: '"name=a,vcpus=1,memory=1G"' },
  { method: 'POST', path: '/api/v1/vms', body: new Uint8Array([0xff, 0xfe, 0x00, 0x7b]) },
  { method: 'POST', path: '/api/v1/vms', body: deep(100_000) },
  { method: 'POST', path: '/api/v1/vms', body: `{"vm":${deep(40)}}` },
  { method: 'PUT', path: '/api/v1/hosts/x', body: `{"topology":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}` },
  { method: 'POST', path: '/api/v1/vms', body: JSON.stringify({ vm: 'x'.repeat(200_000) }) },
  { method: 'PUT', path: '/api/v1/hosts/x', body: JSON.stringify({ format: 'numactl', topology: 'a'.repeat(9 * 1024 * 1024) }) },
  // Wrong types and ranges.
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: '4', memory: '1G' }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1e308, memory: '1G' }) },
  { method: 'POST', path: '/api/v1/vms', body: '{"vm":{"name":"a","vcpus":1e400,"memory":"1G"}}' },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 2 ** 63, memory: '1G' }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: -1, memory: '1G' }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1.5, memory: '1G' }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1, memory: 2 ** 60 }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1, memory: '99999999999999999999999T' }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1, memory: -4096 }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1, memory: '1G', cpus: [1e15] }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1, memory: '1G', devices: Array.from({ length: 5000 }, () => ({ kind: 'gpu' })) }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1, memory: '1G', nodes: [99999] }) },
  { method: 'POST', path: '/api/v1/vms', body: JSON.stringify({ vm: 'name=a,vcpus=1,memory=1G', ttlSeconds: 1e9, claim: true }) },
  { method: 'POST', path: '/api/v1/vms', body: JSON.stringify({ vm: 'name=a,vcpus=1,memory=1G', claim: 'yes' }) },
  { method: 'POST', path: '/api/v1/vms', body: JSON.stringify({ vm: 'name=a,vcpus=1,memory=1G', host: ['target'] }) },
  { method: 'POST', path: '/api/v1/vms', body: JSON.stringify({ vm: 'name=a,vcpus=1,memory=1G', policy: 'rm -rf /' }) },
  { method: 'POST', path: '/api/v1/vms', body: JSON.stringify({ vm: 'name=a,vcpus=1,memory=1G', __proto__: { admin: true }, extra: 1 }) },
  { method: 'POST', path: '/api/v1/vms', body: '{"vm":"name=a,vcpus=1,memory=1G","constructor":{"prototype":{"x":1}}}' },
  // Oversized lists: refused before they are expanded.
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G,cpus=0-4194304') },
  { method: 'POST', path: '/api/v1/explain', body: vm('name=a,vcpus=1,memory=1G,cpus=0-4194304') },
  { method: 'POST', path: '/api/v1/vms', body: vm('name=a,vcpus=1,memory=1G,nodes=0-4194304') },
  { method: 'POST', path: '/api/v1/vms', body: vm(`name=a,vcpus=2,memory=1G,cpus=${Array.from({ length: 300 }, () => '0-65535').join(',')}`.slice(0, 4000).replace(/,[^,]*$/, '')) },
  { method: 'POST', path: '/api/v1/vms', body: vm(`name=a,vcpus=1,memory=1G,devices=${Array.from({ length: 200 }, () => 'gpu:1').join('+')}`) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1, memory: '1G', nodes: Array.from({ length: 2000 }, (_, i) => i) }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'a', vcpus: 1, memory: '1G', devices: Array.from({ length: 8 }, () => ({ kind: 'vf', count: 64 })) }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ format: 'numactl', topology: 'available: 1 nodes (0)\nnode 0 cpus: 0-4194303\nnode 0 size: 1 MB\nnode 0 free: 1 MB\n' }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ format: 'hwloc-xml', topology: `<topology><object type="Machine" os_index="0" cpuset="${Array.from({ length: 3000 }, () => '0xffffffff').join(',')}"/></topology>` }) },
  // Topologies no machine can have.
  { method: 'PUT', path: '/api/v1/hosts/imp', body: edited((d) => ((d.nodes[1] as { memory: object }).memory = { total: 1, free: 1 })) },
  { method: 'PUT', path: '/api/v1/hosts/imp', body: edited((d) => ((d.nodes[0] as { hugePages: object[] }).hugePages = [{ pageSize: 3, total: 8, free: 8 }])) },
  { method: 'PUT', path: '/api/v1/hosts/imp', body: edited((d) => ((d.nodes[0] as { memory: { free: number; total: number } }).memory.free = 2 ** 50)) },
  { method: 'PUT', path: '/api/v1/hosts/imp', body: edited((d) => ((d.distances[0] as number[])[1] = 0)) },
  { method: 'PUT', path: '/api/v1/hosts/imp', body: edited((d) => ((d.distances[1] as number[])[0] = 3)) },
  { method: 'PUT', path: '/api/v1/hosts/target', body: edited((d) => ((d.nodes[1] as { memory: object }).memory = { total: 1, free: 1 })) },
  // Host updates that would break the VM on the host (refused: 409, nothing changes).
  { method: 'PUT', path: '/api/v1/hosts/target', body: JSON.stringify({ format: 'preset', topology: 'broadwell-2s', reserve: { cpus: Array.from({ length: 40 }, (_, i) => i) } }) },
  { method: 'PUT', path: '/api/v1/hosts/target', body: edited((d) => (d as unknown as { pus: { allowed: boolean }[] }).pus.forEach((p) => (p.allowed = false))) },
  { method: 'PUT', path: '/api/v1/hosts/target', body: edited((d) => d.nodes.forEach((n) => Object.assign(n, { memory: { total: 4096, free: 4096 }, hugePages: [] }))) },
  { method: 'PUT', path: '/api/v1/hosts/target', body: edited((d) => (d as unknown as { pus: { online: boolean }[] }).pus.forEach((p) => (p.online = false))) },
  { method: 'PUT', path: '/api/v1/hosts/target?accept=all', body: JSON.stringify({ format: 'preset', topology: 'broadwell-2s' }) },
  { method: 'PUT', path: '/api/v1/hosts/target', body: JSON.stringify({ format: 'preset', topology: 'broadwell-2s', accept: ['displace'] }) },
  { method: 'GET', path: '/api/v1/vms?displaced=maybe' },
  // Names.
  { method: 'POST', path: '/api/v1/vms', body: vm("name=a'; drop table vms; --,vcpus=1,memory=1G") },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: "x' OR '1'='1", vcpus: 1, memory: '1G' }) },
  { method: 'POST', path: '/api/v1/vms', body: vm({ name: 'résident', vcpus: 1, memory: '1G' }) },
  { method: 'POST', path: '/api/v1/vms', body: vm('name=resident,vcpus=1,memory=1G') },
  { method: 'PUT', path: '/api/v1/hosts/..%2F..%2Fetc', body: JSON.stringify({ format: 'preset', topology: 'ring-4s' }) },
  { method: 'PUT', path: `/api/v1/hosts/${'h'.repeat(300)}`, body: JSON.stringify({ format: 'preset', topology: 'ring-4s' }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ format: 'json', topology: { source: 'x', nodes: [{ id: -1 }] } }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ format: 'hwloc-xml', topology: '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><topology>&b;</topology>' }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ format: 'numactl', topology: 'available: 99999999 nodes (0-99999998)\n' }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ format: 'preset', topology: 'broadwell-2s', reserve: { cpus: [-1] } }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ format: 'preset', topology: 'broadwell-2s', reserve: { cpus: [9999] } }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ format: 'preset', topology: 'broadwell-2s', reserve: { memory: 1e300 } }) },
  { method: 'PUT', path: '/api/v1/hosts/y', body: JSON.stringify({ topology: 42 }) },
  // Queries and paths.
  { method: 'GET', path: '/api/v1/hosts?limit=-1' },
  { method: 'GET', path: '/api/v1/hosts?limit=100000000000000000000' },
  { method: 'GET', path: `/api/v1/hosts?after=${'z'.repeat(500)}` },
  { method: 'GET', path: '/api/v1/events?after=abc' },
  { method: 'GET', path: '/api/v1/vms/resident/emit?format=../../etc/passwd' },
  { method: 'GET', path: '/api/v1/vms/resident/emit' },
  { method: 'GET', path: '/api/v1/vms/%00' },
  { method: 'GET', path: '/api/v1/nothing' },
  { method: 'PATCH', path: '/api/v1/vms/resident', body: '{}' },
  { method: 'POST', path: '/api/v1/vms/ghost/commit' },
  { method: 'DELETE', path: '/api/v1/vms/ghost' },
  { method: 'POST', path: '/api/v1/explain', body: vm({ name: 'a' }) },
  { method: 'POST', path: '/api/v1/explain', body: JSON.stringify({ vm: 'name=a,vcpus=1,memory=1G', host: 'ghost' }) },
];

describe('hostile requests', () => {
  it('get only 4xx, the service stays up, and nothing changes', async () => {
    const before = await snapshot();
    const failures: string[] = [];
    for (const s of HOSTILE) {
      const r = await send(s);
      if (r.status < 400 || r.status >= 500) failures.push(`${s.method} ${s.path.slice(0, 60)} ${String(s.body ?? '').slice(0, 60)} -> ${r.status} ${r.text.slice(0, 120)}`);
      else {
        const j = JSON.parse(r.text) as { error?: { code?: string; message?: string } };
        if (!j.error?.code?.startsWith('ERR_') || typeof j.error.message !== 'string') failures.push(`${s.method} ${s.path}: error body ${r.text.slice(0, 100)}`);
      }
    }
    expect(failures).toEqual([]);
    expect((await send({ method: 'GET', path: '/health', auth: null })).status).toBe(200);
    expect(await snapshot()).toBe(before);
  });

  it('random JSON bodies get 4xx and change nothing (property)', async () => {
    const before = await snapshot();
    const bodies = fc.oneof(
      fc.jsonValue().map((v) => ({ vm: v })),
      fc.record({ vm: fc.record({ name: fc.string(), vcpus: fc.oneof(fc.integer(), fc.double(), fc.string()), memory: fc.oneof(fc.integer(), fc.string(), fc.constant(null)) }, { requiredKeys: [] }) }),
      fc.dictionary(fc.string(), fc.jsonValue()),
    );
    await fc.assert(
      fc.asyncProperty(bodies, fc.constantFrom('/api/v1/vms', '/api/v1/explain', '/api/v1/hosts/fz'), async (body, path) => {
        const r = await send({ method: path.includes('hosts') ? 'PUT' : 'POST', path, body: JSON.stringify(body) });
        return r.status >= 400 && r.status < 500;
      }),
      { numRuns: 150 },
    );
    expect(await snapshot()).toBe(before);
    const m = await send({ method: 'GET', path: '/metrics' });
    expect(m.text).not.toMatch(/numaplan_http_requests_total\{code="5\d\d"\}/);
  });
});
