/**
 * `numaplan serve` and `numaplan agent` through their commander registrations (main.ts wires them):
 * serve --demo registers this machine and presets and prints the URL and a generated token that is
 * kept for the next start (and not printed again); the agent registers a host, then finds it unchanged.
 */
import { Command } from 'commander';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerAgent } from '../src/cli/commands/agent.js';
import { registerHost } from '../src/cli/commands/host.js';
import { writeSysfsTree } from '../src/adapters/sysfs-writer/write-sysfs-tree.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { registerServe } from '../src/cli/commands/serve.js';
import { captureIo } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-cli-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const io = captureIo;

/** Runs `serve` until `during` finishes; returns what it printed. */
async function serveWhile(args: string[], during: (printed: () => string) => Promise<void>): Promise<string> {
  const o = io();
  let stop: () => void = () => undefined;
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((r) => {
    listening = r;
  });
  const program = new Command().exitOverride();
  registerServe(program, o, () => {
    listening();
    return new Promise<void>((r) => {
      stop = r;
    });
  });
  const run = program.parseAsync(['serve', ...args], { from: 'user' });
  await ready;
  try {
    await during(o.text);
  } finally {
    stop();
    await run;
  }
  return o.text();
}

describe('numaplan serve / agent', () => {
  it('serve --demo prints the URL and a new token; the agent registers a host', async () => {
    const data = join(dir, 'd1');
    const printed = await serveWhile(['--data', data, '--port', '0', '--demo', '--json'], async (text) => {
      const info = JSON.parse(text().trim()) as { url: string; token: string; demoHosts: string[] };
      expect(info.demoHosts).toContain('demo-epyc-nps4');
      const hosts = (await (await fetch(`${info.url}/api/v1/hosts`)).json()) as { hosts: { name: string }[] };
      expect(hosts.hosts.length).toBe(info.demoHosts.length);
      const a = io();
      const agent = new Command().exitOverride();
      registerAgent(agent, a);
      await agent.parseAsync(['agent', '--server', info.url, '--token', info.token, '--from', 'preset:ring-4s', '--name', 'ring'], { from: 'user' });
      expect(a.text()).toContain('ring: registered');
      const again = io();
      const agent2 = new Command().exitOverride();
      registerAgent(agent2, again);
      await agent2.parseAsync(['agent', '--server', info.url, '--token', info.token, '--from', 'preset:ring-4s', '--name', 'ring', '--once'], { from: 'user' });
      expect(again.text()).toContain('ring: unchanged');
      // With a probe result: the topology is posted with its measured matrix.
      const probe = join(dir, 'ring-probe.json');
      const lat = [0, 1, 2, 3].map((a) => [0, 1, 2, 3].map((b) => (a === b ? 100 : 150 + 10 * Math.abs(a - b))));
      writeFileSync(probe, JSON.stringify({ schema: 'numaplan.probe/v1', hostname: 'ring', measuredAt: '2025-01-01T00:00:00Z', method: 'test', nodes: [0, 1, 2, 3], latency: lat, bandwidth: lat, verified: true }));
      const cal = io();
      const agent4 = new Command().exitOverride();
      registerAgent(agent4, cal);
      await agent4.parseAsync(['agent', '--server', info.url, '--token', info.token, '--from', 'preset:ring-4s', '--name', 'ring', '--calibration', probe], { from: 'user' });
      expect(cal.text()).toContain('ring: updated');
      const detail = (await (await fetch(`${info.url}/api/v1/hosts/ring`, { headers: { authorization: `Bearer ${info.token}` } })).json()) as { topology: { calibration?: { latency: number[][] } } };
      expect(detail.topology.calibration?.latency).toEqual(lat);
      const bad = io();
      const agent3 = new Command().exitOverride();
      registerAgent(agent3, bad);
      await agent3.parseAsync(['agent', '--server', info.url, '--token', 'wrong-token-1234', '--from', 'preset:ring-4s'], { from: 'user' });
      expect(bad.exitCode()).toBe(2);
      expect(bad.errors()).toContain('ERR_FORBIDDEN');
    });
    const token = JSON.parse(printed.trim()).token as string;
    expect(readFileSync(join(data, 'token'), 'utf8').trim()).toBe(token);
    // Second start: the same token, kept where it was and not printed again.
    const second = await serveWhile(['--data', data, '--port', '0'], async () => undefined);
    expect(second).toContain(`token:     kept in ${join(data, 'token')} (not printed)`);
    expect(second).not.toContain(token);
  }, 60_000);

  it('host prep --server judges against the VMs the service holds for the host, and posts what it changed', async () => {
    // A generated sysfs tree stands for the host (--root): no root needed, nothing of this machine changes.
    const topo = getPreset('ring-4s')?.build();
    if (!topo) throw new Error('preset missing');
    const root = join(dir, 'ring-tree');
    writeSysfsTree(topo, root);
    const pool1 = join(root, 'sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages');
    const before = Number(readFileSync(pool1, 'utf8'));
    await serveWhile(['--data', join(dir, 'd2'), '--port', '0', '--json'], async (text) => {
      const info = JSON.parse(text().trim()) as { url: string; token: string };
      const prep = async (...args: string[]) => {
        const o = io();
        const p = new Command().exitOverride();
        registerHost(p, o);
        await p.parseAsync(['host', 'prep', '--root', root, '--server', info.url, '--token', info.token, '--name', 'r4', '--json', ...args], { from: 'user' });
        return { code: o.exitCode(), json: JSON.parse(o.text()) as Record<string, any>, err: o.errors() };
      };
      const first = await prep('--hugepages', `2M:${before + 64}@1`, '--apply');
      expect(first.code, first.err).toBe(0);
      expect(first.json).toMatchObject({ ok: true, applied: true, recorded: `${info.url} (host r4)`, changes: [{ kind: 'hugepages', node: 1, to: before + 64, status: 'changed' }] });
      expect(Number(readFileSync(pool1, 'utf8'))).toBe(before + 64);
      const auth = { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' };
      const host = (await (await fetch(`${info.url}/api/v1/hosts/r4`, { headers: auth })).json()) as { topology: { nodes: { id: number; hugePages: { pageSize: number; total: number }[] }[] } };
      expect(host.topology.nodes[1]?.hugePages.find((p) => p.pageSize === 2 << 20)?.total).toBe(before + 64);
      const placed = (await (await fetch(`${info.url}/api/v1/vms`, { method: 'POST', headers: auth, body: JSON.stringify({ vm: 'name=big,vcpus=2,memory=64M,pages=2M,nodes=1', host: 'r4' }) })).json()) as { placement: { cpus: number[] } };
      const shrink = await prep('--hugepages', '2M:8@1', '--apply');
      expect(shrink.code).toBe(1);
      expect(shrink.json).toMatchObject({ ok: false, applied: false, refusals: [{ vm: 'big', resource: 'hugepages-2M', node: 1 }] });
      expect(Number(readFileSync(pool1, 'utf8'))).toBe(before + 64);
      const cpu = await prep('--reserve-cpus', String(placed.placement.cpus[0]), '--apply');
      expect(cpu.code).toBe(1);
      expect(cpu.json.refusals[0]).toMatchObject({ vm: 'big', resource: `cpu:${placed.placement.cpus[0]}` });
      const again = await prep('--hugepages', `2M:${before + 64}@1`, '--apply');
      expect(again.json).toMatchObject({ ok: true, changes: [], recorded: null });
    });
  }, 60_000);
});

