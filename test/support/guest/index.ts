/**
 * A real multi-node Linux host for the test suite: boots Debian's kernel under QEMU in a NUMA shape
 * of the test's choosing, with this machine's root file system read-only over virtio-9p (so the
 * guest runs this machine's node, numactl, lstopo and the checkout itself), and runs commands in it.
 *
 *   const g = await bootGuest(shape, { timeoutMs: 120_000 });
 *   const r = await g.run('numactl -H');            // { code, stdout, stderr, ms }
 *   const out = await g.runOk('lstopo-no-graphics --of xml');   // throws unless exit 0
 *   const p = await g.spawn('exec sleep 30');        // in the background; p.pid, p.wait(), p.kill()
 *   await g.close();                                 // always powers off (SIGKILL if QEMU hangs)
 *
 * In a vitest file, `useGuest(shape, options)` boots once in beforeAll, closes in afterAll and adds
 * the tail of the serial console to the message of every failing test.
 *
 * A guest can also boot from a whole QEMU command line instead of a shape (`{ name, argv }`, see
 * ArgvGuest): a configuration written by numaplan or by libvirt, started as given except for what
 * the harness must own (accelerator and CPU model, display, serial console, kernel, initramfs, the
 * 9p root and the control port). Both kinds share everything else: boot, agent, commands, poweroff.
 *
 * Commands travel over a virtio-serial port (see initramfs.ts for the agent and its protocol): each
 * is a shell script run by the guest's /bin/sh with stdin from /dev/null, one at a time, under a
 * timeout; stdout, stderr and the exit status come back intact (base64). Everything that fails
 * (boot, a hung command, QEMU exiting) throws a GuestError carrying the tail of the serial log.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, realpathSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { IN_CI } from '../data.js';
import { type AccelChoice, chooseAccel } from './accel.js';
import { bootImage, buildInitramfs, CONTROL_PORT, findKernel, GUEST_BUSYBOX, type GuestKernel, moduleLoadOrder, ROOT_TAG } from './initramfs.js';
import { type GuestShape, HUGE_PAGE_BYTES, type ResolvedShape, resolveShape, shapeKernelArgs, shapeQemuArgs } from './shape.js';

export { type GuestNodeSpec, type GuestShape, type HugePageSize, nicOnNode, type ResolvedShape, resolveShape, ShapeError } from './shape.js';

/**
 * A guest booted from a QEMU command line of someone else's making (the argv without the binary):
 * its machine, memory, NUMA options, devices and everything else are QEMU's to build from `argv`.
 * The harness takes over only what it must own, and drops those options from `argv` (see
 * HARNESS_OWNED): the accelerator (`-accel`, `-enable-kvm`, `accel=` of `-machine`) and the CPU
 * model (`-cpu`: `host` needs KVM), the display, serial console, monitor-less defaults and reboot
 * behaviour, the boot image (`-kernel`, `-initrd`, `-append`), and the options that would keep the
 * guest from running or QEMU from exiting at poweroff (`-S`, `-daemonize`, `-no-shutdown`).
 * Everything else is passed through unchanged, so QEMU refuses what it would refuse.
 */
export interface ArgvGuest {
  /** A short name: the guest's hostname and the label in every message. */
  name: string;
  /** QEMU's arguments (without the binary). */
  argv: readonly string[];
}

/** What bootGuest starts: a NUMA shape of the harness's own, or another tool's QEMU command line. */
export type GuestSource = GuestShape | ArgvGuest;

const isArgvGuest = (s: GuestSource): s is ArgvGuest => 'argv' in s;

/** Options the harness owns in a guest booted from an argv: option -> whether it takes a value. */
export const HARNESS_OWNED: Readonly<Record<string, boolean>> = {
  '-accel': true, '-enable-kvm': false, '-cpu': true, '-display': true, '-vga': true, '-nographic': false, '-serial': true,
  '-nodefaults': false, '-no-user-config': false, '-no-reboot': false, '-no-shutdown': false, '-S': false, '-daemonize': false,
  '-kernel': true, '-initrd': true, '-append': true,
};

/**
 * `argv` without the options the harness owns (HARNESS_OWNED; `accel=` taken out of `-machine`), and
 * the machine type it names (null: none, and the harness adds q35). Throws a GuestError for an argv the harness cannot boot.
 */
export function harnessArgv(argv: readonly string[]): { args: string[]; machineType: string | null } {
  const args: string[] = [];
  let machineType: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const opt = a.startsWith('--') ? a.slice(1) : a;
    if (opt in HARNESS_OWNED) {
      if (HARNESS_OWNED[opt] && i + 1 >= argv.length) throw new GuestError(`QEMU argv: ${a} without its value`);
      if (HARNESS_OWNED[opt]) i++;
      continue;
    }
    if (opt === '-machine' || opt === '-M') {
      const v = argv[++i];
      if (v === undefined) throw new GuestError(`QEMU argv: ${a} without its value`);
      const kept = v.split(',').filter((p) => p !== '' && !p.startsWith('accel='));
      const type = kept.find((p) => !p.includes('=') || p.startsWith('type='));
      if (type !== undefined) machineType = type.replace(/^type=/, '');
      if (kept.length > 0) args.push('-machine', kept.join(','));
      continue;
    }
    args.push(a);
  }
  return { args, machineType };
}

/** How to boot. */
export interface BootOptions {
  /** Milliseconds from QEMU's start until the agent answers (and extra modules are loaded). Default 150 s. */
  timeoutMs?: number;
  /** Default timeout of each command. Default 120 s. */
  commandTimeoutMs?: number;
  /** Extra QEMU arguments, appended (devices, netdevs; see nicOnNode()). */
  qemuArgs?: readonly string[];
  /** Extra kernel command-line arguments. */
  kernelArgs?: readonly string[];
  /** Kernel modules to load after boot with the guest's modprobe (from this machine's /lib/modules), e.g. ['virtio_net', 'rdma_rxe', 'veth']. */
  modules?: readonly string[];
  /** 'auto' (default: KVM only where a probe guest boots with it), 'tcg' or 'kvm'. NUMAPLAN_GUEST_ACCEL overrides. */
  accel?: 'auto' | 'tcg' | 'kvm';
  /**
   * TCG only: 'single' (default) runs every vCPU on one host thread in turn; 'multi' gives each vCPU
   * its own host thread. Measured on a loaded 2-core machine with 8 vCPUs: 'single' booted in 3.5 s
   * against 7 s and answered a short command in 0.3 s against 0.65 s, and it leaves the other core
   * to a second guest; 'multi' is for work that needs vCPUs really running at once.
   */
  tcgThreads?: 'single' | 'multi';
}

/**
 * Under TCG the guest's TSC is the host's clock (every vCPU reads the same one), so it is steady; but
 * the kernel's clocksource watchdog compares it with the emulated HPET, and on a loaded host a slow
 * HPET read-back marks the TSC unstable and moves the guest's time to the HPET mid-run. Seen in a CI
 * run at 146 s of uptime: from then on perftest's regression of TSC cycles against the time of day
 * failed ("Correlation coefficient r^2 < 0.9, Can't produce a report") and its runs ended without a
 * report. `tsc=reliable` keeps the TSC as the guest's clock.
 */
const TCG_TSC = 'tsc=reliable';

/**
 * Under TCG, a guest of at most 8 vCPUs whose APIC IDs have gaps (a level of the -smp topology that
 * is not a power of two below one that repeats: 2 sockets x 3 cores gives APIC IDs 0-2 and 4-6)
 * hangs at boot in QEMU 7.2: the kernel uses the APIC's flat logical destination mode for up to 8
 * CPUs, and an IPI to the first vCPU after a gap never arrives (stop_machine waits for it
 * forever). With more than 8 possible CPUs the kernel uses physical destination mode, which works;
 * so such guests boot with `possible_cpus=9` (one possible CPU that is never present: the present,
 * online and per-node CPU lists are unchanged). Observed with Debian 12's QEMU 7.2 and kernel 6.1:
 * 2x3 hangs, 3x2 (no gap) and 2x5 (10 vCPUs) boot, and 2x3 with possible_cpus=9 boots.
 */
export function tcgApicWorkaround(qemuArgs: readonly string[]): string[] {
  const i = qemuArgs.lastIndexOf('-smp');
  const smp = i >= 0 ? qemuArgs[i + 1] : undefined;
  if (smp === undefined) return [];
  const fields = new Map(smp.split(',').map((p, k) => (k === 0 && !p.includes('=') ? ['cpus', p] : (p.split('=') as [string, string]))));
  const n = (k: string): number => Number(fields.get(k) ?? 1);
  const vcpus = Number(fields.get('cpus') ?? 0);
  if (!(vcpus > 0 && vcpus <= 8) || !fields.has('cores')) return [];
  const levels = [n('threads'), n('cores'), n('dies'), n('sockets')];
  const ids = new Set<number>();
  for (let v = 0; v < vcpus; v++) {
    let id = 0;
    let shift = 0;
    let rest = v;
    for (const count of levels) {
      id |= (rest % count) << shift;
      rest = Math.floor(rest / count);
      shift += Math.ceil(Math.log2(count));
    }
    ids.add(id);
  }
  return Math.max(...ids) + 1 > vcpus ? ['possible_cpus=9'] : [];
}

/** What a command did. */
export interface GuestResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Milliseconds from sending the command to its answer. */
  ms: number;
}

/** Options of one command. */
export interface RunOptions {
  /** Default: the guest's commandTimeoutMs. The guest kills the command's process group on expiry (TERM, then KILL). */
  timeoutMs?: number;
  /** Working directory in the guest. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** A failure of the harness or of a command run with runOk(); the message ends with the serial log's tail. */
export class GuestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestError';
  }
}

/** Quotes a string for the guest's /bin/sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The script with RunOptions' environment and working directory applied (exit 125 when the directory is missing). */
function withOptions(script: string, options: RunOptions): string {
  return [
    ...Object.entries(options.env ?? {}).map(([k, v]) => `export ${k}=${shq(v)}`),
    ...(options.cwd !== undefined ? [`cd ${shq(options.cwd)} || exit 125`] : []),
    script,
  ].join('\n');
}

const SERIAL_KEEP = 256 << 10;
/** NUMAPLAN_GUEST_TIMES=1: every boot, command and poweroff's time on stderr (to see where a suite's time goes). */
const TIMES = process.env.NUMAPLAN_GUEST_TIMES === '1';
const timed = (name: string, ms: number, what: string): void => {
  if (TIMES) process.stderr.write(`[${name}] ${(ms / 1000).toFixed(2)} s ${what.replace(/\s+/g, ' ').slice(0, 160)}\n`);
};
const QEMU = 'qemu-system-x86_64';
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every QEMU this process started that is still running (on process exit, whatever the reason). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** How many QEMU processes this process started are still running. */
export function runningGuests(): number {
  return live.size;
}

/** True when the ELF file at `path` has no program interpreter (statically linked). */
function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false;
    const phoff = Number(head.readBigUInt64LE(0x20));
    const phentsize = head.readUInt16LE(0x36);
    const phnum = head.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

const which = (name: string): string | null => {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' });
  return r.status === 0 ? realpathSync(r.stdout.trim()) : null;
};

interface Prepared {
  kernel: GuestKernel;
  /** What -kernel gets: the uncompressed PVH ELF when there is one, else the bzImage. */
  image: string;
  qemu: string;
  initramfs: string;
}

let prepared: Prepared | null = null;

/** What is missing for a guest to boot here (empty when nothing). */
function findMissing(): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux' || process.arch !== 'x64') missing.push('an x86-64 Linux machine');
  if (!which(QEMU)) missing.push(`${QEMU} (package qemu-system-x86)`);
  if (!which('cpio')) missing.push('cpio (package cpio)');
  const busybox = which('busybox');
  if (!busybox) missing.push('busybox (package busybox-static)');
  else if (!isStaticElf(busybox)) missing.push(`a static busybox (${busybox} is dynamically linked; install busybox-static)`);
  const k = findKernel();
  if ('missing' in k) missing.push(k.missing);
  return missing;
}

/**
 * True when guests can boot here. Otherwise: outside CI prints "SKIPPED:" with the reason and returns
 * false; under CI=true throws (.ci/run installs everything the harness needs).
 */
export function guestAvailable(): boolean {
  const missing = findMissing();
  if (missing.length === 0) return true;
  const why = `guest tests need ${missing.join(', ')}`;
  if (IN_CI) throw new Error(`${why}; CI=true requires it (.ci/run installs it)`);
  console.warn(`SKIPPED: ${why}`);
  return false;
}

/** Finds the kernel and builds the initramfs once per process (removed at exit). */
function prepare(): Prepared {
  if (prepared) return prepared;
  const missing = findMissing();
  if (missing.length > 0) throw new GuestError(`cannot boot a guest: missing ${missing.join(', ')}`);
  const kernel = findKernel() as GuestKernel;
  const dir = mkdtempSync(join(tmpdir(), 'numaplan-guest-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const initramfs = buildInitramfs(kernel, dir, which('busybox') as string);
  prepared = { kernel, image: bootImage(kernel), qemu: which(QEMU) as string, initramfs };
  return prepared;
}

/** A background command in the guest. */
export interface GuestProcess {
  /** PID of the shell running the script in the guest (the command's own PID when the script `exec`s it). */
  readonly pid: number;
  /** Waits for the script to end; its stdout, stderr and exit status. */
  wait(options?: { timeoutMs?: number }): Promise<GuestResult>;
  /** What it printed so far, without waiting. */
  output(): Promise<{ stdout: string; stderr: string }>;
  /** True while it runs. */
  running(): Promise<boolean>;
  /** Sends a signal (default TERM) to its process group. */
  kill(signal?: string): Promise<void>;
}

interface Pending {
  id: number;
  resolve: (r: GuestResult) => void;
  reject: (e: Error) => void;
  started: number;
  timer: NodeJS.Timeout;
  script: string;
}

/** A booted guest. */
export class Guest {
  /** Milliseconds from QEMU's start until the agent answered. */
  bootMs = 0;
  /** The guest's uptime in seconds when the agent started (kernel + init). */
  guestUptimeAtReady = 0;
  private serial = '';
  private qemuStderr = '';
  private socket: Socket | null = null;
  private inbox: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private pending: Pending | null = null;
  private seq = 0;
  private bgSeq = 0;
  private dead: string | null = null;
  private closed = false;
  private readyWaiter: { resolve: (uptime: number) => void; reject: (e: Error) => void } | null = null;
  private byeWaiter: (() => void) | null = null;
  private readonly exited: Promise<void>;

  /** @internal use bootGuest(). */
  constructor(
    /** The guest's name (its hostname). */
    readonly name: string,
    /** The shape it booted as; null for a guest booted from a QEMU argv. */
    readonly shape: ResolvedShape | null,
    readonly accel: AccelChoice,
    private readonly qemu: ChildProcess,
    private readonly dir: string,
    private readonly commandTimeoutMs: number,
  ) {
    live.add(qemu);
    const echo = process.env.NUMAPLAN_GUEST_LOG === '1';
    qemu.stdout?.on('data', (d: Buffer) => {
      const text = d.toString('utf8');
      this.serial = (this.serial + text).slice(-SERIAL_KEEP);
      if (echo) process.stderr.write(text.replace(/^/gm, `[${name}] `));
    });
    qemu.stderr?.on('data', (d: Buffer) => {
      this.qemuStderr = (this.qemuStderr + d.toString('utf8')).slice(-16384);
    });
    this.exited = new Promise((resolve) => {
      qemu.on('exit', (code, signal) => {
        live.delete(qemu);
        this.fail(`QEMU exited (${signal ?? `code ${code}`})`);
        resolve();
      });
    });
  }

  /** QEMU's process id on this machine. */
  get qemuPid(): number | undefined {
    return this.qemu.pid;
  }

  /** The last `lines` lines of the serial console (kernel log, init, and QEMU's own stderr). */
  serialTail(lines = 40): string {
    const tail = this.serial.replace(/\r/g, '').split('\n').slice(-lines).join('\n');
    const err = this.qemuStderr.trim();
    return `${tail}${err ? `\n--- QEMU stderr ---\n${err.split('\n').slice(-10).join('\n')}` : ''}`;
  }

  /** `message`, then which guest, then the serial log's tail. */
  describe(message: string, lines = 40): string {
    return `${message}\n--- guest "${this.name}" (${this.accel.accel}), serial console, last ${lines} lines ---\n${this.serialTail(lines)}`;
  }

  private fail(why: string): void {
    if (this.dead === null) this.dead = why;
    const err = new GuestError(this.describe(`guest "${this.name}": ${why}`));
    this.readyWaiter?.reject(err);
    this.readyWaiter = null;
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending.reject(new GuestError(this.describe(`guest "${this.name}": ${why} while running: ${this.pending.script.slice(0, 400)}`)));
      this.pending = null;
    }
    this.byeWaiter?.();
  }

  /** @internal connects to the control socket and waits for READY. */
  async attach(socketPath: string, deadline: number): Promise<void> {
    const started = Date.now();
    while (this.socket === null) {
      if (this.dead !== null) throw new GuestError(this.describe(`guest "${this.name}": ${this.dead} before its control port opened`));
      if (Date.now() > deadline) throw new GuestError(this.describe(`guest "${this.name}": QEMU's control socket did not open`));
      this.socket = await new Promise<Socket | null>((resolve) => {
        const s = connect(socketPath);
        s.once('connect', () => resolve(s));
        s.once('error', () => {
          s.destroy();
          setTimeout(() => resolve(null), 50);
        });
      });
    }
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => this.onData(d));
    // The socket closes when QEMU exits: give that exit a moment to be the reason reported.
    this.socket.on('close', () => setTimeout(() => this.fail('the control channel closed'), 1000).unref());
    this.socket.on('error', () => undefined);
    const uptime = await new Promise<number>((resolve, reject) => {
      this.readyWaiter = { resolve, reject };
      const left = deadline - Date.now();
      setTimeout(() => {
        if (this.readyWaiter) this.fail(`did not boot within ${Math.round((deadline - started) / 1000)} s (${this.accel.accel})`);
      }, Math.max(0, left)).unref();
    });
    this.guestUptimeAtReady = uptime;
  }

  private onData(chunk: string): void {
    // Answers can be megabytes long: look for line ends in the new chunk only.
    let nl = chunk.indexOf('\n');
    if (nl < 0) {
      this.inbox.push(chunk);
      return;
    }
    let start = 0;
    while (nl >= 0) {
      this.inbox.push(chunk.slice(start, nl));
      this.onLine(this.inbox.join(''));
      this.inbox = [];
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    if (start < chunk.length) this.inbox.push(chunk.slice(start));
  }

  private onLine(line: string): void {
    const parts = line.split(' ');
    if (parts[0] === 'READY') {
      this.readyWaiter?.resolve(Number(parts[1]));
      this.readyWaiter = null;
    } else if (parts[0] === 'BYE') {
      this.byeWaiter?.();
    } else if (parts[0] === 'R' && parts.length === 5) {
      const p = this.pending;
      if (!p || Number(parts[1]) !== p.id) return;
      clearTimeout(p.timer);
      this.pending = null;
      p.resolve({
        code: Number(parts[2]),
        stdout: Buffer.from(parts[3] as string, 'base64').toString('utf8'),
        stderr: Buffer.from(parts[4] as string, 'base64').toString('utf8'),
        ms: Date.now() - p.started,
      });
    }
  }

  /** Runs a shell script in the guest and resolves with its exit status and output (throws only when the guest fails or the command times out). */
  run(script: string, options: RunOptions = {}): Promise<GuestResult> {
    const next = this.queue.then(() => this.send(script, options));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private send(script: string, options: RunOptions): Promise<GuestResult> {
    if (this.closed) return Promise.reject(new GuestError(`guest "${this.name}" is closed`));
    if (this.dead !== null) return Promise.reject(new GuestError(this.describe(`guest "${this.name}": ${this.dead}`)));
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
    const body = withOptions(script, options);
    const id = ++this.seq;
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    return new Promise<GuestResult>((resolve, reject) => {
      const started = Date.now();
      // The guest enforces the timeout; this one fires only when the guest stops answering.
      const timer = setTimeout(() => {
        this.fail(`no answer ${seconds + 15} s after a command with a ${seconds} s timeout`);
        this.qemu.kill('SIGKILL');
      }, (seconds + 15) * 1000);
      this.pending = {
        id,
        started,
        timer,
        script,
        resolve: (r) => {
          timed(this.name, r.ms, `exit ${r.code}: ${script}`);
          // timeout(1) exits 124 after TERM, 137 when it had to KILL.
          if ((r.code === 124 || r.code === 137) && r.ms >= seconds * 1000) {
            reject(new GuestError(this.describe(`guest "${this.name}": command timed out after ${seconds} s: ${script.slice(0, 400)}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-2000)}`)));
          } else resolve(r);
        },
        reject,
      };
      this.socket?.write(`C ${id} ${seconds} ${Buffer.from(body, 'utf8').toString('base64')}\n`);
    });
  }

  /** Runs a script and returns its stdout; throws a GuestError (with stderr and the serial tail) unless it exits 0. */
  async runOk(script: string, options: RunOptions = {}): Promise<string> {
    const r = await this.run(script, options);
    if (r.code !== 0) {
      throw new GuestError(this.describe(`guest "${this.name}": exit ${r.code} from: ${script.slice(0, 400)}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`, 20));
    }
    return r.stdout;
  }

  /** Reads a file of the guest. */
  readFile(path: string): Promise<string> {
    return this.runOk(`${GUEST_BUSYBOX} cat ${shq(path)}`);
  }

  /** Writes a file in the guest (under /tmp or /run: the rest of the guest's root is this machine's, read-only). */
  async writeFile(path: string, content: string | Buffer): Promise<void> {
    const b64 = Buffer.from(content).toString('base64');
    const bb = GUEST_BUSYBOX;
    await this.runOk(`${bb} mkdir -p "$(${bb} dirname ${shq(path)})" && printf '%s' ${shq(b64)} | ${bb} base64 -d > ${shq(path)}`);
  }

  /** Starts a script in the background (its own session and process group, stdin /dev/null, output kept in the guest). */
  async spawn(script: string, options: RunOptions = {}): Promise<GuestProcess> {
    const n = ++this.bgSeq;
    const d = `/run/numaplan-guest/bg/${n}`;
    const bb = GUEST_BUSYBOX;
    // The script's shell records its own pid first: `$!` of the wrapper below is setsid's, which is
    // that shell only once setsid has exec'd it (a reader of /proc/PID in between sees setsid).
    const body = Buffer.from(`echo $$ > ${d}/pid.tmp; ${bb} mv ${d}/pid.tmp ${d}/pid\n${withOptions(script, options)}`, 'utf8').toString('base64');
    // The wrapper (own session, so the agent's timeout never reaches it) starts the script in a
    // further session of its own (so kill() reaches the script's whole group and not the wrapper),
    // waits, and records its exit status.
    const wrapper = `setsid /bin/sh "$1/cmd.sh" < /dev/null > "$1/out" 2> "$1/err" & wait $!; echo $? > "$1/rc.tmp"; ${bb} mv "$1/rc.tmp" "$1/rc"`;
    const pidText = await this.runOk(
      [
        `d=${d}`,
        `${bb} mkdir -p "$d"`,
        `printf '%s' ${shq(body)} | ${bb} base64 -d > "$d/cmd.sh"`,
        `setsid /bin/sh -c ${shq(wrapper)} bg "$d" < /dev/null > /dev/null 2>&1 &`,
        `while [ ! -f "$d/pid" ] && [ ! -f "$d/rc" ]; do ${bb} sleep 0.02; done`,
        `${bb} cat "$d/pid"`,
      ].join('\n'),
      { timeoutMs: 30_000 },
    );
    const pid = Number(pidText.trim());
    return {
      pid,
      wait: (o = {}) =>
        this.run(`d=${d}; while [ ! -f "$d/rc" ]; do ${bb} sleep 0.05; done; ${bb} cat "$d/out"; ${bb} cat "$d/err" >&2; exit "$(${bb} cat "$d/rc")"`, { timeoutMs: o.timeoutMs ?? options.timeoutMs ?? this.commandTimeoutMs }),
      output: async () => {
        const r = await this.run(`${bb} cat ${d}/out; ${bb} cat ${d}/err >&2`);
        return { stdout: r.stdout, stderr: r.stderr };
      },
      running: async () => (await this.run(`[ ! -f ${d}/rc ]`)).code === 0,
      kill: async (signal = 'TERM') => {
        await this.run(`kill -s ${shq(signal)} -- -${pid} 2>/dev/null || kill -s ${shq(signal)} ${pid} 2>/dev/null; true`);
      },
    };
  }

  /** Powers the guest off (asks the agent to end; kills QEMU after 20 s, or at once when the guest is broken). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    const closing = Date.now();
    if (this.dead === null && this.qemu.exitCode === null) {
      const bye = new Promise<void>((resolve) => {
        this.byeWaiter = resolve;
      });
      this.socket?.write('Q\n');
      await Promise.race([bye, new Promise((r) => setTimeout(r, 5000))]);
    }
    const killer = setTimeout(() => this.qemu.kill('SIGKILL'), this.dead === null ? 20_000 : 0);
    await this.exited;
    clearTimeout(killer);
    timed(this.name, Date.now() - closing, 'poweroff');
    this.socket?.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Boots a guest: of the given shape, or from a QEMU command line (ArgvGuest). Throws a GuestError
 * (with the serial log's tail) when it does not come up; a shape the harness cannot boot throws a
 * ShapeError naming the field.
 */
export async function bootGuest(source: GuestSource, options: BootOptions = {}): Promise<Guest> {
  let name: string;
  let resolved: ResolvedShape | null = null;
  let machineArgs: string[];
  let kernelArgs: string[];
  // The harness's own PCI devices go on the root bus by name (QEMU would put a device without bus=
  // on the last bus created, which may be an expander bridge of the argv's), in QEMU's JSON syntax:
  // QEMU creates JSON devices after all key=value ones, in order, so an argv's devices (libvirt
  // writes JSON with fixed slots) are placed first and the harness's take free slots.
  let rootBus = 'pcie.0';
  if (isArgvGuest(source)) {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(source.name)) throw new GuestError(`guest name "${source.name}" must be a hostname (a-z, 0-9, -)`);
    const { args, machineType } = harnessArgv(source.argv);
    name = source.name;
    machineArgs = [...(machineType === null ? ['-machine', 'q35'] : []), ...args];
    if (machineType !== null && !machineType.includes('q35')) rootBus = 'pci.0';
    kernelArgs = [];
  } else {
    resolved = resolveShape(source);
    name = resolved.name;
    machineArgs = ['-machine', 'q35', ...shapeQemuArgs(resolved)];
    kernelArgs = [...shapeKernelArgs(resolved), ...(source.kernelArgs ?? [])];
  }
  const p = prepare();
  if (options.modules) moduleLoadOrder(p.kernel, options.modules); // fail early on a module the kernel lacks
  const accel = options.accel === 'tcg' || options.accel === 'kvm' ? { accel: options.accel, why: 'asked for' } : await chooseAccel(p.qemu, p.image, p.initramfs);
  const timeoutMs = options.timeoutMs ?? 150_000;
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'npg-'));
  const socketPath = join(dir, 'ctl');
  const cmdline = [
    'console=ttyS0', 'panic=-1', 'rdinit=/init', 'mitigations=off', 'init_on_alloc=0', 'i8042.noaux', 'i8042.nokbd', 'i8042.nopnp', '8250.nr_uarts=1',
    `numaplan.hostname=${name}`, ...kernelArgs, ...(accel.accel === 'tcg' ? [...tcgApicWorkaround(machineArgs), TCG_TSC] : []), ...(options.kernelArgs ?? []),
  ].join(' ');
  const args = [
    // TCG's "max" CPU says AuthenticAMD without the topoext feature TCG lacks, so the guest would see
    // no SMT siblings; as GenuineIntel the guest reads sockets, cores and threads from CPUID leaf 0xB.
    '-accel', accel.accel === 'kvm' ? 'kvm' : `tcg,thread=${options.tcgThreads ?? 'single'}`, '-cpu', accel.accel === 'kvm' ? 'max' : 'max,vendor=GenuineIntel',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    ...machineArgs,
    '-kernel', p.image, '-initrd', p.initramfs, '-append', cmdline,
    '-fsdev', 'local,id=numaplan-rootfs,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', JSON.stringify({ driver: 'virtio-9p-pci', fsdev: 'numaplan-rootfs', mount_tag: ROOT_TAG, bus: rootBus }),
    '-device', JSON.stringify({ driver: 'virtio-serial-pci', id: 'numaplan-vser', bus: rootBus }),
    '-chardev', `socket,id=numaplan-ctl,path=${socketPath},server=on,wait=off`,
    '-device', JSON.stringify({ driver: 'virtserialport', bus: 'numaplan-vser.0', chardev: 'numaplan-ctl', name: CONTROL_PORT }),
    '-serial', 'stdio',
    ...(options.qemuArgs ?? []),
  ];
  const started = Date.now();
  const qemu = spawn(p.qemu, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const guest = new Guest(name, resolved, accel, qemu, dir, options.commandTimeoutMs ?? 120_000);
  qemu.on('error', () => undefined);
  try {
    await guest.attach(socketPath, started + timeoutMs);
    guest.bootMs = Date.now() - started;
    timed(name, guest.bootMs, `boot (kernel and init: ${guest.guestUptimeAtReady} s of guest time)`);
    if (resolved) await checkHugePages(guest, resolved);
    if (options.modules && options.modules.length > 0) {
      await guest.runOk(`modprobe -a ${options.modules.map(shq).join(' ')}`, { timeoutMs: Math.max(30_000, started + timeoutMs - Date.now()) });
    }
    return guest;
  } catch (err) {
    await guest.close().catch(() => undefined);
    throw err;
  }
}

/** Reads each node's huge-page pools back and fails when the kernel granted other than the shape asked. */
async function checkHugePages(g: Guest, shape: ResolvedShape): Promise<void> {
  const wanted = shape.nodes.flatMap((n) =>
    Object.entries(n.hugepages).map(([size, count]) => ({ node: n.id, size, count: count as number, kb: HUGE_PAGE_BYTES[size as '2M' | '1G'] / 1024 })),
  );
  if (wanted.length === 0) return;
  const out = await g.runOk(wanted.map((w) => `cat /sys/devices/system/node/node${w.node}/hugepages/hugepages-${w.kb}kB/nr_hugepages`).join('\n'));
  const got = out.trim().split('\n').map(Number);
  const wrong = wanted.filter((w, i) => got[i] !== w.count).map((w) => `node ${w.node} ${w.size}: asked ${w.count}, got ${got[wanted.indexOf(w)]}`);
  if (wrong.length > 0) throw new GuestError(g.describe(`guest "${g.name}": the kernel did not reserve the huge pages asked for at boot: ${wrong.join('; ')}`));
}

/**
 * For a vitest file: boots the guest (a shape or an argv) once in beforeAll (one boot shared by every test of the
 * enclosing describe), powers it off in afterAll, and appends the serial log's tail to the message
 * of every test that fails. Returns a getter for the guest.
 */
export function useGuest(shape: GuestSource, options: BootOptions = {}): () => Guest {
  let guest: Guest | null = null;
  const bootTimeout = options.timeoutMs ?? 150_000;
  beforeAll(async () => {
    guest = await bootGuest(shape, options);
  }, bootTimeout + 30_000);
  afterAll(async () => {
    await guest?.close();
  }, 60_000);
  beforeEach((ctx) => {
    ctx.onTestFailed(({ task }) => {
      if (!guest) return;
      const tail = guest.describe('', 30);
      for (const e of task.result?.errors ?? []) {
        if (typeof e.message === 'string' && !e.message.includes('serial console, last')) e.message += tail;
      }
    });
  });
  return () => {
    if (!guest) throw new GuestError(`guest "${shape.name}" is not booted (see the beforeAll failure)`);
    return guest;
  };
}
