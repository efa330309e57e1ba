/**
 * A host update is judged against every VM on the host: the seven scenarios of the test campaign
 * (1G pool shrunk under a VM holding 4 pages, 2M pool shrunk under 2,048 pages, node memory shrunk
 * under a 30 GiB VM, the reserve moved onto a VM's CPUs, reserve memory raised past what is left, a
 * CPU a VM holds taken offline, a device a VM holds removed). Each is refused with 409 and the
 * broken VMs and resources in the refusal's shape, changing nothing; accepted with ?accept=displace
 * (or the body's "accept"), the VMs are marked displaced (API, host detail, metrics, events), the
 * invariants hold, and nothing new lands on what they hold. The CLI's --reserve-cpus and
 * --reserve-memory on a state file are judged the same way.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { topologyToJson } from '../src/core/topology/json.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { checkStore } from '../src/store/invariants.js';
import { useService } from './support/service-app.js';
import { runCli } from './support/cli.js';

const TOKEN = 'host-update-token-0123';
const G = 1024 ** 3;
const svc = useService('host-update', TOKEN);
const { call } = svc;

type Doc = {
  nodes: { id: number; memory: { total: number; free: number }; hugePages: { pageSize: number; total: number; free: number }[] }[];
  pus: { os: number; online: boolean }[];
  pciDevices: { address: string; sriov: { vfs: string[] } | null; physfn: string | null }[];
};

/** broadwell-2s as a JSON document, edited. */
function broadwell(edit: (d: Doc) => void = () => undefined): Doc {
  const d = JSON.parse(topologyToJson(getPreset('broadwell-2s')?.build() as never)) as Doc;
  edit(d);
  return d;
}
const pool = (d: Doc, node: number, pageSize: number): { total: number; free: number } =>
  (d.nodes.find((n) => n.id === node) as Doc['nodes'][number]).hugePages.find((p) => p.pageSize === pageSize) as { total: number; free: number };

interface Scenario {
  name: string;
  vm: string;
  /** The registration body that breaks the VM. */
  update: Record<string, unknown>;
  /** The resource the refusal names. */
  resource: RegExp;
  /** A VM that would need what the displaced VM holds: refused afterwards. */
  probe: string;
}

const SCENARIOS: Scenario[] = [
  {
    name: '1G pool shrunk from 8 pages to 1 under a VM holding 4',
    vm: 'name=g1,vcpus=2,memory=4G,pages=1G,nodes=1',
    update: { format: 'json', topology: broadwell((d) => Object.assign(pool(d, 1, G), { total: 1, free: 1 })) },
    resource: /^hugepages-1G$/,
    probe: 'name=probe,vcpus=1,memory=1G,pages=1G,nodes=1',
  },
  {
    name: '2M pool shrunk to 100 pages under a VM holding 2,048',
    vm: 'name=m2,vcpus=2,memory=4G,pages=2M,nodes=1',
    update: { format: 'json', topology: broadwell((d) => Object.assign(pool(d, 1, 2 * 1024 ** 2), { total: 100, free: 100 })) },
    resource: /^hugepages-2M$/,
    probe: 'name=probe,vcpus=1,memory=2M,pages=2M,nodes=1',
  },
  {
    name: 'node memory shrunk to 16 GiB under a 30 GiB VM',
    vm: 'name=big,vcpus=2,memory=30G,nodes=1',
    update: {
      format: 'json',
      topology: broadwell((d) => {
        const n = d.nodes[1] as Doc['nodes'][number];
        n.memory = { total: 16 * G, free: 16 * G };
        n.hugePages = n.hugePages.map((p) => ({ ...p, total: 0, free: 0 }));
      }),
    },
    resource: /^memory$/,
    probe: 'name=probe,vcpus=1,memory=1G,nodes=1',
  },
  {
    name: 'the host reserve moved onto CPUs a VM holds',
    vm: 'name=pin,vcpus=2,memory=2G,cpus=4,5',
    update: { format: 'preset', topology: 'broadwell-2s', reserve: { cpus: [4] } },
    resource: /^cpu:4$/,
    probe: 'name=probe,vcpus=1,memory=1G,cpus=4',
  },
  {
    name: 'reserve memory raised past what is left',
    vm: 'name=fill,vcpus=2,memory=30G,nodes=0',
    update: { format: 'preset', topology: 'broadwell-2s', reserve: { cpus: [0, 20], memory: 20 * G } },
    resource: /^memory$/,
    probe: 'name=probe,vcpus=1,memory=1G,nodes=0',
  },
  {
    name: 'a CPU a VM holds taken offline',
    vm: 'name=off,vcpus=2,memory=2G,cpus=6,7',
    update: { format: 'json', topology: broadwell((d) => ((d.pus.find((p) => p.os === 7) as Doc['pus'][number]).online = false)) },
    resource: /^cpu:7$/,
    probe: 'name=probe,vcpus=1,memory=1G,cpus=6',
  },
  {
    name: 'a device a VM holds removed',
    vm: 'name=gpu,vcpus=2,memory=2G,devices=pci:0000:82:00.0:required',
    update: { format: 'json', topology: broadwell((d) => (d.pciDevices = d.pciDevices.filter((x) => x.address !== '0000:82:00.0'))) },
    resource: /^device$/,
    probe: 'name=probe,vcpus=1,memory=1G,devices=gpu:1:required',
  },
];

describe('host updates are judged against the VMs on the host (API)', () => {
  it.each(SCENARIOS.map((s, i) => [s.name, s, i] as const))('%s: 409 naming the VM, then displaced when accepted', async (_, s, i) => {
    const host = `h${i}`;
    expect((await call('PUT', `/api/v1/hosts/${host}`, { format: 'preset', topology: 'broadwell-2s' })).status).toBe(201);
    const placed = await call('POST', '/api/v1/vms', { vm: s.vm.replace(/name=(\w+)/, `name=$1-${i}`), host });
    expect(placed.status, placed.text).toBe(201);
    const vm = placed.json.placement.name as string;
    const before = await svc.store.hostRow(host);

    // Refused: 409, the VM and the resource in the refusal's shape; nothing changed.
    const refused = await call('PUT', `/api/v1/hosts/${host}`, s.update);
    expect(refused.status, refused.text).toBe(409);
    expect(refused.json.error.code).toBe('ERR_HOST_IN_USE');
    expect(refused.json.vms).toEqual([vm]);
    const r = refused.json.reasons.find((x: { resource: string }) => s.resource.test(x.resource));
    expect(r, JSON.stringify(refused.json.reasons)).toMatchObject({ vm });
    expect(typeof r.need).toBe('number');
    expect(typeof r.have).toBe('number');
    expect(r.shortfall).toBe(Math.max(0, r.need - r.have));
    expect(typeof r.detail).toBe('string');
    expect(await svc.store.hostRow(host)).toEqual(before);
    expect((await call('GET', `/api/v1/vms/${vm}`)).json.displaced).toBeUndefined();

    // Accepted: the VM is displaced, visible in the API and on the host's page data.
    const accepted = await call('PUT', `/api/v1/hosts/${host}?accept=displace`, s.update);
    expect(accepted.status, accepted.text).toBe(200);
    expect(accepted.json.displaced).toEqual([vm]);
    const rec = await call('GET', `/api/v1/vms/${vm}`);
    expect(rec.json.displaced.reasons.some((x: { resource: string }) => s.resource.test(x.resource))).toBe(true);
    const detail = await call('GET', `/api/v1/hosts/${host}`);
    expect(detail.json.vms.find((v: { name: string }) => v.name === vm).displaced).toBeDefined();
    expect(detail.json.displaced).toEqual([vm]);

    // Nothing new is placed on what the displaced VM holds.
    const probe = await call('POST', '/api/v1/vms', { vm: s.probe.replace('name=probe', `name=probe-${i}`), host });
    expect(probe.json.ok, probe.text).toBe(false);
    expect((await checkStore(svc.store, Date.now())).problems).toEqual([]);
  });

  it('counts displaced VMs in the summary and the metrics, and logs the event', async () => {
    const summary = await call('GET', '/api/v1/summary');
    expect(summary.json.vms.displaced).toBe(SCENARIOS.length);
    const metrics = await call('GET', '/metrics');
    expect(metrics.text).toMatch(new RegExp(`^numaplan_vms_displaced ${SCENARIOS.length}$`, 'm'));
    expect(metrics.text).toMatch(new RegExp(`^numaplan_displacements_total ${SCENARIOS.length}$`, 'm'));
    const events = await call('GET', '/api/v1/events?limit=10000');
    expect(events.json.events.filter((e: { kind: string }) => e.kind === 'displace')).toHaveLength(SCENARIOS.length);
  });

  it('an update that keeps everything a VM holds passes, and one that gives it back restores it', async () => {
    // h0: 1G pool back to 8 pages (the agent reports the host as it was): g1 is no longer displaced.
    const back = await call('PUT', '/api/v1/hosts/h0', { format: 'json', topology: broadwell() });
    expect(back.status, back.text).toBe(200);
    expect(back.json.restored).toEqual(['g1-0']);
    expect((await call('GET', '/api/v1/vms/g1-0')).json.displaced).toBeUndefined();
    // The same breaking update once displaced needs no new consent: nothing newly broken.
    expect((await call('PUT', '/api/v1/hosts/h1', SCENARIOS[1]?.update)).status).toBe(200);
  });

  it('accepts the consent in the body too, and refuses an unknown one', async () => {
    expect((await call('PUT', '/api/v1/hosts/h0', { ...SCENARIOS[0]?.update, accept: 'displace' })).status).toBe(200);
    const bad = await call('PUT', '/api/v1/hosts/h0?accept=everything', { format: 'preset', topology: 'broadwell-2s' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toBe('accept');
  });
});

describe('the CLI judges --reserve-cpus and --reserve-memory against the state file', () => {
  it('exit 1 naming the VMs; nothing written; --displace marks them', async () => {
    const state = join(svc.dir, 'host.json');
    let r = await runCli(['place', '--host', 'preset:broadwell-2s', '--state', state, '--vm', 'name=pin,vcpus=2,memory=2G,cpus=4,5', '--vm', 'name=fill,vcpus=2,memory=30G,nodes=0']);
    expect(r.code, r.err).toBe(0);
    const saved = readFileSync(state, 'utf8');
    r = await runCli(['place', '--state', state, '--reserve-cpus', '0,4', '--vm', 'name=x,vcpus=1,memory=1G', '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.out);
    expect(out.ok).toBe(false);
    expect(out.displaces).toEqual(['pin']);
    expect(out.reasons[0]).toMatchObject({ vm: 'pin', resource: 'cpu:4' });
    expect(readFileSync(state, 'utf8')).toBe(saved);
    r = await runCli(['place', '--state', state, '--reserve-memory', '20G', '--vm', 'name=x,vcpus=1,memory=1G']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/fill/);
    expect(readFileSync(state, 'utf8')).toBe(saved);
    // A reserve naming a CPU the host lacks is bad input.
    r = await runCli(['place', '--state', state, '--reserve-cpus', '99', '--vm', 'name=x,vcpus=1,memory=1G']);
    expect(r.code).toBe(2);
    r = await runCli(['place', '--state', state, '--reserve-cpus', '0,4', '--displace', '--vm', 'name=x,vcpus=1,memory=1G,cpus=5', '--json']);
    expect(r.code).toBe(1); // CPU 5 is still held by the displaced VM
    const after = JSON.parse(readFileSync(state, 'utf8')) as { allocations: { name: string; displaced?: { reasons: { resource: string }[] } }[]; reserve: { cpus: number[] } };
    expect(after.reserve.cpus).toEqual([0, 4]);
    expect(after.allocations.find((a) => a.name === 'pin')?.displaced?.reasons[0]?.resource).toBe('cpu:4');
    expect(after.allocations.find((a) => a.name === 'fill')?.displaced).toBeUndefined();
  });

  it('exit 2 for a state file whose VMs break the invariants, naming them', async () => {
    const state = join(svc.dir, 'edited.json');
    let r = await runCli(['place', '--host', 'preset:broadwell-2s', '--state', state, '--vm', 'name=a,vcpus=2,memory=2G,cpus=2,3']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(state, 'utf8')) as { allocations: { name: string }[] };
    doc.allocations.push({ ...(doc.allocations[0] as { name: string }), name: 'b' });
    writeFileSync(state, JSON.stringify(doc));
    r = await runCli(['place', '--state', state, '--vm', 'name=c,vcpus=1,memory=1G', '--json']);
    expect(r.code).toBe(2);
    const e = JSON.parse(r.out).error;
    expect(e.message).toMatch(/\bb\b/);
    expect(e.message).toMatch(/CPU 2 is held by both a and b/);
  });
});
