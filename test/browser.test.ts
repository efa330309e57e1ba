/**
 * Browser proof of the fleet page: the real service (`numaplan serve --demo` when the CLI has the
 * command, else the same service started in-process through `runService`) on a free loopback port
 * with a temporary data directory and a token; Debian's Chromium driven by playwright-core with a
 * fresh profile opens the page, places a VM through the form, and sees its PUs marked on the host
 * drawing (checked against the VM's CPUs from the API). Also: a refusal and a bad field through the
 * form, the explanation on click and by keyboard, no script errors. The screenshot is kept in
 * test-artifacts/ (git-ignored).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledWebDir } from '../src/web/serve.js';
import { tool } from './support/tools.js';

const HAVE_CHROMIUM = tool('chromium');
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin', 'numaplan.js');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const TOKEN = `browser-${process.pid}-token`;
const HOST = 'demo-epyc-nps4';
const VM = 'browser-vm';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** True when dist/web lacks a compiled page module or one is older than its source. */
function webBuildStale(): boolean {
  const dist = compiledWebDir();
  if (dist === null) return true;
  for (const dir of ['client', 'draw']) {
    for (const file of readdirSync(join(ROOT, 'src', 'web', dir)).filter((f) => f.endsWith('.ts'))) {
      const js = join(dist, dir, file.replace(/\.ts$/, '.js'));
      if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(ROOT, 'src', 'web', dir, file)).mtimeMs) return true;
    }
  }
  return false;
}

interface Service {
  url: string;
  how: string;
  stop(): Promise<void>;
}

/** True when the built CLI has `serve` with the flags this test passes. */
function cliServe(): boolean {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'commands', 'serve.js'))) return false;
  const r = spawnSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 && ['--demo', '--host', '--port', '--token', '--data'].every((f) => r.stdout.includes(f));
}

async function startCli(data: string): Promise<Service> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--demo', '--host', '127.0.0.1', '--port', '0', '--data', data, '--token', TOKEN], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`numaplan serve printed no URL in 60 s:\n${out}`)), 60_000);
    const read = (b: Buffer): void => {
      out += b.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok(m[0]);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => fail(new Error(`numaplan serve exited ${code}:\n${out}`)));
  });
  return {
    url,
    how: 'numaplan serve --demo',
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

async function startInProcess(data: string): Promise<Service> {
  const { runService } = await import('../src/server/start.js');
  const running = await runService({ data, port: 0, host: '127.0.0.1', token: TOKEN, demo: true, sweepSeconds: 0 });
  return { url: running.url, how: 'runService (in-process)', stop: () => running.close() };
}

describe.skipIf(!HAVE_CHROMIUM)('web page in Chromium', () => {
  let dataDir: string;
  let profile: string;
  let service: Service;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  const api = async (path: string): Promise<unknown> => {
    const res = await fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return res.json();
  };

  beforeAll(async () => {
    if (webBuildStale()) {
      // `npm test` builds first; a local run after editing the page rebuilds so it tests the current code
      const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { encoding: 'utf8' });
      if (webBuildStale()) throw new Error(`the page scripts could not be built:\n${r.stdout}${r.stderr}`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'numaplan-web-data-'));
    profile = mkdtempSync(join(tmpdir(), 'numaplan-web-profile-'));
    service = cliServe() ? await startCli(dataDir) : await startInProcess(dataDir);
    console.log(`browser test: service by ${service.how} at ${service.url}`);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 1000 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  });

  afterAll(async () => {
    await context?.close();
    await service?.stop();
    for (const dir of [dataDir, profile]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the fleet and a host drawing', async () => {
    await page.goto(`${service.url}/#token=${TOKEN}`);
    await page.waitForSelector(`.fleet .host-link[data-host="${HOST}"]`);
    expect(page.url()).not.toContain(TOKEN); // the token leaves the address bar
    await page.click(`.host-link[data-host="${HOST}"]`);
    await page.waitForSelector('#host-h:has-text("demo-epyc-nps4")');
    expect(await page.locator('.host-svg .pu').count()).toBe(384);
    expect(await page.locator('.heatmap td.heat').count()).toBe(64);
  });

  it('places a VM through the form and draws its PUs on the host', async () => {
    await page.fill('#f-name', VM);
    await page.fill('#f-vcpus', '6');
    await page.fill('#f-memory', '16G');
    await page.selectOption('#f-pages', '2M');
    await page.selectOption('#f-host', HOST);
    await page.click('#place-button');
    await page.waitForSelector('#answer .answer.placed');
    await page.waitForSelector(`.host-svg .pu.sel[data-vm="${VM}"]`);
    const vm = (await api(`/api/v1/vms/${VM}`)) as { host: string; allocation: { cpus: number[] } };
    expect(vm.host).toBe(HOST);
    const marked = await page.$$eval(`.host-svg .pu[data-vm="${VM}"]`, (els) => els.map((e) => Number(e.getAttribute('data-cpu'))));
    expect(marked.sort((a, b) => a - b)).toEqual([...vm.allocation.cpus].sort((a, b) => a - b));
    await expect.poll(() => page.locator(`.vms tr[data-vm="${VM}"]`).count()).toBe(1);
    expect(await page.textContent('#explain')).toContain('Why it sits here');
    await page.screenshot({ path: join(ARTIFACTS, 'browser-place.png'), fullPage: true });
  });

  it('shows the explanation from the keyboard', async () => {
    await page.click('#close-explain');
    expect(await page.locator('#explain .explanation').count()).toBe(0);
    await page.focus(`.vms button.vm-link[data-vm="${VM}"]`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#explain .explanation');
    expect(await page.textContent('#explain')).toContain(`${VM} on ${HOST}`);
  });

  it('shows a refusal with reasons and hints, and a bad field marked', async () => {
    await page.fill('#f-name', 'too-big');
    await page.fill('#f-vcpus', '4000');
    await page.click('#place-button');
    await page.waitForSelector('#answer .answer.refused');
    expect(await page.locator('#answer .reasons li').count()).toBeGreaterThan(0);
    await page.fill('#f-vcpus', '2');
    await page.fill('#f-memory', 'lots');
    await page.click('#place-button');
    await page.waitForSelector('#answer .answer.error');
    expect(await page.getAttribute('#f-memory', 'aria-invalid')).toBe('true');
    expect(problems.filter((p) => !/status of 4\d\d/.test(p))).toEqual([]);
  });

  it("draws a host's rebalancing plan as arrows between its nodes, the same transfers the API plans", async () => {
    const send = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
      const res = await fetch(`${service.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: await res.json() };
    };
    // EPYC NPS4 with a filler on every node, `spread` over two nodes; a filler off its nodes leaves.
    expect((await send('PUT', '/api/v1/hosts/rebal', { format: 'preset', topology: 'epyc-2s-nps4' })).status).toBe(201);
    for (let n = 0; n < 8; n++) expect((await send('POST', '/api/v1/vms', { host: 'rebal', vm: `name=rf${n},vcpus=40,memory=16G,smt=prefer` })).status).toBe(201);
    const spread = await send('POST', '/api/v1/vms', { host: 'rebal', vm: 'name=spread,vcpus=12,memory=24G,smt=prefer' });
    const nodes: number[] = spread.json.placement.nodes;
    expect(nodes).toHaveLength(2);
    const vms = (await send('GET', '/api/v1/vms?host=rebal')).json.vms as { name: string; allocation: { nodes: number[] } }[];
    const leaving = vms.find((v) => v.name.startsWith('rf') && !nodes.includes(v.allocation.nodes[0] as number)) as { name: string };
    expect((await send('DELETE', `/api/v1/vms/${leaving.name}`)).status).toBe(200);
    const planned = (await send('POST', '/api/v1/hosts/rebal/rebalance', { horizon: '1h', rate: '1G/s' })).json.plan as { moves: { step: number; vms: { vm: string; memory: { from: number; to: number; bytes: number }[] }[] }[] };
    const transfers = planned.moves.flatMap((m) => m.vms.flatMap((v) => v.memory.map((t) => [m.step, v.vm, t.from, t.to, t.bytes])));
    expect(transfers.length).toBeGreaterThan(0);

    await page.goto(`${service.url}/?host=rebal#token=${TOKEN}`);
    await page.waitForSelector('#host-h:has-text("rebal")');
    await page.selectOption('#p-horizon', '1h');
    await page.click('#plan-button');
    await page.waitForSelector('#plan .plan-svg');
    expect(await page.locator('.plan-svg .plan-node').count()).toBe(8);
    const arrows = await page.$$eval('.plan-svg .plan-arrow.memory', (els) =>
      els.map((e) => [Number(e.getAttribute('data-step')), e.getAttribute('data-vm'), Number(e.getAttribute('data-from')), Number(e.getAttribute('data-to')), Number(e.getAttribute('data-bytes'))]),
    );
    expect(arrows).toEqual(transfers);
    // Each arrow is drawn (a real curve with an arrowhead) and says what it is in its title.
    const box = await page.locator('.plan-svg .plan-arrow.memory').first().boundingBox();
    expect((box?.width ?? 0) + (box?.height ?? 0)).toBeGreaterThan(20);
    expect(await page.locator('.plan-svg .plan-arrow.memory title').first().textContent()).toMatch(/^step 1 \(narrow\): spread, 12 GiB of memory from node \d to node \d$/);
    expect(await page.locator('#plan .plan-steps li').count()).toBe(planned.moves.length);
    expect(await page.textContent('#plan')).toContain('A dry run: nothing was changed');
    await page.locator('#plan').screenshot({ path: join(ARTIFACTS, 'browser-plan.png') });

    // Kept, then applied from the page: the service moves spread (the host drawing shows it on its one
    // node), holds what it left until the step is reported done on the host, and the page says so.
    await page.click('#plan-keep');
    await page.waitForSelector('#stored-plan .stored-plan[data-status="proposed"]');
    expect(await page.textContent('#stored-plan .plan-commands')).toContain('virsh numatune spread');
    const id = await page.getAttribute('#stored-plan .stored-plan', 'data-plan');
    expect((await send('GET', `/api/v1/plans/${id}`)).json.status).toBe('proposed');
    await page.click('#plan-apply');
    await page.waitForSelector('#stored-plan .stored-plan[data-status="applied"]');
    const moved = (await send('GET', '/api/v1/vms/spread')).json.allocation as { cpus: number[]; nodes: number[] };
    expect(moved.nodes).toHaveLength(1);
    const hold = `hold-${id}-1`;
    expect((await send('GET', `/api/v1/vms/${hold}`)).json.status).toBe('claimed');
    // The host drawing was redrawn with spread on its new CPUs.
    await page.waitForSelector(`#host-drawing [data-cpu="${moved.cpus[0]}"][data-vm="spread"]`);
    await page.click('#stored-plan .plan-done');
    await page.waitForSelector('#stored-plan .plan-applied li:has-text("done on the host")');
    expect((await send('GET', `/api/v1/vms/${hold}`)).status).toBe(404);
    expect(problems.filter((p) => !/status of 4\d\d/.test(p))).toEqual([]);
  });
});
