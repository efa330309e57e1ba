/**
 * The page's client model (src/web/client/api-model.ts), the asset routes of serveWeb, and the rule
 * that keeps the browser modules loadable as they are: client/ and draw/ import only each other at
 * run time (anything from core is `import type`, erased by the compiler).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { inputForField, nextName, placeBody, specProblem, toFleetRow, toHostView, toPlaceAnswer, vmSpec } from '../src/web/client/api-model.js';
import { compiledWebDir, serveWeb } from '../src/web/serve.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { createHostState } from '../src/core/placement/state.js';

const fields = { name: 'web-1', vcpus: '4', memory: '8G', pages: '4K', numa: 'auto', devices: '' };

describe('client model', () => {
  it('builds the compact request, leaving defaults out', () => {
    expect(vmSpec(fields)).toBe('name=web-1,vcpus=4,memory=8G');
    expect(vmSpec({ ...fields, pages: '1G', numa: 'strict', devices: ' rdma-vf:1:required + gpu ' })).toBe(
      'name=web-1,vcpus=4,memory=8G,pages=1G,numa=strict,devices=rdma-vf:1:required+gpu',
    );
    expect(placeBody(fields, '')).toEqual({ vm: 'name=web-1,vcpus=4,memory=8G' });
    expect(placeBody(fields, 'h1')).toEqual({ vm: 'name=web-1,vcpus=4,memory=8G', host: 'h1' });
    expect(specProblem(fields)).toBeNull();
    expect(specProblem({ ...fields, memory: '8G,vcpus=99' })?.field).toBe('memory');
  });

  it('reads place answers: placed, refused, errors', () => {
    expect(toPlaceAnswer(201, { ok: true, host: 'h', status: 'committed', placement: { name: 'x' } })).toMatchObject({ kind: 'placed', host: 'h' });
    expect(toPlaceAnswer(200, { ok: false, reasons: [{ resource: 'cpus' }], hints: ['h'], hostsConsidered: 3 })).toMatchObject({
      kind: 'refused',
      hostsConsidered: 3,
    });
    expect(toPlaceAnswer(400, { error: { code: 'ERR_REQUEST', field: 'vm.vcpus', message: 'bad' } })).toEqual({
      kind: 'error',
      status: 400,
      code: 'ERR_REQUEST',
      field: 'vm.vcpus',
      message: 'bad',
    });
    expect(toPlaceAnswer(502, 'Bad gateway')).toMatchObject({ kind: 'error', code: 'HTTP 502', message: 'Bad gateway' });
  });

  it('maps error fields to form inputs', () => {
    expect(inputForField('vm.vcpus')).toBe('vcpus');
    expect(inputForField('pageSize')).toBe('pages');
    expect(inputForField('vm.devices[1].count')).toBe('devices');
    expect(inputForField('host')).toBeNull();
    expect(inputForField(null)).toBeNull();
    expect(nextName('vm-9')).toBe('vm-10');
    expect(nextName('db')).toBe('db-2');
  });

  it('reads host rows (nested or flat) and host details', () => {
    expect(toFleetRow({ name: 'a', source: 's', nodes: 2, cpus: { total: 4, free: 3 }, memory: { total: 8, free: 6 }, vms: 1 })).toEqual({
      name: 'a',
      source: 's',
      nodes: 2,
      cpus: { total: 4, free: 3 },
      memory: { total: 8, free: 6 },
      vms: 1,
    });
    expect(toFleetRow({ name: 'b', totalCpus: 4, freeCpus: 2, totalMemory: 8, freeMemory: 1 }).cpus).toEqual({ total: 4, free: 2 });
    const state = createHostState(getPreset('broadwell-2s')?.build() ?? (null as never));
    const alloc = { name: 'z', status: 'committed', cpus: [2], heldCpus: [], emulatorCpus: [], memory: [], devices: [], nodes: [0] };
    const d = toHostView({ name: 'h1', generation: 3, topology: state.topology, reserve: state.reserve, vms: [{ name: 'z', host: 'h1', status: 'claimed', allocation: alloc, placement: { explanation: { summary: 's' } } }] });
    expect(d.view.name).toBe('h1');
    expect(d.generation).toBe(3);
    expect(d.view.allocations[0]?.status).toBe('claimed');
    expect(d.vms[0]?.placement?.explanation?.summary).toBe('s');
    expect(() => toHostView({ name: 'x' })).toThrow(/topology/);
  });
});

describe('browser modules', () => {
  it('import only each other at run time', () => {
    for (const dir of ['client', 'draw']) {
      const root = join('src', 'web', dir);
      for (const file of readdirSync(root).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
        const text = readFileSync(join(root, file), 'utf8');
        for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)) {
          if (m[1]) continue;
          const spec = m[2] as string;
          expect(spec, `${dir}/${file}`).toMatch(/^\.\.?\/(?:(?:\.\.\/)?(?:client|draw)\/)?[a-z0-9-]+\.js$/);
          expect(spec, `${dir}/${file}`).not.toMatch(/core|node:/);
        }
      }
    }
  });
});

describe('serveWeb', () => {
  const app = new Hono();
  serveWeb(app);

  it('serves the page with a strict CSP and no external resources', async () => {
    const res = await app.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
    for (const id of ['f-name', 'f-vcpus', 'f-memory', 'f-pages', 'f-devices', 'f-numa', 'f-host']) {
      expect(html).toMatch(new RegExp(`<label for="${id}">`));
    }
    const css = await app.request('/web/style.css');
    expect(css.headers.get('content-type')).toContain('text/css');
  });

  it('serves the compiled scripts and nothing else', async () => {
    const bad = await Promise.all(['/web/client/..%2F..%2Fserve.js', '/web/core/model.js', '/web/client/Main.JS', '/web/draw/x.ts'].map((p) => app.request(p)));
    for (const r of bad) expect(r.status).toBe(404);
    const noBuild = new Hono();
    serveWeb(noBuild, { webDir: null });
    expect((await noBuild.request('/web/client/main.js')).status).toBe(503);
    if (compiledWebDir() === null) return; // not built: the 503 above is what the page gets
    const js = await app.request('/web/client/main.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(await js.text()).toContain('../draw/host-svg.js');
  });
});
