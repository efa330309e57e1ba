/**
 * numaplan's RoCE v2 endpoint against the real thing: Linux's soft-RoCE (rxe) driven by rdma-core's
 * ibv_rc_pingpong and perftest's ib_write_bw, ib_read_bw, ib_send_bw, ib_atomic_bw and ib_write_lat,
 * in a guest booted once for the whole suite (this machine's kernel has no rdma_rxe).
 *
 * The wire: a veth pair, rxe0 on v0 in the guest's initial network namespace (rxe's UDP socket lives
 * only there), numaplan on v1 in a namespace of its own. The tools' TCP exchange goes over IPv4
 * link-local addresses (169.254.7.1 rxe's side, 169.254.7.2 numaplan's); the RoCE traffic over the
 * GIDs of IPv6 ULA addresses (fd00::1, fd00::2), and again over IPv4 GIDs (::ffff:169.254.7.x) with
 * numaplan's raw IPv4 I/O. Jumbo frames (MTU 9000) let one run use a 4096-byte path MTU. numaplan's
 * UDP GSO messages leave the veth as the separate datagrams a NIC would put on the wire.
 *
 * What judges the data, per run (see each test): numaplan's own check of every message it receives
 * (pingpong), ibv_rc_pingpong's own -c check, and the tools' memory: test/support/mr-dump.c, preloaded
 * into each tool, writes every memory region the tool deregisters (after its last completion) to a
 * file, which is compared with what numaplan sent or holds (SHA-256 of the message's bytes, or the
 * atomic's 64-bit value). perftest fills its buffers with random bytes, so a match is numaplan's
 * data, not a coincidence.
 *
 * Everything is captured off the wire (dumpcap on v0) and judged at the end, on this machine (the
 * capture comes back over a writable 9p share; TCG would make the judging slow): every RoCE packet's
 * ICRC verifies under `numaplan rdma decode` (IPv4 included), tshark dissects every one without an
 * expert item, and each queue pair's flow uses one UDP source port both ways (rxe derives it as
 * numaplan does). Also: a 4096-byte path MTU, RNR NAKs both ways, and 5% loss each way.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from './guest-live-checks.js';
import { REPO_ROOT } from './support/data.js';
import { type Guest, type GuestResult, guestAvailable, shq, useGuest } from './support/guest/index.js';
import { ADDR, EXCHANGE, GID_TEXT, IN_NS, type Ip, NumaplanDriver, RXE_MODULES, RXE_SHAPE, type Runnable, type Side, runPair, runnableText, setupRxeNetwork } from './support/rxe-guest.js';
import { tool } from './support/tools.js';

const TOOLS = ['ibv_rc_pingpong', 'ib_write_bw', 'ib_read_bw', 'ib_send_bw', 'ib_atomic_bw', 'ib_write_lat', 'dumpcap', 'tshark', 'cc', 'python3'];
const RUN = guestAvailable() && TOOLS.every((t) => tool(t));

const CAPTURE = '/tmp/interop.pcapng';
const DUMPS = '/tmp/dumps';

/** How long each run took (printed at the end: the suite's time budget). */
const timings: { name: string; ms: number }[] = [];

describe.runIf(RUN)('RoCE v2 against Linux rxe, rdma-core and perftest', { timeout: 300_000 }, () => {
  // The capture comes back to this machine through a writable 9p share (judged here: TCG is slow).
  const out = mkdtempSync(join(tmpdir(), 'numaplan-interop-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const guest = useGuest(RXE_SHAPE, {
    modules: RXE_MODULES,
    commandTimeoutMs: 240_000,
    qemuArgs: ['-virtfs', `local,path=${out},mount_tag=interop.out,security_model=none`],
  });
  /** rxe0's GID index for each IP version, found in sysfs. */
  let gid: Record<Ip, number> = { 6: -1, 4: -1 };

  beforeAll(async () => {
    assertBuilt();
    const g = guest();
    gid = await setupRxeNetwork(g, [
      `cc -shared -fPIC -O2 -o /tmp/mr-dump.so ${shq(join(REPO_ROOT, 'test', 'support', 'mr-dump.c'))} -ldl`,
      `mkdir -p ${DUMPS} /run/out`,
      'mount -t 9p -o trans=virtio,version=9p2000.L interop.out /run/out',
    ]);
    await startCapture(g);
  }, 300_000);

  /** One run (server in the background, then the client) with its own dump folder; both must exit 0. */
  async function pair(name: string, server: { cmd: Runnable; ns: Side }, client: Runnable): Promise<{ server: GuestResult; client: GuestResult }> {
    const g = guest();
    await g.runOk(`rm -rf ${DUMPS}/${name} && mkdir -p ${DUMPS}/${name}`);
    const r = await runPair(g, server, client);
    timings.push({ name, ms: r.ms });
    const show = (what: string, x: GuestResult) => `--- ${what} (exit ${x.code}) ---\n${x.stdout.slice(-4000)}\n${x.stderr.slice(-3000)}`;
    let both = `${name}\n${show(`server: ${runnableText(server.cmd)}`, r.server)}\n${show(`client: ${runnableText(client)}`, r.client)}`;
    if (r.server.code !== 0 || r.client.code !== 0) both += `\n${await keepEvidence(name)}`;
    expect(r.server.code, both).toBe(0);
    expect(r.client.code, both).toBe(0);
    return r;
  }

  /**
   * A failed run is often a rare one (a flake under load): keep what explains it on this machine,
   * outside the folder the suite removes. The capture so far (dumpcap keeps writing; the copy ends
   * at a packet boundary or a few bytes short, which tshark and `numaplan rdma decode` read up to)
   * and rxe's counters. Returns the sentence for the failure message.
   */
  async function keepEvidence(name: string): Promise<string> {
    const keep = mkdtempSync(join(tmpdir(), `numaplan-interop-${name}-`));
    const g = guest();
    const r = await g.run(`cp ${CAPTURE} /run/out/failed.pcapng; rdma -j statistic show link rxe0/1 > /run/out/failed-rxe-counters.json; sync`);
    for (const f of ['failed.pcapng', 'failed-rxe-counters.json']) {
      if (existsSync(join(out, f))) renameSync(join(out, f), join(keep, f));
    }
    return `evidence kept in ${keep} (the capture of every run so far and rxe's counters${r.code === 0 ? '' : `; copying failed: ${r.stderr.slice(-300)}`})`;
  }

  /** A tool run with the memory-dump shim, its dumps going to the run's folder. */
  const traced = (name: string, cmd: string) => `LD_PRELOAD=/tmp/mr-dump.so MR_DUMP_DIR=${DUMPS}/${name} exec ${cmd}`;
  /**
   * numaplan's side of a run: a command for one numaplan process that runs every run's command in
   * turn (a fresh Node costs seconds under TCG; each command is still the CLI's own main, with its
   * own transport, QPs and sockets), in numaplan's namespace.
   */
  let driver: NumaplanDriver | null = null;
  const numaplan = (args: string): Runnable => {
    driver ??= new NumaplanDriver(guest());
    return { numaplan: args, driver };
  };

  /** The one memory region a tool dumped: its address, length and file. */
  async function dumpOf(name: string): Promise<{ addr: bigint; length: number; file: string }> {
    const files = (await guest().runOk(`ls ${DUMPS}/${name}`)).trim().split('\n').filter(Boolean);
    expect(files, `${name}: the tool's memory regions`).toHaveLength(1);
    const m = /^\d+-([0-9a-f]+)-(\d+)\.bin$/.exec(files[0] as string);
    if (!m) throw new Error(`${name}: unexpected dump ${files[0]}`);
    return { addr: BigInt(`0x${m[1]}`), length: Number(m[2]), file: `${DUMPS}/${name}/${files[0]}` };
  }
  const sha256 = async (file: string, off: number, len: number) => (await guest().runOk(`tail -c +${off + 1} ${file} | head -c ${len} | sha256sum`)).split(' ')[0];
  const hex = async (file: string, off: number, len: number) => (await guest().runOk(`tail -c +${off + 1} ${file} | head -c ${len} | od -An -v -tx1 | tr -d ' \\n'`)).trim();
  const le64 = (h: string) => Buffer.from(h, 'hex').readBigUInt64LE(0);
  const rxeCounters = async (): Promise<Record<string, number>> => (JSON.parse(await guest().runOk('rdma -j statistic show link rxe0/1')) as Record<string, number>[])[0] as Record<string, number>;

  describe('ibv_rc_pingpong', () => {
    for (const ip of [6, 4] as const) {
      it(`IPv${ip}: numaplan server, ibv_rc_pingpong client (-n 200 -s 1024): every message numaplan received is the tool's`, async () => {
        const name = `pingpong-${ip}-np-server`;
        const r = await pair(
          name,
          { cmd: numaplan(`rdma pingpong --local ${ADDR[ip].np} -n 200 -s 1024 --json`), ns: 'np' },
          traced(name, `ibv_rc_pingpong -d rxe0 -g ${gid[ip]} -n 200 -s 1024 ${EXCHANGE.np}`),
        );
        checkPingpong(ip, JSON.parse(r.server.stdout), r.client.stdout);
      });

      it(`IPv${ip}: ibv_rc_pingpong server, numaplan client (-n 200 -s 1024)`, async () => {
        const name = `pingpong-${ip}-np-client`;
        const r = await pair(
          name,
          { cmd: traced(name, `ibv_rc_pingpong -d rxe0 -g ${gid[ip]} -n 200 -s 1024`), ns: 'rxe' },
          numaplan(`rdma pingpong --local ${ADDR[ip].np} -n 200 -s 1024 --json ${EXCHANGE.rxe}`),
        );
        checkPingpong(ip, JSON.parse(r.client.stdout), r.server.stdout);
      });
    }

    function checkPingpong(ip: Ip, np: { corrupt: number; iters: number; io: string; remote: { gid: string }; local: { gid: string } }, toolOut: string): void {
      // numaplan checked every one of the 200 messages it received: 1024 bytes of the tool's 0x7b.
      expect(np).toMatchObject({ corrupt: 0, iters: 200, io: ip === 4 ? 'raw' : 'native', remote: { gid: GID_TEXT[ip].rxe }, local: { gid: GID_TEXT[ip].np } });
      expect(toolOut).toMatch(new RegExp(`^ {2}remote address: LID 0x0000, QPN 0x0000[0-9a-f]{2}, PSN 0x[0-9a-f]{6}, GID ${GID_TEXT[ip].np.replace(/\./g, '\\.')}$`, 'm'));
      expect(toolOut).toMatch(/^409600 bytes in \d+\.\d\d seconds = \d+\.\d\d Mbit\/sec$/m);
      expect(toolOut).toMatch(/^200 iters in \d+\.\d\d seconds = \d+\.\d\d usec\/iter$/m);
    }

    it("-c, the tool's own check: numaplan client (IPv6) writes 0 at each page start; the tool's server finds them in its memory", async () => {
      const name = 'pingpong-chk-np-client';
      const r = await pair(
        name,
        { cmd: traced(name, `ibv_rc_pingpong -d rxe0 -g ${gid[6]} -n 50 -s 8192 -c`), ns: 'rxe' },
        numaplan(`rdma pingpong --local ${ADDR[6].np} -n 50 -s 8192 -c --json ${EXCHANGE.rxe}`),
      );
      expect(r.server.stdout).not.toMatch(/invalid data/);
      expect(JSON.parse(r.client.stdout)).toMatchObject({ corrupt: 0, iters: 50 });
      // The tool's buffer started as 8192 bytes of 0x7b: the zeros are numaplan's.
      const d = await dumpOf(name);
      expect(d.length).toBe(8192);
      const want = Buffer.alloc(8192, 0x7b);
      want[0] = 0;
      want[4096] = 0;
      expect(await hex(d.file, 0, 8192)).toBe(want.toString('hex'));
    });

    it('-c, numaplan server (IPv4, raw I/O): every message from the tool client carries its zeros; numaplan finds no invalid page', async () => {
      const name = 'pingpong-chk-np-server';
      const r = await pair(name, { cmd: numaplan(`rdma pingpong --local ${ADDR[4].np} -n 50 -s 8192 -c --json`), ns: 'np' }, traced(name, `ibv_rc_pingpong -d rxe0 -g ${gid[4]} -n 50 -s 8192 -c ${EXCHANGE.np}`));
      expect(JSON.parse(r.server.stdout)).toMatchObject({ corrupt: 0, invalidPages: [], iters: 50, io: 'raw' });
    });
  });

  // perftest: size and iterations per test (kept small: the capture of it all is decoded at the end).
  const BW = '-s 16384 -n 20';
  const PARAMS = { write_bw: BW, read_bw: BW, send_bw: BW, atomic_bw: '-n 50', write_lat: '-s 8 -n 100' } as const;
  type Test = keyof typeof PARAMS;

  interface NpPerf {
    test: string;
    role: string;
    mtu: number;
    io: string;
    rows: { kind: string; size: number; iters: number }[];
    peerReport?: { size: number; iters: number };
    local: { gid: string; vaddr: string; qpn: number }[];
    remote: { gid: string; vaddr: string; qpn: number }[];
    digests: { send: string; receive: string; sendHead: string; receiveHead: string };
    recovery: { retransmits: number; timeouts: number; seqNaks: number; rnrNaks: number };
  }

  /** One perftest run: numaplan on one side, the real tool (rxe) on the other. */
  async function perf(test: Test, ip: Ip, npServer: boolean, extra = '', name = `${test}-${ip}-np-${npServer ? 'server' : 'client'}`): Promise<{ np: NpPerf; tool: string; name: string }> {
    const args = `${PARAMS[test]} ${extra}`.trim();
    // -F: perftest turns TSC cycles into time with a CPU frequency it samples for a moment; a guest
    // vCPU the loaded host preempts during the sample spoils it ("Correlation coefficient r^2 < 0.9")
    // and, without -F, the tool then exits 1 with "Can't produce a report" after a run that went
    // well. With -F it prints its report (rates of 0 when the sample failed): these tests judge its
    // sizes, iteration counts and the bytes in memory, never the rates TCG gives.
    const toolCmd = (peer: string) => traced(name, `ib_${test} -d rxe0 -x ${gid[ip]} -F ${args}${peer ? ` ${peer}` : ''}`);
    const npCmd = (peer: string) => numaplan(`rdma perf ${test} --local ${ADDR[ip].np} ${args} --json${peer ? ` ${peer}` : ''}`);
    const r = npServer ? await pair(name, { cmd: npCmd(''), ns: 'np' }, toolCmd(EXCHANGE.np)) : await pair(name, { cmd: toolCmd(''), ns: 'rxe' }, npCmd(EXCHANGE.rxe));
    const np = JSON.parse(npServer ? r.server.stdout : r.client.stdout) as NpPerf;
    const toolOut = npServer ? r.client.stdout : r.server.stdout;
    expect(np).toMatchObject({ test, role: npServer ? 'server' : 'client', io: ip === 4 ? 'raw' : 'native' });
    for (const d of np.remote) expect(d.gid).toBe(GID_TEXT[ip].rxe);
    return { np, tool: toolOut, name };
  }

  /** The tool's report line of a bandwidth run (perftest prints it on both sides, the WRITE/READ/atomic server the client's). */
  const bwLine = (size: number, iters: number) => new RegExp(`^ ${size} +${iters} +\\d+\\.\\d+ +\\d+\\.\\d+\\s+\\d+\\.\\d+$`, 'm');

  for (const ip of [6, 4] as const) {
    describe(`perftest over IPv${ip}${ip === 4 ? ' (numaplan: raw IPv4 I/O)' : ''}`, () => {
      it("ib_write_bw server, numaplan client: the tool's memory holds numaplan's bytes", async () => {
        // Over IPv6 with two QPs: each QP its own flow (UDP source port), both WRITE streams land
        // (perftest reports the iterations of all QPs together).
        const qps = ip === 6 ? 2 : 1;
        const { np, tool, name } = await perf('write_bw', ip, false, qps > 1 ? '-q 2' : '');
        expect(np.rows[0]).toMatchObject({ kind: 'bw', size: 16384, iters: 20 * qps });
        expect(tool).toMatch(bwLine(16384, 20 * qps));
        const d = await dumpOf(name);
        // perftest advertises, per QP, an address in the receive half of its buffer; QP 0's message is numaplan's send half.
        const off = Number(BigInt(np.remote[0]?.vaddr as string) - d.addr);
        expect(off).toBe(d.length / 2);
        expect(await sha256(d.file, off, 16384)).toBe(np.digests.send);
      });

      it("numaplan server, ib_write_bw client: numaplan's memory holds the tool's bytes", async () => {
        const { np, name } = await perf('write_bw', ip, true);
        expect(np.peerReport).toMatchObject({ size: 16384, iters: 20 });
        const d = await dumpOf(name);
        expect(await sha256(d.file, 0, 16384)).toBe(np.digests.receive);
      });

      it("numaplan server, ib_read_bw client: the tool's memory holds what it read from numaplan", async () => {
        const { np, name } = await perf('read_bw', ip, true);
        expect(np.peerReport).toMatchObject({ size: 16384, iters: 20 });
        const d = await dumpOf(name);
        expect(await sha256(d.file, 0, 16384)).toBe(np.digests.receive);
      });

      it("ib_read_bw server, numaplan client: numaplan holds what it read from the tool's memory", async () => {
        const { np, tool, name } = await perf('read_bw', ip, false);
        expect(tool).toMatch(bwLine(16384, 20));
        const d = await dumpOf(name);
        expect(await sha256(d.file, Number(BigInt(np.remote[0]?.vaddr as string) - d.addr), 16384)).toBe(np.digests.send);
      });

      it("ib_send_bw server, numaplan client: the tool's receive buffer holds numaplan's message", async () => {
        const { np, tool, name } = await perf('send_bw', ip, false);
        expect(tool).toMatch(bwLine(16384, 20));
        const d = await dumpOf(name);
        expect(await sha256(d.file, d.length / 2, 16384)).toBe(np.digests.send);
      });

      it("numaplan server, ib_send_bw client: numaplan received the tool's message", async () => {
        const { np, name } = await perf('send_bw', ip, true);
        expect(np.rows[0]).toMatchObject({ kind: 'bw', size: 16384, iters: 20 });
        const d = await dumpOf(name);
        expect(await sha256(d.file, 0, 16384)).toBe(np.digests.receive);
      });

      it('ib_atomic_bw server, numaplan client: the value the last atomic returned, plus its effect, is what the tool holds', async () => {
        // FETCH_AND_ADD of 1 over IPv6; CMP_AND_SWAP (compare 0: perftest's random bytes do not match, nothing is swapped) over IPv4.
        const cas = ip === 4;
        const { np, tool, name } = await perf('atomic_bw', ip, false, cas ? '-A CMP_AND_SWAP' : '');
        expect(tool).toMatch(bwLine(8, 50));
        const d = await dumpOf(name);
        const held = le64(await hex(d.file, Number(BigInt(np.remote[0]?.vaddr as string) - d.addr), 8));
        expect(held).toBe(le64(np.digests.sendHead) + (cas ? 0n : 1n));
      });

      it("numaplan server, ib_atomic_bw client: numaplan's value is the last one the tool fetched plus one", async () => {
        const { np, name } = await perf('atomic_bw', ip, true);
        expect(np.peerReport).toMatchObject({ size: 8, iters: 50 });
        const d = await dumpOf(name);
        expect(le64(np.digests.receiveHead)).toBe(le64(await hex(d.file, 0, 8)) + 1n);
      });

      for (const npServer of [false, true]) {
        it(`ib_write_lat, numaplan ${npServer ? 'server' : 'client'}: 100 round trips, each side's count arrived at the other`, async () => {
          const { np, tool, name } = await perf('write_lat', ip, npServer);
          expect(np.rows[0]).toMatchObject({ kind: 'lat', size: 8, iters: 100 });
          // The latency columns read inf when the tool's CPU-frequency sample failed (see perf's -F).
          expect(tool).toMatch(/^ 8 +100 +(\d+\.\d\d|inf|-?nan)/m);
          // Each side writes 8 bytes whose last is its count: the tool's receive half ends with numaplan's 100.
          const d = await dumpOf(name);
          expect(await hex(d.file, d.length / 2, 8)).toBe('0000000000000064');
          expect(Buffer.from(np.digests.receiveHead, 'hex')[7]).toBe(100);
        });
      }
    });
  }

  describe('path MTU, RNR, loss', () => {
    it('4096-byte path MTU (jumbo veth), IPv4 raw I/O: ib_write_bw server, numaplan client', async () => {
      const { np, name } = await perf('write_bw', 4, false, '-m 4096', 'write_bw-mtu4096');
      expect(np.mtu).toBe(4096);
      const d = await dumpOf(name);
      expect(await sha256(d.file, d.length / 2, 16384)).toBe(np.digests.send);
    });

    it('RNR: numaplan client, ib_send_bw server keeping 2 receives posted: numaplan waits out the RNR NAKs and delivers every message', async () => {
      const { np, name } = await perf('send_bw', 6, false, '-r 2', 'send_bw-rnr-np-client');
      expect(np.recovery.rnrNaks).toBeGreaterThan(0);
      const d = await dumpOf(name);
      expect(await sha256(d.file, d.length / 2, 16384)).toBe(np.digests.send);
    });

    it('RNR: numaplan server keeping 1 receive posted, ib_send_bw client: rxe waits out numaplan\'s RNR NAKs', async () => {
      const before = await rxeCounters();
      const { np, name } = await perf('send_bw', 6, true, '-r 1', 'send_bw-rnr-np-server');
      const after = await rxeCounters();
      expect((after.rcvd_rnr_err as number) - (before.rcvd_rnr_err as number)).toBeGreaterThan(0);
      const d = await dumpOf(name);
      expect(await sha256(d.file, 0, 16384)).toBe(np.digests.receive);
    });

    it('5% loss each way (netem on both ends of the veth): WRITEs from numaplan and READs from the tool arrive intact, both sides recovering', async () => {
      const g = guest();
      await g.runOk(`tc qdisc add dev v0 root netem loss 5% && ${IN_NS} tc qdisc add dev v1 root netem loss 5%`);
      try {
        // 50 x 16 KiB: 800 packets each way; P(no loss) = 0.95^800, about 1e-18.
        const w = await perf('write_bw', 6, false, '-n 50 -t 8', 'write_bw-loss');
        expect(w.np.recovery.retransmits).toBeGreaterThan(0);
        let d = await dumpOf(w.name);
        expect(await sha256(d.file, d.length / 2, 16384)).toBe(w.np.digests.send);
        const before = await rxeCounters();
        const r = await perf('read_bw', 6, true, '-n 50', 'read_bw-loss');
        const after = await rxeCounters();
        // rxe's requester went back for lost READ responses (its completer's retries).
        expect((after.completer_retry_err as number) - (before.completer_retry_err as number)).toBeGreaterThan(0);
        d = await dumpOf(r.name);
        expect(await sha256(d.file, 0, 16384)).toBe(r.np.digests.receive);
      } finally {
        await g.runOk(`tc qdisc del dev v0 root; ${IN_NS} tc qdisc del dev v1 root; true`);
      }
    });
  });

  it('the capture: every RoCE packet of every run has a valid ICRC (IPv6 and IPv4), tshark dissects all without an expert item, one flow port per QP pair both ways', async () => {
    const g = guest();
    await g.runOk(`kill -INT $(cat /tmp/dumpcap.pid) && while kill -0 $(cat /tmp/dumpcap.pid) 2>/dev/null; do sleep 0.1; done && cp ${CAPTURE} /run/out/ && sync`);
    const pcap = join(out, 'interop.pcapng');
    const decoded = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'numaplan.js'), 'rdma', 'decode', pcap, '--json'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    expect(decoded.status, decoded.stderr).toBe(0);
    const pkts = decoded.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { icrcOk: boolean; error?: string; ipVersion: number; src: string; srcPort: number; dstPort: number; opcode: number; destQp: number });
    expect(pkts.filter((p) => !p.icrcOk || p.error !== undefined)).toEqual([]);
    const from = (src: string) => pkts.filter((p) => p.src === src);
    for (const ip of [6, 4] as const) {
      // Both ends spoke every kind of packet over both IP versions: SEND first/middle/last/only,
      // WRITE first/middle/last/only, READ requests and responses, ACKs, atomics and their ACKs.
      for (const side of ['rxe', 'np'] as const) {
        const ops = new Set(from(ADDR[ip][side]).map((p) => p.opcode));
        for (const op of [0, 1, 2, 4, 6, 7, 8, 10, 12, 13, 14, 15, 17, 18]) expect(ops.has(op), `IPv${ip} from ${side}: opcode ${op}`).toBe(true);
        expect(ops.has(19) || ops.has(20), `IPv${ip} from ${side}: an atomic`).toBe(true);
      }
    }
    // RoCE v2's flow entropy: the source port is derived from both QP numbers, so each QP pair's
    // packets leave rxe and numaplan from the same port (all above 0xC000, rdma_get_udp_sport's range).
    const ports = (src: string) => new Set(from(src).map((p) => p.srcPort));
    for (const ip of [6, 4] as const) {
      expect([...ports(ADDR[ip].np)].sort()).toEqual([...ports(ADDR[ip].rxe)].sort());
      for (const p of ports(ADDR[ip].np)) expect(p).toBeGreaterThanOrEqual(0xc000);
    }
    expect(pkts.every((p) => p.dstPort === 4791)).toBe(true);
    // tshark: RoCE v2 with every header as intended and no expert item, given that Linux rxe sends
    // IPv6 UDP checksums of 0 (RFC 6935 allows them for tunnel protocols such as RoCE v2; tshark
    // flags them unless told so). Without that setting, those are the only expert items.
    const tshark = (args: string[]) => {
      const r = spawnSync('tshark', ['-r', pcap, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    const expert = (opts: string[]) =>
      tshark([...opts, '-Y', 'udp.dstport == 4791 && (_ws.expert || !infiniband || _ws.malformed)', '-T', 'fields', '-e', 'frame.number', '-e', 'ipv6.src', '-e', 'ip.src', '-e', '_ws.expert.message'])
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t'));
    expect(expert(['-o', 'udp.ignore_ipv6_zero_checksum:TRUE'])).toEqual([]);
    const flagged = expert([]);
    expect(flagged.length).toBeGreaterThan(0);
    for (const [, src6, src4, msg] of flagged) expect([src6, src4, msg]).toEqual([ADDR[6].rxe, '', 'Illegal checksum value (0)']);
    expect(tshark(['-Y', 'udp.dstport == 4791 && infiniband', '-T', 'fields', '-e', 'frame.number']).trim().split('\n').length).toBe(pkts.length);
    console.log(`rdma interop: ${pkts.length} RoCE packets captured (${pkts.filter((p) => p.ipVersion === 4).length} over IPv4), every ICRC valid`);
    console.log(`rdma interop runs (ms): ${timings.map((t) => `${t.name} ${t.ms}`).join(', ')}; total ${timings.reduce((s, t) => s + t.ms, 0)}`);
  });
});

/** Starts dumpcap on v0 (rxe's end of the veth) and waits until it has written a probe datagram. */
async function startCapture(g: Guest): Promise<void> {
  const p = await g.spawn(`echo $$ > /tmp/dumpcap.pid; exec dumpcap -q -i v0 -w ${CAPTURE}`);
  const size = async () => Number((await g.runOk(`stat -c %s ${CAPTURE} 2>/dev/null || echo 0`)).trim());
  for (let tries = 0; !(await p.output()).stderr.includes('Capturing on'); tries++) {
    if (!(await p.running())) throw new Error(`dumpcap ended: ${(await p.output()).stderr}`);
    if (tries > 1200) throw new Error('dumpcap did not start capturing');
    await new Promise((r) => setTimeout(r, 50));
  }
  // "Capturing on" comes before packets reach the file: send a probe (UDP to the discard port) until one is written.
  const start = await size();
  for (let tries = 0; (await size()) <= start; tries++) {
    if (tries > 600) throw new Error('dumpcap wrote nothing of the probes');
    await g.runOk(`python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'probe', ('169.254.7.2', 9))"`);
  }
}
