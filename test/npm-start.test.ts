/**
 * The README's main command, `npm start`, really started: it serves, and stopping it stops the
 * service too, whether npm is asked to stop (SIGTERM, as a terminal or a supervisor does) or is killed
 * outright (the service notices that its parent is gone). Nothing stays behind on the port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-npm-start-'));
const started = new Set<ChildProcess>();
afterAll(() => {
  for (const c of started) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** `npm start -- --port 0 --json` with its own data directory; resolves with npm's process and the service URL. */
async function npmStart(name: string): Promise<{ npm: ChildProcess; url: string }> {
  const npm = spawn('npm', ['start', '--silent', '--', '--port', '0', '--json', '--data', join(dir, name)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, XDG_DATA_HOME: join(dir, name, 'xdg') },
  });
  started.add(npm);
  let out = '';
  const url = await new Promise<string>((ok, fail) => {
    npm.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) ok((JSON.parse(line) as { url: string }).url);
    });
    npm.stderr?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    npm.once('exit', (code) => fail(new Error(`npm start exited (${code}) before serving:\n${out}`)));
  });
  return { npm, url };
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/health`)).ok;
  } catch {
    return false;
  }
}

/** Resolves once nothing answers at `url` any more; throws after `capMs`. */
async function untilDown(url: string, capMs = 60_000): Promise<void> {
  const start = performance.now();
  while (await answers(url)) {
    if (performance.now() - start > capMs) throw new Error(`the service at ${url} still answers ${capMs / 1000} s after npm stopped`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('npm start', () => {
  it('serves, and SIGTERM to npm stops the service', async () => {
    const { npm, url } = await npmStart('term');
    expect(await answers(url)).toBe(true);
    const exited = new Promise((r) => npm.once('exit', r));
    npm.kill('SIGTERM');
    await exited;
    await untilDown(url);
    expect(await answers(url)).toBe(false);
  }, 120_000);

  it('a service whose npm was killed (SIGKILL) stops on its own', async () => {
    const { npm, url } = await npmStart('kill');
    expect(await answers(url)).toBe(true);
    npm.kill('SIGKILL');
    await untilDown(url);
    expect(await answers(url)).toBe(false);
  }, 120_000);
});
