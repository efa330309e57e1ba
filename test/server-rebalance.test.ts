/**
 * `POST /api/v1/hosts/{host}/rebalance` in process over a SQLite store: the plan for a host's VMs as
 * the service holds them (the same planner and the same plan as `numaplan rebalance`), nothing
 * changed; auth, 400 naming the bad field, 404 for an unknown host; the answer validated by ajv
 * against the OpenAPI document's own schemas (RebalanceRequest generated from the route's zod schema).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { OPENAPI_DOCUMENT } from '../src/server/openapi.js';
import { useService } from './support/service-app.js';

const TOKEN = 'rebalance-token-0123456789';
const now = 5_000_000;
const t = useService('rebalance', TOKEN, { clock: () => now });

/** EPYC NPS4: a filler of 40 PUs on each node, then `wide` over two nodes; a filler off wide's nodes leaves. */
async function setUp(): Promise<void> {
  expect((await t.call('PUT', '/api/v1/hosts/epyc', { format: 'preset', topology: 'epyc-2s-nps4' })).status).toBe(201);
  for (let n = 0; n < 8; n++) expect((await t.call('POST', '/api/v1/vms', { host: 'epyc', vm: `name=f${n},vcpus=40,memory=16G,smt=prefer` })).status).toBe(201);
  const wide = await t.call('POST', '/api/v1/vms', { host: 'epyc', vm: 'name=wide,vcpus=12,memory=24G,smt=prefer' });
  expect(wide.status).toBe(201);
  const nodes: number[] = wide.json.placement.nodes;
  expect(nodes).toHaveLength(2);
  const vms = (await t.call('GET', '/api/v1/vms?host=epyc')).json.vms as { name: string; allocation: { nodes: number[] } }[];
  const leaving = vms.find((v) => v.name.startsWith('f') && !nodes.includes(v.allocation.nodes[0] as number)) as { name: string };
  expect((await t.call('DELETE', `/api/v1/vms/${leaving.name}`)).status).toBe(200);
}

function validator(name: string) {
  const ajv = new Ajv2020({ strict: false });
  ajv.addSchema({ $id: 'doc', components: OPENAPI_DOCUMENT.components });
  return ajv.compile({ $ref: `doc#/components/schemas/${name}` });
}

describe('POST /api/v1/hosts/{host}/rebalance', () => {
  it("plans the move that pays for the host's VMs (a dry run: the host and its VMs unchanged), in the OpenAPI document's shape", async () => {
    await setUp();
    const before = await t.call('GET', '/api/v1/hosts/epyc');
    const r = await t.call('POST', '/api/v1/hosts/epyc/rebalance', { horizon: '1h' });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ host: 'epyc', generation: before.json.generation, dryRun: true, plan: { schema: 'numaplan.plan/v1', host: 'preset:epyc-2s-nps4', createdAt: now } });
    const plan = r.json.plan;
    expect(plan.moves).toHaveLength(1);
    expect(plan.moves[0]).toMatchObject({ step: 1, kind: 'narrow', cost: { bytes: 24 * 1024 ** 3 } });
    expect(plan.moves[0].vms[0].vm).toBe('wide');
    expect(plan.moves[0].vms[0].after.nodes).toHaveLength(1);
    expect(plan.options).toMatchObject({ horizonSec: 3600, cooldownMs: 600_000, threshold: 4 });
    const valid = validator('RebalanceResult');
    expect(valid(r.json), JSON.stringify(valid.errors)).toBe(true);
    const after = await t.call('GET', '/api/v1/hosts/epyc');
    expect(after.json.generation).toBe(before.json.generation);
    expect(after.json.vms).toEqual(before.json.vms);
    // The default horizon (10 min) does not pay for 24 GiB between neighbouring NPS4 nodes; no body at all is the defaults.
    const none = await t.call('POST', '/api/v1/hosts/epyc/rebalance');
    expect(none.status, none.text).toBe(200);
    expect(none.json.plan.moves).toEqual([]);
  });

  it('settings and waiting VMs from the body: a zero byte cap proposes nothing, a waiting VM is reported', async () => {
    const capped = await t.call('POST', '/api/v1/hosts/epyc/rebalance', { horizon: 3_600_000, maxBytes: '0', rate: '500M/s' });
    expect(capped.json.plan.moves).toEqual([]);
    expect(capped.json.plan.options).toMatchObject({ maxBytes: 0, rateBytesPerSec: 500 * 1024 ** 2 });
    const waiting = await t.call('POST', '/api/v1/hosts/epyc/rebalance', { waiting: ['name=tiny,vcpus=1,memory=1G', { name: 'huge', vcpus: 49, memory: '16G', numa: 'strict' }] });
    expect(waiting.status, waiting.text).toBe(200);
    expect(waiting.json.plan.waiting).toEqual([
      { name: 'tiny', fitsNow: true, admittedAt: null },
      { name: 'huge', fitsNow: false, admittedAt: null },
    ]);
  });

  it('400 naming the bad field, 404 for an unknown host, 401/403 without the right token', async () => {
    for (const [body, field] of [
      [{ rate: 'fast' }, 'rate'],
      [{ horizon: '0s' }, 'horizon'],
      [{ cooldown: 'soon' }, 'cooldown'],
      [{ threshold: -1 }, 'threshold'],
      [{ maxMoves: 1.5 }, 'maxMoves'],
      [{ maxBytes: 'lots' }, 'maxBytes'],
      [{ now: 'yesterday' }, 'now'],
      [{ bogus: 1 }, 'bogus'],
      [{ waiting: 'name=x' }, 'waiting'],
      [{ waiting: [{ name: 'x', vcpus: 0, memory: '1G' }] }, 'waiting.0.vcpus'],
      [{ waiting: ['name=wide,vcpus=1,memory=1G'] }, 'waiting.0.name'],
      [{ waiting: ['name=a,vcpus=1,memory=1G', 'name=a,vcpus=2,memory=1G'] }, 'waiting.1.name'],
    ] as const) {
      const r = await t.call('POST', '/api/v1/hosts/epyc/rebalance', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.field, `${JSON.stringify(body)}: ${r.text}`).toBe(field);
    }
    expect((await t.call('POST', '/api/v1/hosts/epyc/rebalance', '{"horizon":')).json.error.code).toBe('ERR_BAD_JSON');
    const unknown = await t.call('POST', '/api/v1/hosts/nowhere/rebalance', {});
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'ERR_UNKNOWN_HOST', field: 'host' });
    expect((await t.call('POST', '/api/v1/hosts/bad%20name/rebalance', {})).json.error).toMatchObject({ code: 'ERR_FIELD', field: 'host' });
    expect((await t.call('POST', '/api/v1/hosts/epyc/rebalance', {}, null)).status).toBe(401);
    expect((await t.call('POST', '/api/v1/hosts/epyc/rebalance', {}, 'wrong-token-xxxxxxxx')).status).toBe(403);
    expect((await t.call('GET', '/api/v1/hosts/epyc/rebalance')).status).toBe(405);
  });

  it('is in the OpenAPI document, its body schema generated from the route\'s zod schema', () => {
    const path = OPENAPI_DOCUMENT.paths['/api/v1/hosts/{host}/rebalance'];
    expect(Object.keys(path.post.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404']));
    const body = validator('RebalanceRequest');
    expect(body({ horizon: '1h', waiting: ['name=a,vcpus=1,memory=1G'] })).toBe(true);
    expect(body({ bogus: 1 })).toBe(false);
    expect(body({ maxMoves: 1.5 })).toBe(false);
  });
});
