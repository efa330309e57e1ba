/** `numaplan rdma perf`: in one process, and between two processes over the TCP connection exchange. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './support/cli.js';
import type { PerfResult } from '../src/rdma/perf.js';
import { nativeIoAvailable } from '../src/rdma/transport/udp.js';
import { REPO_ROOT } from './support/data.js';

/** Socket I/O kinds to run over: native too when built (always under CI, where a missing addon fails). */
const UDP_IO = nativeIoAvailable().available || process.env.CI === 'true' ? ['native', 'dgram'] : ['dgram'];

const run = (argv: string[]): Promise<CliResult> => runCli(argv);

describe('rdma perf', () => {
  it.each(['write', 'read', 'send', 'atomic'])('%s in one process over IPv6 loopback', async (op) => {
    const r = await run(['rdma', 'perf', '--op', op, '--size', '10000', '--iters', '200', '--tx-depth', '8', '--json']);
    expect(r.code, r.out + r.err).toBe(0);
    const res = JSON.parse(r.out) as PerfResult;
    expect(res.iters).toBe(200);
    expect(res.size).toBe(op === 'atomic' ? 8 : 10000);
    expect(res.bandwidthMBps).toBeGreaterThan(0);
    expect(res.latencyUs.p50).toBeGreaterThan(0);
    expect(res.latencyUs.p99).toBeGreaterThanOrEqual(res.latencyUs.p50);
  });

  it.each(UDP_IO)('--io %s: the run uses that socket I/O and says so', async (io) => {
    const r = await run(['rdma', 'perf', '--io', io, '--size', '65536', '--iters', '64', '--json']);
    expect(r.code, r.out + r.err).toBe(0);
    const res = JSON.parse(r.out) as PerfResult;
    expect(res.io).toBe(io);
    expect(res.bytes).toBe(64 * 65536);
    const t = await run(['rdma', 'perf', '--io', io, '--size', '8', '--iters', '10', '--tx-depth', '1']);
    expect(t.out).toMatch(new RegExp(`\\s${io}\\s*$`, 'm'));
  });

  it('prints a table, and rejects bad options with exit code 2', async () => {
    const r = await run(['rdma', 'perf', '--op', 'write', '--size', '8', '--iters', '100', '--tx-depth', '1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/op\s+bytes\s+iters/);
    const bad = await run(['rdma', 'perf', '--mtu', '1500', '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.out).error.path).toBe('--mtu');
    expect((await run(['rdma', 'perf', '--io', 'fast'])).code).toBe(2);
  });

  it('between two processes (server child, client here)', async () => {
    const perfUrl = pathToFileURL(join(REPO_ROOT, 'src', 'rdma', 'perf.ts')).href;
    const script = `const { perfServe } = await import(${JSON.stringify(perfUrl)});
await perfServe({ op: 'write', size: 65536, iters: 1, txDepth: 16, mtu: 4096 }, { address: '::1', udpPort: 0, tcpPort: 0 }, (p) => console.log('PORT ' + p));
console.log('DONE');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const seen: string[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      lines.on('line', (l) => {
        seen.push(l);
        const m = /^PORT (\d+)$/.exec(l);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (c) => reject(new Error(`server exited ${c}: ${seen.join('\n')}`)));
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    for (const op of ['write']) {
      const r = await run(['rdma', 'perf', '--connect', '::1', '--port', String(port), '--op', op, '--size', '65536', '--iters', '300', '--json']);
      expect(r.code, r.out).toBe(0);
      const res = JSON.parse(r.out) as PerfResult;
      expect(res.bytes).toBe(300 * 65536);
      expect(res.bandwidthMBps).toBeGreaterThan(1);
    }
    expect(await exited).toBe(0);
    expect(seen).toContain('DONE');
  });
});
