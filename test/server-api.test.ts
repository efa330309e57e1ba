/**
 * The HTTP API end to end, in process (hono's app.request) over a SQLite store: host registration
 * in every source format, placement with host choice and on a given host, claim/commit/release,
 * claim expiry, explain, emit, summary, events, metrics, auth (open reads), and that every path of
 * the OpenAPI document answers.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { topologyToHwlocXml } from '../src/adapters/hwloc-xml/export.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { topologyToJson } from '../src/core/topology/json.js';
import { createApp } from '../src/server/app.js';
import { OPENAPI_DOCUMENT } from '../src/server/openapi.js';
import { checkStore } from '../src/store/invariants.js';
import { type ApiReply, callApp, useService } from './support/service-app.js';

const TOKEN = 'test-token-0123456789';
let now = 1_000_000;
const api = useService('test', TOKEN, { clock: () => now });
/** A second app over the same service, with open reads. */
let openApp: ReturnType<typeof createApp>;

function call(method: string, path: string, body?: unknown, token: string | null = TOKEN, a = api.app): Promise<ApiReply> {
  return callApp(a, method, path, body, token);
}

beforeAll(() => {
  openApp = createApp({ service: api.service, token: TOKEN, openReads: true, web: false });
});

describe('fleet API', () => {
  it('registers hosts from numaplan JSON, hwloc XML, numactl text and presets', async () => {
    const nps4 = getPreset('epyc-2s-nps4')?.build();
    const snc2 = getPreset('xeon-2s-snc2')?.build();
    if (!nps4 || !snc2) throw new Error('presets missing');
    let r = await call('PUT', '/api/v1/hosts/epyc', { format: 'json', topology: JSON.parse(topologyToJson(nps4)) });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ created: true, changed: true, host: { name: 'epyc', nodes: 8, generation: 1 } });
    // Same topology again (an agent's periodic post): no change, generation kept.
    r = await call('PUT', '/api/v1/hosts/epyc', { topology: topologyToJson(nps4) });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ created: false, changed: false, host: { generation: 1 } });
    r = await call('PUT', '/api/v1/hosts/xeon', { format: 'hwloc-xml', topology: topologyToHwlocXml(snc2) });
    expect(r.status).toBe(201);
    expect(r.json.host.nodes).toBe(4);
    const numactl = [
      'available: 2 nodes (0-1)',
      'node 0 cpus: 0 1 2 3',
      'node 0 size: 16000 MB',
      'node 0 free: 15000 MB',
      'node 1 cpus: 4 5 6 7',
      'node 1 size: 16000 MB',
      'node 1 free: 15000 MB',
      'node distances:',
      'node   0   1 ',
      '  0:  10  21 ',
      '  1:  21  10 ',
      '',
    ].join('\n');
    r = await call('PUT', '/api/v1/hosts/small', { format: 'numactl', topology: numactl });
    expect(r.status).toBe(201);
    r = await call('PUT', '/api/v1/hosts/gh', { format: 'preset', topology: 'gh200-2s' });
    expect(r.status).toBe(201);
    r = await call('GET', '/api/v1/hosts');
    expect(r.json.hosts.map((h: { name: string }) => h.name)).toEqual(['epyc', 'gh', 'small', 'xeon']);
    r = await call('GET', '/api/v1/hosts/xeon');
    expect(r.status).toBe(200);
    expect(r.json.capacity).toHaveLength(4);
    expect(r.json.topology.nodes).toHaveLength(4);
    expect(Object.values(r.json.cpuOwner)).toContain('host reserve');
  });

  it('rejects bad topologies with 400 and a field', async () => {
    let r = await call('PUT', '/api/v1/hosts/bad', { format: 'hwloc-xml', topology: '<topology><object type="Machine"' });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('ERR_TOPOLOGY');
    r = await call('PUT', '/api/v1/hosts/bad', { format: 'json', topology: { nodes: 'x' } });
    expect(r.status).toBe(400);
    expect(r.json.error.field).toMatch(/^topology/);
    r = await call('PUT', '/api/v1/hosts/bad', { format: 'zip', topology: 'x' });
    expect(r.json.error).toMatchObject({ code: 'ERR_FORMAT', field: 'format' });
    r = await call('PUT', '/api/v1/hosts/bad', { format: 'preset', topology: 'no-such-machine' });
    expect(r.status).toBe(400);
    r = await call('PUT', '/api/v1/hosts/bad%20name', { format: 'preset', topology: 'ring-4s' });
    expect(r.json.error).toMatchObject({ code: 'ERR_FIELD', field: 'host' });
    expect((await call('GET', '/api/v1/hosts/bad')).status).toBe(404);
  });

  it('places VMs: the service picks the host, or a given host; names are unique', async () => {
    let r = await call('POST', '/api/v1/vms', { vm: { name: 'db1', vcpus: 8, memory: '16G' } });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ ok: true, status: 'committed', expiresAt: null });
    expect(r.json.placement.cpus).toHaveLength(8);
    expect(r.json.placement.explanation.summary).toContain('db1');
    r = await call('POST', '/api/v1/vms', { vm: 'name=web1,vcpus=4,memory=8G', host: 'xeon' });
    expect(r.status).toBe(201);
    expect(r.json.host).toBe('xeon');
    r = await call('POST', '/api/v1/vms', { vm: 'name=web1,vcpus=4,memory=8G' });
    expect(r.status).toBe(409);
    expect(r.json.error).toMatchObject({ code: 'ERR_NAME_TAKEN', field: 'vm.name' });
    r = await call('POST', '/api/v1/vms', { vm: 'name=x,vcpus=4,memory=8G', host: 'nope' });
    expect(r.json.error).toMatchObject({ code: 'ERR_UNKNOWN_HOST', field: 'host' });
    expect(r.status).toBe(404);
    // Does not fit anywhere: a result with reasons, not an error.
    r = await call('POST', '/api/v1/vms', { vm: 'name=huge,vcpus=4096,memory=8G' });
    expect(r.status).toBe(200);
    expect(r.json.ok).toBe(false);
    expect(r.json.reasons[0].resource).toBe('hosts');
    r = await call('POST', '/api/v1/vms', { vm: 'name=strict,vcpus=60,memory=8G,numa=strict', host: 'small' });
    expect(r.json.ok).toBe(false);
    expect(r.json.reasons.length).toBeGreaterThan(0);
    expect(r.json.reasons[0].host).toBe('small');
    r = await call('GET', '/api/v1/vms/db1');
    expect(r.json).toMatchObject({ name: 'db1', status: 'committed' });
    expect(r.json.placement.explanation).toBeDefined();
    // The answer's text is built around the placement's text (serialised once for its row too): it is
    // what JSON.stringify writes of the answer, fields in order, and the placement is the one stored.
    r = await call('POST', '/api/v1/vms', { vm: 'name=text1,vcpus=2,memory=2G', claim: true });
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.text).toBe(JSON.stringify(r.json));
    expect(Object.keys(r.json)).toEqual(['ok', 'host', 'status', 'expiresAt', 'generation', 'placement', 'hostsConsidered']);
    expect((await call('GET', '/api/v1/vms/text1')).json.placement).toEqual(r.json.placement);
    expect((await call('DELETE', '/api/v1/vms/text1')).status).toBe(200);
    r = await call('GET', '/api/v1/vms?host=xeon');
    expect(r.json.vms.map((v: { name: string }) => v.name)).toEqual(['web1']);
  });

  it('places a gang request (GPU-NIC pairs) on an 8-GPU host and says why one does not fit', async () => {
    let r = await call('PUT', '/api/v1/hosts/dgx', { format: 'preset', topology: 'dgx-h100' });
    expect(r.status).toBeLessThan(300);
    r = await call('POST', '/api/v1/vms', { vm: { name: 'train1', vcpus: 16, memory: '64G', devices: [{ kind: 'gpu', count: 4 }, { kind: 'rdma', count: 4 }], pairing: 'switch' }, host: 'dgx' });
    expect(r.status).toBe(201);
    const gpus = r.json.placement.devices.filter((d: { kind: string }) => d.kind === 'gpu');
    expect(gpus.map((d: { pairedWith: { link: string } }) => d.pairedWith.link)).toEqual(['PIX', 'PIX', 'PIX', 'PIX']);
    r = await call('POST', '/api/v1/vms', { vm: 'name=train2,vcpus=4,memory=8G,devices=gpu:1+rdma-vf:1,pairing=switch', host: 'dgx' });
    expect(r.status).toBe(200);
    expect(r.json.ok).toBe(false);
    expect(r.json.reasons.map((x: { resource: string }) => x.resource)).toContain('device-pairs:switch');
    r = await call('POST', '/api/v1/vms', { vm: 'name=train3,vcpus=4,memory=8G,devices=gpu:1+rdma:2,pairing=switch', host: 'dgx' });
    expect(r.status).toBe(400);
    expect(r.json.error.field).toContain('pairing');
    expect((await call('DELETE', '/api/v1/vms/train1')).status).toBe(200);
    expect((await call('DELETE', '/api/v1/hosts/dgx')).status).toBe(200);
  });

  it('claims, commits, releases, and lets claims lapse', async () => {
    let r = await call('POST', '/api/v1/vms', { vm: 'name=c1,vcpus=2,memory=2G', host: 'epyc', claim: true, ttlSeconds: 30 });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ status: 'claimed', expiresAt: now + 30_000 });
    r = await call('POST', '/api/v1/vms/c1/commit');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'committed', expiresAt: null });
    r = await call('POST', '/api/v1/vms', { vm: 'name=c2,vcpus=2,memory=2G', host: 'epyc', claim: true, ttlSeconds: 10 });
    const cpus = r.json.placement.cpus;
    let m = await call('GET', '/metrics');
    expect(m.text).toMatch(/numaplan_claims_in_flight 1/);
    // Every write so far went through group commits: as many transactions as groups, each of one request or more.
    const groups = Number(/^numaplan_store_group_commits_total (\d+)$/m.exec(m.text)?.[1]);
    const grouped = Number(/^numaplan_store_group_commit_requests_total (\d+)$/m.exec(m.text)?.[1]);
    expect(groups).toBeGreaterThan(0);
    expect(grouped).toBeGreaterThanOrEqual(groups);
    now += 11_000;
    r = await call('POST', '/api/v1/vms/c2/commit');
    expect(r.status).toBe(409);
    expect(r.json.error.code).toBe('ERR_CLAIM_EXPIRED');
    expect((await call('GET', '/api/v1/vms/c2')).status).toBe(404);
    m = await call('GET', '/metrics');
    expect(m.text).toMatch(/numaplan_claims_in_flight 0/);
    // The lapsed claim's CPUs are free again: a VM pinned to them fits.
    r = await call('POST', '/api/v1/vms', { vm: { name: 'pinned', vcpus: 2, memory: '2G', cpus }, host: 'epyc' });
    expect(r.status).toBe(201);
    const events = await call('GET', '/api/v1/events?limit=1000');
    expect(events.json.events.some((e: { kind: string; vm: string }) => e.kind === 'expire' && e.vm === 'c2')).toBe(true);
    r = await call('DELETE', '/api/v1/vms/pinned');
    expect(r.json).toMatchObject({ ok: true, released: 'pinned', host: 'epyc' });
    expect((await call('DELETE', '/api/v1/vms/pinned')).status).toBe(404);
    expect((await call('POST', '/api/v1/vms/nope/commit')).status).toBe(404);
  });

  it('explains without recording, and emits configurations', async () => {
    const before = (await call('GET', '/api/v1/summary')).json;
    let r = await call('POST', '/api/v1/explain', { vm: 'name=probe,vcpus=4,memory=4G' });
    expect(r.status).toBe(200);
    expect(r.json.ok).toBe(true);
    expect(r.json.candidates.length).toBeGreaterThan(1);
    expect(r.json.placement.explanation.summary).toContain('probe');
    expect((await call('GET', '/api/v1/summary')).json.vms).toEqual(before.vms);
    for (const format of ['libvirt', 'qemu', 'xl', 'cloud-hypervisor', 'numactl']) {
      r = await call('GET', `/api/v1/vms/db1/emit?format=${format}`);
      expect(r.status, format).toBe(200);
      expect(r.json.text.length).toBeGreaterThan(10);
    }
    r = await call('GET', '/api/v1/vms/db1/emit?format=libvirt&mode=fragment');
    expect(r.json.text).toContain('<cputune');
    r = await call('GET', '/api/v1/vms/db1/emit?format=vmware');
    expect(r.json.error).toMatchObject({ code: 'ERR_FIELD', field: 'format' });
  });

  it('answers the fleet summary, policies, health and the OpenAPI document', async () => {
    const s = await call('GET', '/api/v1/summary');
    expect(s.json).toMatchObject({ hosts: 4, store: 'sqlite' });
    expect(s.json.vms.committed).toBeGreaterThanOrEqual(3);
    expect(s.json.cpus.free).toBeLessThan(s.json.cpus.total);
    expect((await call('GET', '/api/v1/policies')).json.policies[0].name).toBe('numaplan');
    expect((await call('GET', '/health', undefined, null)).json).toMatchObject({ ok: true, store: 'sqlite' });
    const doc = await call('GET', '/openapi.json', undefined, null);
    expect(doc.json.openapi).toBe('3.1.0');
    // Every documented path answers something other than "no route".
    for (const [path, ops] of Object.entries(OPENAPI_DOCUMENT.paths)) {
      const concrete = path.replace('{host}', 'epyc').replace('{vm}', 'db1');
      for (const method of Object.keys(ops).filter((k) => k !== 'parameters')) {
        if (method === 'delete' || method === 'put') continue;
        const r = await call(method.toUpperCase(), concrete, method === 'post' ? {} : undefined);
        expect(r.json?.error?.code, `${method} ${path}`).not.toBe('ERR_NOT_FOUND');
      }
    }
  });

  it('needs the token for writes and reads unless reads are open', async () => {
    expect((await call('GET', '/api/v1/hosts', undefined, null)).status).toBe(401);
    expect((await call('GET', '/api/v1/hosts', undefined, 'wrong-token-xxxx')).status).toBe(403);
    expect((await call('GET', '/metrics', undefined, null)).status).toBe(401);
    expect((await call('GET', '/api/v1/hosts', undefined, null, openApp)).status).toBe(200);
    expect((await call('GET', '/metrics', undefined, null, openApp)).status).toBe(200);
    const w = await call('POST', '/api/v1/vms', { vm: 'name=z,vcpus=1,memory=1G' }, null, openApp);
    expect(w.status).toBe(401);
    expect(w.json.error).toMatchObject({ code: 'ERR_UNAUTHORIZED', field: 'authorization' });
  });

  it('refuses to drop a host topology that live VMs sit on, and removes only empty hosts', async () => {
    const ring = getPreset('ring-4s')?.build();
    if (!ring) throw new Error('preset');
    let r = await call('PUT', '/api/v1/hosts/xeon', { format: 'json', topology: JSON.parse(topologyToJson(ring)) });
    // web1 sits on xeon: the ring host has other CPUs/nodes, or the same numbers; either way no 5xx.
    expect([200, 409]).toContain(r.status);
    r = await call('DELETE', '/api/v1/hosts/epyc');
    expect(r.status).toBe(409);
    expect(r.json.error.code).toBe('ERR_HOST_IN_USE');
    r = await call('DELETE', '/api/v1/hosts/small');
    expect(r.status).toBe(200);
    expect((await call('GET', '/api/v1/hosts/small')).status).toBe(404);
  });

  it('leaves the store consistent', async () => {
    const report = await checkStore(api.store, now);
    expect(report.problems).toEqual([]);
    expect(report.vms).toBeGreaterThan(0);
  });
});

void readFileSync;
