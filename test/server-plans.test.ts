/**
 * Rebalancing plans as resources of the service, in process over a SQLite store: made and stored
 * (the host unchanged), reviewed, applied a step at a time (the moved VM's allocation and placement
 * document rewritten, what the move frees held by a claim until the step is reported done or the hold
 * lapses), refused as stale when a placement took the target (its CPUs or its memory) in between, a
 * step applied whose memory is laid out unlike its CPUs, cancelled; two instances on
 * one database applying the same step: one applies it, the other is told the plan moved on; errors
 * name the field; every answer validated by ajv against the OpenAPI document's own schemas.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/server/app.js';
import { FleetService } from '../src/server/fleet-service.js';
import { OPENAPI_DOCUMENT } from '../src/server/openapi.js';
import { checkStore } from '../src/store/invariants.js';
import { useService } from './support/service-app.js';

const TOKEN = 'plans-token-0123456789';
let now = 5_000_000;
const t = useService('plans', TOKEN, { clock: () => now });

/**
 * EPYC NPS4 (8 nodes of 16 PUs... as the preset says): a filler of 40 PUs on each node, then `wide`
 * over two nodes; a filler on a node wide does not use leaves, so narrowing wide onto it pays over an hour.
 */
async function setUp(host: string): Promise<{ wide: string; freed: number }> {
  expect((await t.call('PUT', `/api/v1/hosts/${host}`, { format: 'preset', topology: 'epyc-2s-nps4' })).status).toBe(201);
  for (let n = 0; n < 8; n++) expect((await t.call('POST', '/api/v1/vms', { host, vm: `name=${host}-f${n},vcpus=40,memory=16G,smt=prefer` })).status).toBe(201);
  const wide = await t.call('POST', '/api/v1/vms', { host, vm: `name=${host}-wide,vcpus=12,memory=24G,smt=prefer` });
  expect(wide.status, wide.text).toBe(201);
  const nodes: number[] = wide.json.placement.nodes;
  expect(nodes).toHaveLength(2);
  const vms = (await t.call('GET', `/api/v1/vms?host=${host}`)).json.vms as { name: string; allocation: { nodes: number[] } }[];
  const leaving = vms.find((v) => v.name.startsWith(`${host}-f`) && !nodes.includes(v.allocation.nodes[0] as number)) as { name: string; allocation: { nodes: number[] } };
  expect((await t.call('DELETE', `/api/v1/vms/${leaving.name}`)).status).toBe(200);
  return { wide: `${host}-wide`, freed: leaving.allocation.nodes[0] as number };
}

function validator(name: string) {
  const ajv = new Ajv2020({ strict: false });
  ajv.addSchema({ $id: 'doc', components: OPENAPI_DOCUMENT.components });
  return ajv.compile({ $ref: `doc#/components/schemas/${name}` });
}
const validPlan = validator('StoredPlan');
function expectValid(body: unknown): void {
  expect(validPlan(body), JSON.stringify(validPlan.errors)).toBe(true);
}

describe('rebalancing plans as resources', () => {
  it('is made and kept (the host unchanged), applied a step at a time with the freed part held until done', async () => {
    const { wide, freed } = await setUp('a');
    const before = await t.call('GET', '/api/v1/hosts/a');
    const made = await t.call('POST', '/api/v1/hosts/a/plans', { horizon: '1h' });
    expect(made.status, made.text).toBe(201);
    expectValid(made.json);
    expect(made.json).toMatchObject({ host: 'a', status: 'proposed', version: 1, steps: 1, nextStep: 1, next: { step: 1, kind: 'narrow', vms: [wide] } });
    expect(made.json.next.commands[0].commands.join('\n')).toContain(`virsh numatune ${wide}`);
    const id: string = made.json.id;
    expect((await t.call('GET', '/api/v1/hosts/a')).json.generation).toBe(before.json.generation);
    expect((await t.call('GET', `/api/v1/plans/${id}`)).json).toEqual(made.json);
    const listed = await t.call('GET', '/api/v1/plans?host=a');
    expect(listed.json.plans.map((p: { id: string }) => p.id)).toEqual([id]);

    const oldVm = (await t.call('GET', `/api/v1/vms/${wide}`)).json;
    const target: number[] = made.json.plan.moves[0].vms[0].after.nodes;
    expect(target).toEqual([freed]);
    now += 1000;
    const applied = await t.call('POST', `/api/v1/plans/${id}/apply`, { step: 1 });
    expect(applied.status, applied.text).toBe(200);
    expectValid(applied.json);
    expect(applied.json).toMatchObject({ status: 'applied', version: 2, nextStep: null, next: null, applied: { step: 1, vms: [wide] } });
    const hold = applied.json.applied.hold as { name: string; expiresAt: number };
    expect(hold.name).toBe(`hold-${id}-1`);
    // The default hold: the step's estimated time (24 GiB at 1 GiB/s) plus a minute.
    expect(hold.expiresAt).toBe(now + (24 + 60) * 1000);

    // The VM is where the plan put it, its placement document too (what emit builds its configuration from), stamped for the cool-down.
    const moved = (await t.call('GET', `/api/v1/vms/${wide}`)).json;
    const after = made.json.plan.moves[0].vms[0].after;
    expect(moved.allocation).toMatchObject({ cpus: after.cpus, nodes: target, memory: after.memory, movedAt: now });
    expect(moved.placement.cpus).toEqual(after.cpus);
    expect(moved.placement.nodes).toEqual(target);
    expect(moved.placement.memoryByNode).toEqual({ [String(freed)]: 24 * 1024 ** 3 });
    expect(moved.placement.explanation.summary).toMatch(new RegExp(`^moved by step 1 of rebalancing plan ${id}`));
    const emitted = await t.call('GET', `/api/v1/vms/${wide}/emit?format=libvirt`);
    expect(emitted.status, emitted.text).toBe(200);
    expect(emitted.json.text).toContain(`<memory mode='strict' nodeset='${freed}'/>`);

    // Held: what wide leaves (its old CPUs off the target, its memory there) belongs to the hold until the step is done.
    const oldCpus = (oldVm.allocation.cpus as number[]).filter((c) => !after.cpus.includes(c));
    expect(oldCpus.length).toBeGreaterThan(0);
    const detail = (await t.call('GET', '/api/v1/hosts/a')).json;
    for (const c of oldCpus) expect(detail.cpuOwner[String(c)]).toBe(hold.name);
    const held = (await t.call('GET', `/api/v1/vms/${hold.name}`)).json;
    expect(held).toMatchObject({ status: 'claimed', expiresAt: hold.expiresAt, placement: { hold: { plan: id, step: 1 } } });
    expect(held.allocation.memory.reduce((s: number, m: { bytes: number }) => s + m.bytes, 0)).toBe(24 * 1024 ** 3);

    // A hold is no VM: it has no configuration and cannot be committed (it would hold forever).
    for (const [method, path] of [['GET', `/api/v1/vms/${hold.name}/emit?format=qemu`], ['POST', `/api/v1/vms/${hold.name}/commit`]] as const) {
      const r = await t.call(method, path);
      expect(r.status, path).toBe(409);
      expect(r.json.error).toMatchObject({ code: 'ERR_HOLD', field: 'vm' });
    }
    const done = await t.call('POST', `/api/v1/plans/${id}/steps/1/done`);
    expect(done.status, done.text).toBe(200);
    expectValid(done.json);
    expect(done.json.progress.steps[0]).toMatchObject({ step: 1, hold: hold, doneAt: now });
    expect((await t.call('GET', `/api/v1/vms/${hold.name}`)).status).toBe(404);
    const free = (await t.call('GET', '/api/v1/hosts/a')).json;
    for (const c of oldCpus) expect(free.cpuOwner[String(c)]).toBeUndefined();

    // Ended: nothing more to apply, done once only, not cancellable.
    for (const [path, code] of [
      [`/api/v1/plans/${id}/apply`, 'ERR_PLAN_STATE'],
      [`/api/v1/plans/${id}/steps/1/done`, 'ERR_PLAN_STEP'],
      [`/api/v1/plans/${id}/steps/2/done`, 'ERR_PLAN_STEP'],
      [`/api/v1/plans/${id}/cancel`, 'ERR_PLAN_STATE'],
    ] as const) {
      const r = await t.call('POST', path);
      expect(r.status, path).toBe(409);
      expect(r.json.error.code, path).toBe(code);
    }
    const events = (await t.call('GET', '/api/v1/events?limit=10000')).json.events as { kind: string; data: { plan?: string } }[];
    expect(events.filter((e) => e.data?.plan === id).map((e) => e.kind)).toEqual(['plan-create', 'plan-step', 'plan-step-done']);
  });

  it('a hold lapses on its own when the step is never reported done', async () => {
    await setUp('b');
    const id = (await t.call('POST', '/api/v1/hosts/b/plans', { horizon: '1h' })).json.id as string;
    const applied = await t.call('POST', `/api/v1/plans/${id}/apply`, { holdSeconds: 5 });
    expect(applied.status, applied.text).toBe(200);
    const hold = applied.json.applied.hold.name as string;
    expect((await t.call('GET', `/api/v1/vms/${hold}`)).status).toBe(200);
    now += 5000;
    expect((await t.call('GET', `/api/v1/vms/${hold}`)).status).toBe(404);
    const host = (await t.call('GET', '/api/v1/hosts/b')).json;
    expect(Object.values(host.cpuOwner)).not.toContain(hold);
    // Reporting the step done afterwards releases nothing, and says so in the event.
    expect((await t.call('POST', `/api/v1/plans/${id}/steps/1/done`)).status).toBe(200);
    // holdSeconds 0: nothing held.
    await setUp('b0');
    const id0 = (await t.call('POST', '/api/v1/hosts/b0/plans', { horizon: '1h' })).json.id as string;
    const none = await t.call('POST', `/api/v1/plans/${id0}/apply`, { holdSeconds: 0 });
    expect(none.json.applied.hold).toBeNull();
    expect((await t.call('GET', `/api/v1/vms/hold-${id0}-1`)).status).toBe(404);
  });

  it('a swap that moves a shared VM onto a dedicated VM\'s old CPUs holds none of them: the shared VM runs there now', async () => {
    // Four-socket ring (40 PUs a node, CPU 0's core reserved): s8 and s10 (shared) fill node 0 with
    // f0; d (dedicated, 17) arrives while node 0 is full and spans nodes 2 and 3. Once f0 leaves, d
    // fits on node 0 only if s10 gives way: the plan swaps them, s10 onto d's old CPUs of node 2.
    expect((await t.call('PUT', '/api/v1/hosts/sw', { format: 'preset', topology: 'ring-4s' })).status).toBe(201);
    const place = async (vm: string): Promise<void> => {
      const r = await t.call('POST', '/api/v1/vms', { host: 'sw', vm });
      expect(r.status, r.text).toBe(201);
    };
    for (const [n, vcpus] of [[0, 6], [1, 38], [2, 26], [3, 30]] as const) await place(`name=sw-f${n},vcpus=${vcpus},memory=1G,nodes=${n}`);
    await place('name=sw-t2,vcpus=14,memory=1G,nodes=2');
    await place('name=sw-s8,vcpus=14,memory=8G,cpu=shared,nodes=0');
    await place('name=sw-s10,vcpus=13,memory=8G,cpu=shared');
    expect((await t.call('DELETE', '/api/v1/vms/sw-t2')).status).toBe(200);
    await place('name=sw-d,vcpus=17,memory=8G');
    expect((await t.call('DELETE', '/api/v1/vms/sw-f0')).status).toBe(200);
    const made = await t.call('POST', '/api/v1/hosts/sw/plans', { horizon: '1d', threshold: 0.5, minGain: 0, cooldown: 0 });
    expect(made.status, made.text).toBe(201);
    const step = made.json.plan.moves[0] as { kind: string; vms: { vm: string; before: { cpus: number[]; exclusive: boolean }; after: { cpus: number[]; exclusive: boolean } }[] };
    expect(step.kind).toBe('swap');
    const [s10, d] = step.vms as [(typeof step.vms)[0], (typeof step.vms)[0]];
    expect([s10.vm, s10.after.exclusive, d.vm, d.before.exclusive]).toEqual(['sw-s10', false, 'sw-d', true]);
    const handedOver = d.before.cpus.filter((c) => s10.after.cpus.includes(c));
    expect(handedOver.length).toBeGreaterThan(0);

    const applied = await t.call('POST', `/api/v1/plans/${made.json.id}/apply`, { step: 1 });
    expect(applied.status, applied.text).toBe(200);
    // What d leaves on node 3 is held; what it hands to s10 is not (a held CPU is in no shared pool).
    const hold = (await t.call('GET', `/api/v1/vms/${applied.json.applied.hold.name}`)).json;
    expect(hold.allocation.heldCpus.length).toBeGreaterThan(0);
    expect(hold.allocation.heldCpus.filter((c: number) => s10.after.cpus.includes(c))).toEqual([]);
    const report = await checkStore(t.store, now);
    expect(report.problems.filter((p) => p.startsWith('sw:'))).toEqual([]);
  });

  it('a placement that takes the target between planning and applying makes the step refused and the plan stale; nothing moves', async () => {
    const { wide, freed } = await setUp('c');
    const id = (await t.call('POST', '/api/v1/hosts/c/plans', { horizon: '1h' })).json.id as string;
    const intruder = await t.call('POST', '/api/v1/vms', { host: 'c', vm: `name=c-intruder,vcpus=12,memory=8G,nodes=${freed}` });
    expect(intruder.status, intruder.text).toBe(201);
    const vmBefore = (await t.call('GET', `/api/v1/vms/${wide}`)).json;
    const r = await t.call('POST', `/api/v1/plans/${id}/apply`);
    expect(r.status, r.text).toBe(409);
    expect(r.json.error).toMatchObject({ code: 'ERR_PLAN_STALE', field: 'plan' });
    expect(r.json.code).toBe('taken');
    expect(r.json.reasons.length).toBeGreaterThan(0);
    expectValid(r.json.plan);
    expect(r.json.plan).toMatchObject({ status: 'stale', nextStep: null, progress: { steps: [], refused: { step: 1, code: 'taken' } } });
    expect((await t.call('GET', `/api/v1/vms/${wide}`)).json.allocation).toEqual(vmBefore.allocation);
    expect((await t.call('GET', `/api/v1/plans/${id}`)).json.status).toBe('stale');
    expect((await t.call('POST', `/api/v1/plans/${id}/apply`)).json.error.code).toBe('ERR_PLAN_STATE');
  });

  /**
   * EPYC NPS4: every node filled but for 4 PUs, node 2's filler holding 50 GiB (10 GiB of regular
   * memory left there); with nodes 1, 3, 5, 6 and 7 blocked, `w` (8 vCPUs, 40 GiB) is placed over
   * nodes 0 and 4 (distance 32). The block on node 2 leaves, so the plan moves w's half on node 4 to
   * node 2: its CPUs 4 and 4, its memory 30 GiB on node 0 and the 10 GiB node 2 has (not 20 and 20).
   */
  async function setUpShortNode(host: string): Promise<{ id: string; after: { cpus: number[]; memory: { node: number; bytes: number }[] } }> {
    expect((await t.call('PUT', `/api/v1/hosts/${host}`, { format: 'preset', topology: 'epyc-2s-nps4' })).status).toBe(201);
    const capacity = (await t.call('GET', `/api/v1/hosts/${host}`)).json.capacity as { node: number; freePus: number[] }[];
    for (const n of capacity) {
      const r = await t.call('POST', '/api/v1/vms', { host, vm: `name=${host}-f${n.node},vcpus=${n.freePus.length - 4},memory=${n.node === 2 ? 50 : 1}G,nodes=${n.node}` });
      expect(r.status, r.text).toBe(201);
    }
    for (const n of [1, 2, 3, 5, 6, 7]) expect((await t.call('POST', '/api/v1/vms', { host, vm: `name=${host}-b${n},vcpus=4,memory=1G,nodes=${n}` })).status).toBe(201);
    const w = await t.call('POST', '/api/v1/vms', { host, vm: `name=${host}-w,vcpus=8,memory=40G,smt=prefer` });
    expect(w.status, w.text).toBe(201);
    expect(w.json.placement.nodes).toEqual([0, 4]);
    expect((await t.call('DELETE', `/api/v1/vms/${host}-b2`)).status).toBe(200);
    const made = await t.call('POST', `/api/v1/hosts/${host}/plans`, { horizon: '1h' });
    expect(made.status, made.text).toBe(201);
    const moves = made.json.plan.moves as { vms: { vm: string; after: { cpus: number[]; memory: { node: number; bytes: number }[] } }[] }[];
    expect(moves).toHaveLength(1);
    const after = (moves[0] as (typeof moves)[number]).vms[0]?.after as { cpus: number[]; memory: { node: number; bytes: number }[] };
    expect(after.memory.map((m) => [m.node, m.bytes / 2 ** 30])).toEqual([
      [0, 30],
      [2, 10],
    ]);
    return { id: made.json.id as string, after };
  }

  it("a step whose target holds its memory unlike its CPUs (a node short of memory) applies: the VM's document says where the step put it", async () => {
    // Pinned to the step's CPUs the kernel would split the 40 GiB 20 and 20, more than node 2 has:
    // the step fits as it lays the memory out, so it applies (it was an internal error).
    const { id, after } = await setUpShortNode('g');
    const r = await t.call('POST', `/api/v1/plans/${id}/apply`);
    expect(r.status, r.text).toBe(200);
    expectValid(r.json);
    const vm = (await t.call('GET', '/api/v1/vms/g-w')).json;
    expect(vm.allocation.cpus).toEqual(after.cpus);
    expect(vm.allocation.memory).toEqual(after.memory);
    expect(vm.placement.cpus).toEqual(after.cpus);
    expect(vm.placement.memoryByNode).toEqual({ '0': 30 * 2 ** 30, '2': 10 * 2 ** 30 });
    expect((await checkStore(t.store, now)).problems).toEqual([]);
  });

  it("a placement that takes the target's memory between planning and applying makes the step refused and the plan stale; nothing moves", async () => {
    const { id } = await setUpShortNode('h');
    // A CPU of node 5 (its block leaves), 4 GiB of node 2's memory: the step's CPUs stay free, its 10 GiB on node 2 do not.
    expect((await t.call('DELETE', '/api/v1/vms/h-b5')).status).toBe(200);
    const cpu = ((await t.call('GET', '/api/v1/hosts/h')).json.capacity as { node: number; freePus: number[] }[]).find((n) => n.node === 5)?.freePus[0];
    const intruder = await t.call('POST', '/api/v1/vms', { host: 'h', vm: `name=h-intruder,vcpus=1,memory=4G,cpus=${cpu},nodes=2` });
    expect(intruder.status, intruder.text).toBe(201);
    expect(intruder.json.placement.memoryByNode).toEqual({ '2': 4 * 2 ** 30 });
    const vmBefore = (await t.call('GET', '/api/v1/vms/h-w')).json;
    const r = await t.call('POST', `/api/v1/plans/${id}/apply`);
    expect(r.status, r.text).toBe(409);
    expect(r.json.error).toMatchObject({ code: 'ERR_PLAN_STALE', field: 'plan' });
    expect(r.json.code).toBe('taken');
    expect(r.json.reasons.join('\n')).toContain('memory');
    expect(r.json.plan).toMatchObject({ status: 'stale', nextStep: null, progress: { steps: [], refused: { step: 1, code: 'taken' } } });
    expect((await t.call('GET', '/api/v1/vms/h-w')).json.allocation).toEqual(vmBefore.allocation);
    expect((await checkStore(t.store, now)).problems).toEqual([]);
  });

  it('cancelled: no step is applied after it', async () => {
    const { wide } = await setUp('d');
    const id = (await t.call('POST', '/api/v1/hosts/d/plans', { horizon: '1h' })).json.id as string;
    const vmBefore = (await t.call('GET', `/api/v1/vms/${wide}`)).json;
    const c = await t.call('POST', `/api/v1/plans/${id}/cancel`);
    expect(c.status, c.text).toBe(200);
    expectValid(c.json);
    expect(c.json).toMatchObject({ status: 'cancelled', nextStep: null, progress: { cancelledAt: now } });
    expect((await t.call('POST', `/api/v1/plans/${id}/apply`)).json.error.code).toBe('ERR_PLAN_STATE');
    expect((await t.call('GET', `/api/v1/vms/${wide}`)).json.allocation).toEqual(vmBefore.allocation);
  });

  it('two instances on one database apply the same step at once: it is applied once, the other is told the plan moved on', async () => {
    const { wide } = await setUp('e');
    const id = (await t.call('POST', '/api/v1/hosts/e/plans', { horizon: '1h' })).json.id as string;
    const other = new FleetService({ store: t.store, instance: 'plans-2', clock: () => now });
    try {
      const app2 = createApp({ service: other, token: TOKEN, web: false });
      const call2 = async (path: string): Promise<{ status: number; json: any }> => {
        const res = await app2.request(path, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
        return { status: res.status, json: await res.json() };
      };
      // The second instance has the host in memory already (it read the fleet), at the generation before the step.
      expect((await app2.request('/api/v1/hosts/e', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      const [x, y] = await Promise.all([t.call('POST', `/api/v1/plans/${id}/apply`), call2(`/api/v1/plans/${id}/apply`)]);
      const statuses = [x.status, y.status].sort();
      expect(statuses).toEqual([200, 409]);
      const loser = x.status === 409 ? x.json : y.json;
      expect(loser.error.code).toBe('ERR_PLAN_STATE');
      const plan = (await t.call('GET', `/api/v1/plans/${id}`)).json;
      expect(plan).toMatchObject({ status: 'applied', version: 2 });
      expect(plan.progress.steps).toHaveLength(1);
      const events = (await t.call('GET', '/api/v1/events?limit=10000')).json.events as { kind: string; data: { plan?: string } }[];
      expect(events.filter((e) => e.data?.plan === id && e.kind === 'plan-step')).toHaveLength(1);
      expect((await t.call('GET', `/api/v1/vms/${wide}`)).json.allocation.nodes).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('errors name the field: bad ids and bodies are 400, unknown plans 404, a step out of order 409, no token 401', async () => {
    await setUp('f');
    const id = (await t.call('POST', '/api/v1/hosts/f/plans', { horizon: '1h' })).json.id as string;
    for (const [body, field] of [
      [{ holdSeconds: -1 }, 'holdSeconds'],
      [{ holdSeconds: 1.5 }, 'holdSeconds'],
      [{ holdSeconds: 86_401 }, 'holdSeconds'],
      [{ step: 0 }, 'step'],
      [{ bogus: 1 }, 'bogus'],
    ] as const) {
      const r = await t.call('POST', `/api/v1/plans/${id}/apply`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.field, r.text).toBe(field);
    }
    expect((await t.call('POST', `/api/v1/plans/${id}/apply`, '{"step":')).json.error.code).toBe('ERR_BAD_JSON');
    const wrong = await t.call('POST', `/api/v1/plans/${id}/apply`, { step: 2 });
    expect(wrong.status).toBe(409);
    expect(wrong.json.error).toMatchObject({ code: 'ERR_PLAN_STEP', field: 'step' });
    expect((await t.call('POST', `/api/v1/plans/${id}/steps/x/done`)).json.error).toMatchObject({ code: 'ERR_FIELD', field: 'step' });
    expect((await t.call('GET', '/api/v1/plans/nope')).json.error).toMatchObject({ code: 'ERR_FIELD', field: 'plan' });
    const unknown = await t.call('GET', '/api/v1/plans/p000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'ERR_UNKNOWN_PLAN', field: 'plan' });
    expect((await t.call('POST', '/api/v1/hosts/nowhere/plans', {})).json.error).toMatchObject({ code: 'ERR_UNKNOWN_HOST', field: 'host' });
    expect((await t.call('POST', '/api/v1/hosts/f/plans', { rate: 'fast' })).json.error).toMatchObject({ code: 'ERR_FIELD', field: 'rate' });
    expect((await t.call('POST', `/api/v1/plans/${id}/apply`, {}, null)).status).toBe(401);
    expect((await t.call('GET', `/api/v1/plans/${id}`, undefined, null)).status).toBe(401);
    expect((await t.call('DELETE', `/api/v1/plans/${id}`)).status).toBe(405);
    // Still proposed: none of that changed it.
    expect((await t.call('GET', `/api/v1/plans/${id}`)).json).toMatchObject({ status: 'proposed', version: 1 });
  });

  it('is in the OpenAPI document', () => {
    for (const path of ['/api/v1/hosts/{host}/plans', '/api/v1/plans', '/api/v1/plans/{plan}', '/api/v1/plans/{plan}/apply', '/api/v1/plans/{plan}/steps/{step}/done', '/api/v1/plans/{plan}/cancel']) {
      expect(OPENAPI_DOCUMENT.paths, path).toHaveProperty([path]);
    }
    const body = validator('ApplyStepRequest');
    expect(body({ step: 1, holdSeconds: 30 })).toBe(true);
    expect(body({ holdSeconds: -1 })).toBe(false);
    expect(body({ bogus: 1 })).toBe(false);
  });
});
