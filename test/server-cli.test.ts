/**
 * `numaplan serve` and `numaplan agent` through their commander registrations (main.ts wires them):
 * serve --demo registers this machine and presets and prints the URL and a generated token that is
 * kept for the next start (and not printed again); the agent registers a host, then finds it unchanged.
 */
import { Command } from 'commander';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerAgent } from '../src/cli/commands/agent.js';
import { registerServe } from '../src/cli/commands/serve.js';
import type { Io } from '../src/cli/io.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-cli-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function io(): Io & { text: () => string; errors: () => string } {
  let out = '';
  let err = '';
  let code = 0;
  return {
    version: 'test',
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    setExitCode: (c) => {
      code = c;
    },
    exitCode: () => code,
    text: () => out,
    errors: () => err,
  };
}

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
});
