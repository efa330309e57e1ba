/**
 * Runs a scenario in a private network namespace (`unshare -n`, root only): its own loopback
 * with the addresses below, where endpoints can bind the real RoCE port 4791 without meeting any
 * other process of the host, and where dumpcap records what crosses the wire. Missing root or
 * unshare means skipped outside CI and a failure under CI=true (.ci/run runs as root).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_CI, REPO_ROOT } from './data.js';
import { collect } from './process.js';

/** Addresses on the namespace's loopback. */
export const NETNS_ADDRESSES = { v6a: 'fd00::1', v6b: 'fd00::2', v4a: '10.7.0.1', v4b: '10.7.0.2', rxeResponder: '10.1.16.61', rxeRequester: '10.1.16.62', exchangeA: '169.254.7.1', exchangeB: '169.254.7.2' } as const;

let cached: boolean | null = null;

/** True when this process can create network namespaces; throws under CI when it cannot. */
export function netnsAvailable(): boolean {
  if (cached === null) {
    const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8' });
    cached = r.status === 0;
    if (!cached) {
      const why = `private network namespaces are unavailable (unshare -n: ${(r.stderr || r.error?.message || '').trim()}; needs root)`;
      if (IN_CI) throw new Error(`${why}; CI=true requires them`);
      console.warn(`SKIPPED: ${why}`);
    }
  }
  return cached;
}

/** What a scenario printed (its last stdout line is JSON), and the folder it wrote its capture to. */
export interface ScenarioRun {
  result: Record<string, unknown>;
  dir: string;
  pcap: string;
  stderr: string;
}

/** Runs test/support/netns-scenario.ts `name` in a fresh namespace. */
export async function runScenario(name: string, timeoutMs = 180_000): Promise<ScenarioRun> {
  const dir = mkdtempSync(join(tmpdir(), `numaplan-netns-${name}-`));
  const a = NETNS_ADDRESSES;
  const setup = [
    'set -e',
    'ip link set lo up',
    `ip -6 addr add ${a.v6a}/128 dev lo nodad`,
    `ip -6 addr add ${a.v6b}/128 dev lo nodad`,
    `ip addr add ${a.v4a}/32 dev lo`,
    `ip addr add ${a.v4b}/32 dev lo`,
    `ip addr add ${a.rxeResponder}/32 dev lo`,
    `ip addr add ${a.rxeRequester}/32 dev lo`,
    `ip addr add ${a.exchangeA}/32 dev lo`,
    `ip addr add ${a.exchangeB}/32 dev lo`,
    `exec "${process.execPath}" --import tsx "${join(REPO_ROOT, 'test', 'support', 'netns-scenario.ts')}" "${name}" "${dir}"`,
  ].join('\n');
  const child = spawn('unshare', ['-n', '--', 'sh', '-c', setup], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const { code, out, err } = await collect(child, { timeoutMs });
  const last = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0) throw new Error(`scenario ${name} exited with ${code}:\n${out}\n${err}`);
  try {
    return { result: JSON.parse(last) as Record<string, unknown>, dir, pcap: join(dir, 'wire.pcap'), stderr: err };
  } catch {
    throw new Error(`scenario ${name} printed no result:\n${out}\n${err}`);
  }
}
