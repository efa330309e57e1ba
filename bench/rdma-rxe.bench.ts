/**
 * The same tools against Linux's soft-RoCE (rxe), in a guest (test/support/rxe-guest.ts: rxe0 on
 * one end of a veth, numaplan in its own network namespace on the other; IPv6 GIDs; path MTU 4096
 * on jumbo frames). The guest runs under TCG here, so its figures say nothing about hardware and
 * are meaningful only as ratios to rxe in the same guest, in the same run:
 *
 *   write bw, rxe <-> rxe            ib_write_bw server and client on rxe0 (two QPs of one device:
 *                                    rxe hands such packets from QP to QP without the network stack)
 *   write bw, numaplan -> rxe        numaplan rdma perf write_bw client, ib_write_bw server
 *   write bw, rxe -> numaplan        ib_write_bw client, numaplan rdma perf write_bw server
 *   write lat, rxe <-> rxe           ib_write_lat, 8 bytes, both ends on rxe0
 *   write lat, numaplan <-> rxe      numaplan rdma perf write_lat client, ib_write_lat server
 *
 * Bandwidth rows: 200 WRITEs of 64 KiB, reported as the time per MiB of the tool's average bandwidth
 * (MB = 2^20 bytes), as the client measured it (numaplan's client measures as perftest does: first
 * post to last completion). Latency rows: ib_write_lat's t_typical (half the round trip's median)
 * as the rxe side's ib_write_lat reports it, over 1000 round trips. One sample per run; runs are
 * interleaved rounds, so load on the machine hits every row alike.
 */
import { type Guest, bootGuest } from '../test/support/guest/index.js';
import { EXCHANGE, IN_NS, NUMAPLAN, RXE_MODULES, RXE_SHAPE, type Side, runPair, setupRxeNetwork } from '../test/support/rxe-guest.js';
import type { BenchContext, BenchSuite } from './lib/types.js';
import { hasCommand } from './lib/process.js';

let guest: Guest | null = null;
let gid6 = -1;
const BW = '-s 65536 -n 200 -m 4096';
const LAT = '-s 8 -n 1000 -m 4096';
/** The MB/s and microseconds behind each sample, logged at teardown. */
const figures = new Map<string, number[]>();

async function run(name: string, server: { cmd: string; ns: Side }, client: string): Promise<{ server: string; client: string }> {
  if (!guest) throw new Error('the guest did not boot');
  const r = await runPair(guest, server, client);
  if (r.server.code !== 0 || r.client.code !== 0) {
    const tail = (x: { stdout: string; stderr: string }) => `${x.stdout}\n${x.stderr}`.trim().split('\n').slice(-4).join(' / ');
    throw new Error(`${name}: server exit ${r.server.code} (${tail(r.server)}); client exit ${r.client.code} (${tail(r.client)})`);
  }
  return { server: r.server.stdout, client: r.client.stdout };
}

/** perftest's bandwidth report line: size, iterations, peak, average (MB/s), message rate. */
function toolBw(out: string): number {
  const m = /^ 65536 +\d+ +[\d.]+ +([\d.]+)/m.exec(out);
  if (!m) throw new Error(`no ib_write_bw report line in: ${out.slice(-500)}`);
  return Number(m[1]);
}

/** ib_write_lat's report line: t_min, t_max, t_typical (microseconds). */
function toolLat(out: string): number {
  const m = /^ 8 +\d+ +[\d.]+ +[\d.]+ +([\d.]+)/m.exec(out);
  if (!m) throw new Error(`no ib_write_lat report line in: ${out.slice(-500)}`);
  return Number(m[1]);
}

function record(name: string, v: number): void {
  figures.set(name, [...(figures.get(name) ?? []), v]);
}

/** Milliseconds per MiB at `mbps` MB/s. */
const perMiB = (name: string, mbps: number): number[] => {
  record(`${name} (MB/s)`, mbps);
  return [1000 / mbps];
};
const lat = (name: string, us: number): number[] => {
  record(`${name} (us)`, us);
  return [us / 1000];
};

const tool = (args: string, peer = '') => `exec ib_${args}${peer ? ` ${peer}` : ''}`;
const numaplan = (args: string) => `exec ${IN_NS} ${NUMAPLAN} ${args}`;

export const suite: BenchSuite = {
  name: 'rdma-rxe',
  description: 'numaplan against Linux rxe in a TCG guest: ib_write_bw and ib_write_lat, rxe <-> rxe vs numaplan <-> rxe (ratios only)',
  runs: 5,
  setup: async (ctx: BenchContext) => {
    for (const t of ['qemu-system-x86_64', 'ib_write_bw', 'ib_write_lat']) if (!hasCommand(t)) throw new Error(`${t} is not installed`);
    ctx.log('rdma-rxe: booting the guest');
    guest = await bootGuest(RXE_SHAPE, { modules: RXE_MODULES, commandTimeoutMs: 240_000 });
    gid6 = (await setupRxeNetwork(guest))[6];
  },
  cases: [
    {
      name: 'write bw, rxe <-> rxe (ms per MiB)',
      alias: 'rxe write',
      process: true,
      selfTimed: true,
      run: async () => {
        const r = await run('rxe write', { cmd: tool(`write_bw -d rxe0 -x ${gid6} ${BW}`), ns: 'rxe' }, tool(`write_bw -d rxe0 -x ${gid6} ${BW}`, EXCHANGE.rxe));
        return perMiB('write bw, rxe <-> rxe', toolBw(r.client));
      },
    },
    {
      name: 'write bw, numaplan -> rxe (ms per MiB)',
      baseline: 'write bw, rxe <-> rxe (ms per MiB)',
      process: true,
      selfTimed: true,
      run: async () => {
        const r = await run('numaplan -> rxe', { cmd: tool(`write_bw -d rxe0 -x ${gid6} ${BW}`), ns: 'rxe' }, numaplan(`rdma perf write_bw --local fd00::2 ${BW} --json ${EXCHANGE.rxe}`));
        const row = (JSON.parse(r.client) as { rows: { bwAvg: number }[] }).rows[0];
        if (!row) throw new Error('numaplan reported no row');
        return perMiB('write bw, numaplan -> rxe', row.bwAvg);
      },
    },
    {
      name: 'write bw, rxe -> numaplan (ms per MiB)',
      baseline: 'write bw, rxe <-> rxe (ms per MiB)',
      process: true,
      selfTimed: true,
      run: async () => {
        const r = await run('rxe -> numaplan', { cmd: numaplan(`rdma perf write_bw --local fd00::2 ${BW} --json`), ns: 'np' }, tool(`write_bw -d rxe0 -x ${gid6} ${BW}`, EXCHANGE.np));
        return perMiB('write bw, rxe -> numaplan', toolBw(r.client));
      },
    },
    {
      name: 'write lat 8 B, rxe <-> rxe (t_typical)',
      alias: 'rxe lat',
      process: true,
      selfTimed: true,
      run: async () => {
        const r = await run('rxe lat', { cmd: tool(`write_lat -d rxe0 -x ${gid6} ${LAT}`), ns: 'rxe' }, tool(`write_lat -d rxe0 -x ${gid6} ${LAT}`, EXCHANGE.rxe));
        return lat('write lat, rxe <-> rxe', toolLat(r.server));
      },
    },
    {
      name: 'write lat 8 B, numaplan <-> rxe (t_typical)',
      baseline: 'write lat 8 B, rxe <-> rxe (t_typical)',
      process: true,
      selfTimed: true,
      run: async () => {
        const r = await run('numaplan lat', { cmd: tool(`write_lat -d rxe0 -x ${gid6} ${LAT}`), ns: 'rxe' }, numaplan(`rdma perf write_lat --local fd00::2 ${LAT} --json ${EXCHANGE.rxe}`));
        return lat('write lat, numaplan <-> rxe', toolLat(r.server));
      },
    },
  ],
  teardown: async () => {
    for (const [name, v] of figures) {
      const s = [...v].sort((a, b) => a - b);
      console.error(`rdma-rxe: ${name}: median ${s[Math.floor(s.length / 2)]?.toFixed(2)} over ${s.length} runs (${v.map((x) => x.toFixed(2)).join(', ')})`);
    }
    await guest?.close();
    guest = null;
  },
};
