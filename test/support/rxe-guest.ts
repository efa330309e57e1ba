/**
 * A guest network where numaplan's RoCE endpoint and Linux's soft-RoCE (rxe) meet, for the interop
 * suite (test/guest-rdma-interop.test.ts) and the rxe benchmark (bench/rdma-rxe.bench.ts).
 *
 * A veth pair with jumbo frames: v0 in the guest's initial network namespace carries rxe0 (rxe's
 * UDP socket lives only in that namespace), v1 sits in the namespace "np" where numaplan runs.
 * The tools' TCP exchange uses IPv4 link-local addresses (169.254.7.1 on v0, 169.254.7.2 on v1);
 * RoCE uses the GIDs of the IPv6 ULA addresses fd00::1 and fd00::2, or of the IPv4 addresses
 * (::ffff:169.254.7.x, numaplan's raw IPv4 I/O). numaplan's UDP GSO messages, which a veth carries
 * whole, leave v1 as the separate datagrams a NIC without segmentation offload puts on the wire.
 */
import { join } from 'node:path';
import { REPO_ROOT } from './data.js';
import type { Guest, GuestProcess, GuestResult, GuestShape } from './guest/index.js';
import { shq } from './guest/index.js';

export type Ip = 6 | 4;

/** Two vCPUs (numaplan and the tool each get one), one node. */
export const RXE_SHAPE: GuestShape = { name: 'rdma-interop', cpu: { sockets: 1, cores: 2, threads: 1 }, nodes: [{ cpus: '0-1', memory: '1536M' }] };
/** Kernel modules the guest loads. */
export const RXE_MODULES = ['veth', 'rdma_rxe', 'sch_netem'] as const;

/** numaplan's CLI in the guest (this machine's checkout, over 9p). */
export const NUMAPLAN = `node ${shq(join(REPO_ROOT, 'bin', 'numaplan.js'))}`;
/** Prefix of a command run in numaplan's namespace. */
export const IN_NS = 'ip netns exec np';
/** rxe's and numaplan's RoCE addresses (the GIDs) per IP version. */
export const ADDR = { 6: { rxe: 'fd00::1', np: 'fd00::2' }, 4: { rxe: '169.254.7.1', np: '169.254.7.2' } } as const;
/** The same GIDs as the tools print them. */
export const GID_TEXT = { 6: { rxe: 'fd00::1', np: 'fd00::2' }, 4: { rxe: '::ffff:169.254.7.1', np: '::ffff:169.254.7.2' } } as const;
/** The TCP exchange's addresses (always IPv4: the tools' exchange binds IPv4). */
export const EXCHANGE = { rxe: '169.254.7.1', np: '169.254.7.2' } as const;

/**
 * Builds the network and rxe0; returns rxe0's GID index of each IP version (read from sysfs: rxe
 * lists a RoCE v2 GID per address of v0, in the order they appear).
 */
export async function setupRxeNetwork(g: Guest, extra: readonly string[] = []): Promise<Record<Ip, number>> {
  await g.runOk(
    [
      'set -e',
      'ip netns add np',
      'ip link add v0 mtu 9000 type veth peer name v1 mtu 9000',
      'ip link set v1 netns np',
      'ip addr add 169.254.7.1/16 dev v0',
      'ip -6 addr add fd00::1/64 dev v0 nodad',
      'ip link set v0 up',
      'ip -n np addr add 169.254.7.2/16 dev v1',
      'ip -n np -6 addr add fd00::2/64 dev v1 nodad',
      'ip -n np link set lo up',
      'ip -n np link set v1 up',
      'ip -n np link set v1 gso_max_segs 1',
      'rdma link add rxe0 type rxe netdev v0',
      ...extra,
    ].join('\n'),
  );
  const gid: Record<Ip, number> = { 6: -1, 4: -1 };
  const want: Record<Ip, string> = { 6: 'fd00:0000:0000:0000:0000:0000:0000:0001', 4: '0000:0000:0000:0000:0000:ffff:a9fe:0701' };
  for (let tries = 0; gid[6] < 0 || gid[4] < 0; tries++) {
    if (tries > 600) throw new Error('rxe0 never listed the GIDs of fd00::1 and 169.254.7.1');
    const out = await g.runOk('d=/sys/class/infiniband/rxe0/ports/1; for i in $(seq 0 15); do echo "$i $(cat $d/gids/$i) $(cat $d/gid_attrs/types/$i 2>/dev/null)"; done');
    for (const line of out.trim().split('\n')) {
      const [i, g6, ...type] = line.split(' ');
      for (const ip of [6, 4] as const) if (g6 === want[ip] && type.join(' ') === 'RoCE v2') gid[ip] = Number(i);
    }
    if (gid[6] < 0 || gid[4] < 0) await new Promise((r) => setTimeout(r, 100));
  }
  const state = (await g.runOk('cat /sys/class/infiniband/rxe0/ports/1/state')).trim();
  if (state !== '4: ACTIVE') throw new Error(`rxe0's port is "${state}", not ACTIVE`);
  return gid;
}

/** Where a server runs: numaplan's namespace or rxe's (the initial one). */
export type Side = 'np' | 'rxe';

/** Between a driver command's stdout and stderr when both are read at once. */
const SPLIT = '@@numaplan-driver-stderr@@';

/** The driver script (test/support/cli-driver.mjs) as the guest runs it. */
const DRIVER = shq(join(REPO_ROOT, 'test', 'support', 'cli-driver.mjs'));

/**
 * One numaplan process in numaplan's namespace running command after command (Node's start costs
 * seconds per command under TCG): each command is the real CLI `main`, its output and exit code
 * the command's own. A command that must be stopped (its peer failed) takes the process with it;
 * the next command starts a new one.
 */
export class NumaplanDriver {
  private proc: GuestProcess | null = null;
  private next = 0;
  private generation = 0;
  constructor(
    private readonly g: Guest,
    private readonly dir = '/tmp/numaplan-driver',
  ) {}

  /** Starts `numaplan ARGS` (whitespace-separated, no quoting); the job answers as a background process does. */
  async start(args: string): Promise<GuestProcess> {
    const g = this.g;
    if (!this.proc || !(await this.proc.running())) {
      this.generation++;
      this.next = 0;
      await g.runOk(`rm -rf ${this.dir} && mkdir -p ${this.dir}`);
      this.proc = await g.spawn(`exec ${IN_NS} node ${DRIVER} ${this.dir}`);
    }
    const proc = this.proc;
    const k = this.next++;
    const f = (ext: string) => `${this.dir}/${k}.${ext}`;
    const argv = JSON.stringify(args.trim().split(/\s+/));
    await g.runOk(`printf '%s' ${shq(argv)} > ${f('argv.tmp')} && mv ${f('argv.tmp')} ${f('argv')}`);
    const output = async () => {
      const r = await g.run(`cat ${f('out')} 2>/dev/null; echo; echo ${SPLIT}; cat ${f('err')} 2>/dev/null`);
      const at = r.stdout.lastIndexOf(`\n${SPLIT}\n`);
      return { stdout: r.stdout.slice(0, Math.max(0, at)), stderr: r.stdout.slice(at + SPLIT.length + 2) };
    };
    const done = `test -f ${f('done')}`;
    return {
      pid: proc.pid,
      output,
      running: async () => (await g.run(`${done} || ! kill -0 ${proc.pid} 2>/dev/null`)).code !== 0,
      kill: async () => {
        await proc.kill('KILL');
        this.proc = null;
      },
      wait: async (options = {}) => {
        const t0 = Date.now();
        // Until the command is done or the driver is gone (killed): its exit code, else 137.
        const r = await g.run(`while ! ${done} && kill -0 ${proc.pid} 2>/dev/null; do sleep 0.05; done; cat ${f('done')} 2>/dev/null || echo 137`, options);
        const { stdout, stderr } = await output();
        return { code: r.code === 0 ? Number(r.stdout.trim()) : r.code, stdout, stderr, ms: Date.now() - t0 };
      },
    };
  }

  /** Ends the driver. */
  async close(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p && (await p.running())) await p.kill('KILL');
  }
}

/** A server or client: a shell command, or a numaplan command for a driver. */
export type Runnable = string | { numaplan: string; driver: NumaplanDriver };

/** The command's text, for messages. */
export function runnableText(r: Runnable): string {
  return typeof r === 'string' ? r : `numaplan ${r.numaplan} (in one driver process)`;
}

async function startRunnable(g: Guest, r: Runnable): Promise<GuestProcess> {
  return typeof r === 'string' ? g.spawn(r) : r.driver.start(r.numaplan);
}

/**
 * Runs a server in the background, waits until it listens on TCP 18515 in its namespace, runs the
 * client, then waits for the server. Both results come back whatever their exit status.
 */
export async function runPair(g: Guest, server: { cmd: Runnable; ns: Side }, client: Runnable, timeoutMs = 240_000): Promise<{ server: GuestResult; client: GuestResult; ms: number }> {
  const t0 = Date.now();
  const srv = await startRunnable(g, server.cmd);
  const ss = `${server.ns === 'np' ? `${IN_NS} ` : ''}ss -Hltn 'sport = :18515'`;
  for (let tries = 0; ; tries++) {
    if ((await g.runOk(ss)).trim() !== '') break;
    if (!(await srv.running())) break; // it ended early: its output says why
    if (tries > 480) {
      await srv.kill('KILL');
      throw new Error(`the server never listened on TCP 18515: ${runnableText(server.cmd)}`);
    }
    // Not sooner: each look is a process in the guest, competing with the server's start-up.
    await new Promise((r) => setTimeout(r, 250));
  }
  const c = typeof client === 'string' ? await g.run(client, { timeoutMs }) : await (await startRunnable(g, client)).wait({ timeoutMs });
  if (c.code !== 0) await srv.kill(); // a server whose client failed may wait forever
  const s = await srv.wait({ timeoutMs: 120_000 });
  return { server: s, client: c, ms: Date.now() - t0 };
}
