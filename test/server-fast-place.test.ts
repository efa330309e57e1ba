/**
 * The placement route's fast path (src/server/fast-place.ts) answers as the app does: the same
 * requests are sent to a server with the fast path in front of the app (as `numaplan serve` runs)
 * and to one with the app alone, on one service, and their statuses, content types and bodies
 * compared; the fast path must have taken the requests it is meant for, and left the others (a
 * chunked body, one over the size limit, a query string) to the app. Every answer is counted in the
 * metrics once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { createApp, placeFront } from '../src/server/app.js';
import { FleetService } from '../src/server/fleet-service.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { FleetStore } from '../src/store/types.js';

const TOKEN = 'fast-place-token-0123';
const G = 1024 ** 3;
const topology = syntheticTopology({ source: 'two-nodes', packages: 2, nodesPerPackage: 1, coresPerNode: 8, threadsPerCore: 2, memoryPerNode: 64 * G });

const dir = mkdtempSync(join(tmpdir(), 'numaplan-fast-place-'));
let store: FleetStore;
let service: FleetService;
let taken = 0;
const urls: { fast: string; app: string } = { fast: '', app: '' };
const servers: ReturnType<typeof createServer>[] = [];

beforeAll(async () => {
  store = await openSqliteStore(join(dir, 'fleet.db'));
  service = new FleetService({ store, instance: 'fast-place' });
  await service.registerHost('h', { format: 'json', topology });
  const options = { service, token: TOKEN, limits: { bytes: 4096 }, log: () => undefined };
  const app = createApp(options);
  const front = placeFront(options);
  const listener = getRequestListener(app.fetch);
  const listen = async (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> => {
    const s = createServer(handler);
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };
  urls.fast = await listen((req, res) => {
    if (front(req, res)) taken++;
    else void listener(req, res);
  });
  urls.app = await listen((req, res) => void listener(req, res));
});

afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  await service.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  type: string | undefined;
  body: string;
}

/** One POST over a fresh connection; `chunked` sends the body without a Content-Length. */
function post(base: string, path: string, headers: Record<string, string | string[]>, body: string | Buffer, chunked = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'POST', headers: chunked ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: text }));
    });
    req.on('error', reject);
    if (chunked) {
      req.write(body.slice(0, 5));
      req.end(body.slice(5));
    } else req.end(body);
  });
}

const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

it('answers every request as the app does, and takes only those it is meant for', async () => {
  const deep = `{"vm":${'['.repeat(40)}${']'.repeat(40)}}`;
  // [what, headers, body, taken by the fast path, status]: each sent to both servers.
  // Bytes as sent (latin1: one byte per character, so \xFF is a byte that is not UTF-8).
  const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
  const cases: [string, Record<string, string | string[]>, string | Buffer, boolean, number][] = [
    ['no token', { 'content-type': 'application/json' }, '{"vm":"vcpus=1,memory=1G"}', true, 401],
    ['wrong token', { ...AUTH, authorization: 'Bearer wrong' }, '{"vm":"vcpus=1,memory=1G"}', true, 403],
    ['not JSON by its type', { ...AUTH, 'content-type': 'text/plain' }, '{"vm":"vcpus=1,memory=1G"}', true, 415],
    ['bad JSON', AUTH, '{"vm":', true, 400],
    ['too deep', AUTH, deep, true, 400],
    ['not an object', AUTH, '[1,2]', true, 400],
    ['number out of range', AUTH, '{"vm":"vcpus=1,memory=1G","ttlSeconds":1e400}', true, 400],
    ['unknown field', AUTH, '{"vm":"vcpus=1,memory=1G","colour":"red"}', true, 400],
    ['bad VM', AUTH, '{"vm":"vcpus=many"}', true, 400],
    ['unknown host', AUTH, '{"vm":"name=u,vcpus=1,memory=1G","host":"nowhere"}', true, 404],
    ['does not fit', AUTH, '{"vm":"name=huge,vcpus=999,memory=1G"}', true, 200],
    ['a byte-order mark', AUTH, '\uFEFF{"vm":"name=huge,vcpus=999,memory=1G"}', true, 200],
    ['not UTF-8 (a name with U+FFFD is refused)', AUTH, bytes('{"vm":"name=h\xFFuge,vcpus=999,memory=1G"}'), true, 400],
    ['within the limit in bytes, over it as text', AUTH, bytes(`{"vm":"${'\xFF'.repeat(2000)}"}`), true, 413],
    ['over the size limit', AUTH, JSON.stringify({ vm: 'vcpus=1,memory=1G', pad: 'x'.repeat(5000) }), false, 413],
    ['two tokens', { ...AUTH, authorization: [`Bearer ${TOKEN}`, 'Bearer other'] }, '{"vm":"name=twice,vcpus=1,memory=1G"}', false, 401],
  ];
  for (const [what, headers, body, fast, status] of cases) {
    const before = taken;
    const a = await post(urls.fast, '/api/v1/vms', headers, body);
    expect(taken - before, what).toBe(fast ? 1 : 0);
    const b = await post(urls.app, '/api/v1/vms', headers, body);
    expect(a, what).toEqual(b);
    expect(a.status, what).toBe(status);
  }
  // Placements: the same answer but for the VM's own CPUs and the host's generation.
  const shape = (x: Answer) => {
    const j = JSON.parse(x.body) as { generation: number; placement: { name: string; cpus: number[] } };
    return { status: x.status, type: x.type, keys: Object.keys(j), vcpus: j.placement.cpus.length, name: j.placement.name };
  };
  const before = taken;
  const a = await post(urls.fast, '/api/v1/vms', AUTH, '{"vm":"name=one,vcpus=2,memory=1G"}');
  const b = await post(urls.app, '/api/v1/vms', AUTH, '{"vm":"name=two,vcpus=2,memory=1G"}');
  expect(taken - before).toBe(1);
  expect({ ...shape(a), name: 'x' }).toEqual({ ...shape(b), name: 'x' });
  expect(a.status).toBe(201);
  // The name is taken now, whichever path placed it.
  for (const name of ['one', 'two']) {
    const x = await post(urls.fast, '/api/v1/vms', AUTH, `{"vm":"name=${name},vcpus=1,memory=1G"}`);
    const y = await post(urls.app, '/api/v1/vms', AUTH, `{"vm":"name=${name},vcpus=1,memory=1G"}`);
    expect(x).toEqual(y);
    expect(x.status).toBe(409);
  }
  // Left to the app: a chunked body, a query string.
  const t0 = taken;
  expect((await post(urls.fast, '/api/v1/vms', AUTH, '{"vm":"name=three,vcpus=1,memory=1G"}', true)).status).toBe(201);
  expect((await post(urls.fast, '/api/v1/vms?x=1', AUTH, '{"vm":"name=four,vcpus=1,memory=1G"}')).status).toBe(201);
  expect(taken).toBe(t0);
});

it('counts each answer once in the metrics, as the app does', async () => {
  const count = async (): Promise<Map<string, number>> => {
    const r = await fetch(`${urls.app}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const m = new Map<string, number>();
    for (const line of (await r.text()).split('\n')) {
      const hit = /^numaplan_http_requests_total\{code="(\d+)"\} (\d+)$/.exec(line);
      if (hit) m.set(hit[1] as string, Number(hit[2]));
    }
    return m;
  };
  const before = await count();
  await post(urls.fast, '/api/v1/vms', AUTH, '{"vm":"name=counted,vcpus=1,memory=1G"}');
  await post(urls.fast, '/api/v1/vms', AUTH, '{"vm":"name=counted,vcpus=1,memory=1G"}');
  await post(urls.fast, '/api/v1/vms', { ...AUTH, authorization: 'Bearer wrong' }, '{}');
  const after = await count();
  const delta = (s: string): number => (after.get(s) ?? 0) - (before.get(s) ?? 0);
  expect([delta('201'), delta('409'), delta('403')]).toEqual([1, 1, 1]);
});

it('counts a client that goes away mid-body as an abort, and answers nothing', async () => {
  const metrics = async (): Promise<string> => (await fetch(`${urls.app}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const aborts = (text: string): number => Number(/^numaplan_client_aborts_total (\d+)$/m.exec(text)?.[1] ?? 0);
  const before = await metrics();
  const before1 = taken;
  const port = new URL(urls.fast).port;
  await new Promise<void>((resolve) => {
    const s = connect(Number(port), '127.0.0.1', () => {
      s.write(`POST /api/v1/vms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"vm":"name=cut,`);
      setTimeout(() => {
        s.destroy();
        resolve();
      }, 100);
    });
    s.on('error', () => undefined);
  });
  // The server learns of the close in its own time: wait for the count (bounded only against a broken path).
  for (let i = 0; i < 400 && aborts(await metrics()) === aborts(before); i++) await new Promise((r) => setTimeout(r, 10));
  const after = await metrics();
  expect(taken - before1).toBe(1);
  expect(aborts(after) - aborts(before)).toBe(1);
  // No answer was counted for it (the metrics scrapes are answered 200; nothing else ran).
  const errors = (text: string): number => [...text.matchAll(/^numaplan_http_requests_total\{code="[45]\d\d"\} (\d+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
  expect(errors(after)).toBe(errors(before));
  expect(await store.vm('cut')).toBeNull();
});
