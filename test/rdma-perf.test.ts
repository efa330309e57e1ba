/** `numaplan rdma perf` with both ends in one process (two processes and perftest's tests: rdma-tools.test.ts). */
import { describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './support/cli.js';
import type { PerfResult } from '../src/rdma/perf.js';
import { nativeIoAvailable } from '../src/rdma/transport/udp.js';

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
});
