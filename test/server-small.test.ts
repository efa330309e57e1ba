/**
 * The small defects of the test campaign: a client that aborts mid-body is counted as an abort (no
 * 500, no stack trace in the log); `emulator=N` is honoured together with `cpus=`; the write token
 * comes from a file or the environment (for `serve` and `agent`) and is printed only when it was
 * generated; the data directory and its files are private to the service's user.
 */
import { serve } from '@hono/node-server';
import { Command } from 'commander';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerAgent } from '../src/cli/commands/agent.js';
import { registerServe } from '../src/cli/commands/serve.js';
import { captureIo } from './support/cli.js';
import { place } from '../src/core/placement/place.js';
import { parseVmSpec } from '../src/core/placement/request.js';
import { commitPlacement, createHostState } from '../src/core/placement/state.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { createApp } from '../src/server/app.js';
import { FleetService } from '../src/server/fleet-service.js';
import { openSqliteStore } from '../src/store/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-small-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const io = captureIo;

describe('a client that aborts mid-body', () => {
  it('is counted as an abort: no 500, no stack trace', async () => {
    const store = await openSqliteStore(join(dir, 'abort.db'));
    const service = new FleetService({ store, instance: 'abort' });
    const logged: string[] = [];
    const app = createApp({ service, token: 'abort-token-1234', web: false, log: (m) => logged.push(m) });
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    const port = (server.address() as AddressInfo).port;
    const head = (m: string, p: string, extra: string): string =>
      `${m} ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abort-token-1234\r\nContent-Type: application/json\r\n${extra}\r\n`;
    const cut = (text: string): Promise<void> =>
      new Promise((res) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(text);
          setTimeout(() => {
            s.destroy();
            res();
          }, 150);
        });
        s.on('error', () => undefined);
      });
    await cut(`${head('POST', '/api/v1/vms', 'Transfer-Encoding: chunked\r\n')}10\r\n{"vm":"name=a,vc`);
    await cut(`${head('PUT', '/api/v1/hosts/x', 'Transfer-Encoding: chunked\r\n')}10\r\n{"format":"pres`);
    await cut(`${head('POST', '/api/v1/explain', 'Content-Length: 1000\r\n')}{"vm":"name=a,`);
    await new Promise((r) => setTimeout(r, 300));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer abort-token-1234' } })).text();
    expect(metrics).toMatch(/^numaplan_client_aborts_total 3$/m);
    expect(metrics).not.toMatch(/numaplan_http_requests_total\{code="5\d\d"\}/);
    expect(metrics).not.toMatch(/numaplan_http_requests_total\{code="400"\}/);
    expect(logged.filter((l) => /internal error|\n\s+at /.test(l))).toEqual([]);
    await new Promise<void>((r) => server.close(() => r()));
    await service.close();
    await store.close();
  });
});

describe('emulator=N with cpus=', () => {
  const topo = getPreset('broadwell-2s')?.build();
  if (!topo) throw new Error('preset');

  it('reserves N emulator pCPUs beside the explicit vCPU pins, on their node, free ones only', () => {
    const req = parseVmSpec('name=p,vcpus=2,memory=2G,cpus=4,5,emulator=2');
    expect(req.emulator).toBe(2);
    const r = place(req, createHostState(topo));
    if (!r.ok) throw new Error(JSON.stringify(r.reasons));
    expect(r.placement.cpus).toEqual([4, 5]);
    expect(r.placement.emulatorCpus).toHaveLength(2);
    const node0 = new Set(topo.nodes[0]?.cpus);
    for (const c of r.placement.emulatorCpus) {
      expect([4, 5, 0, 20]).not.toContain(c); // not a vCPU, not the reserve
      expect(node0.has(c)).toBe(true);
    }
    // Held like the vCPUs: the next VM cannot take them.
    const state = commitPlacement(createHostState(topo), r.placement, req);
    const again = place(parseVmSpec(`name=q,vcpus=1,memory=1G,cpus=${r.placement.emulatorCpus[0]}`), state);
    expect(again.ok).toBe(false);
  });

  it('refuses, naming emulator-cpus, when the nodes of the pins have no free CPU left for them', () => {
    let state = createHostState(topo);
    // Fill node 1 but for the pinned CPU, then ask for an emulator pCPU beside it.
    const node1 = (topo.nodes[1]?.cpus ?? []).filter((c) => c !== 10);
    const fill = parseVmSpec(`name=fill,vcpus=${node1.length},memory=1G,cpus=${node1.join(',')}`);
    const f = place(fill, state);
    if (!f.ok) throw new Error(JSON.stringify(f.reasons));
    state = commitPlacement(state, f.placement, fill);
    const r = place(parseVmSpec('name=p,vcpus=1,memory=1G,cpus=10,emulator=1'), state);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reasons.map((x) => x.resource)).toContain('emulator-cpus');
  });
});

/** Runs `serve` until `during` finishes; returns what it printed. */
async function serveWhile(args: string[], during: (printed: () => string) => Promise<void>, env: Record<string, string> = {}): Promise<string> {
  const o = io();
  let stop: () => void = () => undefined;
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((r) => {
    listening = r;
  });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const program = new Command().exitOverride();
  registerServe(program, o, () => {
    listening();
    return new Promise<void>((r) => {
      stop = r;
    });
  });
  const run = program.parseAsync(['serve', ...args], { from: 'user' });
  try {
    await ready;
    await during(o.text);
  } finally {
    stop();
    await run;
    process.env = saved;
  }
  return o.text() + o.errors();
}

async function agent(args: string[], env: Record<string, string> = {}): Promise<ReturnType<typeof io>> {
  const a = io();
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const program = new Command().exitOverride();
    registerAgent(program, a);
    await program.parseAsync(['agent', ...args], { from: 'user' });
  } catch (err) {
    a.err(`${(err as Error).message}\n`);
    a.setExitCode((err as { code?: string }).code?.startsWith('ERR_') ? 2 : 1);
  } finally {
    process.env = saved;
  }
  return a;
}

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('the token and the data directory', () => {
  it('serve prints the token only when it generated it; the data directory and its files are private', async () => {
    const data = join(dir, 'data');
    let token = '';
    const first = await serveWhile(['--data', data, '--port', '0', '--json'], async (text) => {
      const info = JSON.parse(text().trim()) as { token?: string; tokenGenerated: boolean };
      expect(info.tokenGenerated).toBe(true);
      token = info.token ?? '';
    });
    expect(token.length).toBeGreaterThan(20);
    expect(first).toContain(token);
    expect(mode(data)).toBe(0o700);
    const files = readdirSync(data);
    expect(files).toEqual(expect.arrayContaining(['fleet.db', 'token']));
    for (const f of files) expect(mode(join(data, f)), f).toBe(0o600);
    // Later starts: the token is not printed (neither as text nor in the page's address), but where it is.
    const second = await serveWhile(['--data', data, '--port', '0'], async () => undefined);
    expect(second).not.toContain(token);
    expect(second).toContain(join(data, 'token'));
    const secondJson = await serveWhile(['--data', data, '--port', '0', '--json'], async () => undefined);
    expect(secondJson).not.toContain(token);
  }, 60_000);

  it('serve and agent take the token from a file or NUMAPLAN_TOKEN, and never print it', async () => {
    const tokenFile = join(dir, 'agent-token');
    writeFileSync(tokenFile, 'file-token-abcdefgh\n', { mode: 0o600 });
    const data = join(dir, 'data2');
    const printed = await serveWhile(['--data', data, '--port', '0', '--token-file', tokenFile, '--json'], async (text) => {
      const info = JSON.parse(text().trim()) as { url: string; token?: string };
      expect(info.token).toBeUndefined();
      const byFile = await agent(['--server', info.url, '--token-file', tokenFile, '--from', 'preset:ring-4s', '--name', 'ring']);
      expect(byFile.exitCode(), byFile.errors()).toBe(0);
      expect(byFile.text()).toContain('ring: registered');
      const byEnv = await agent(['--server', info.url, '--from', 'preset:ring-4s', '--name', 'ring'], { NUMAPLAN_TOKEN: 'file-token-abcdefgh' });
      expect(byEnv.exitCode(), byEnv.errors()).toBe(0);
      expect(byEnv.text()).toContain('ring: unchanged');
      const none = await agent(['--server', info.url, '--from', 'preset:ring-4s'], { NUMAPLAN_TOKEN: '' });
      expect(none.exitCode()).toBe(2);
      expect(none.errors()).toMatch(/--token-file|NUMAPLAN_TOKEN/);
    });
    expect(printed).not.toContain('file-token-abcdefgh');
    const byEnv = await serveWhile(['--data', join(dir, 'data3'), '--port', '0'], async () => undefined, { NUMAPLAN_TOKEN: 'env-token-abcdefgh' });
    expect(byEnv).not.toContain('env-token-abcdefgh');
    expect(byEnv).toMatch(/NUMAPLAN_TOKEN/);
  }, 60_000);
});
