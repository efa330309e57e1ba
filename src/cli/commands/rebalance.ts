/**
 * `numaplan rebalance`: a plan of moves for a host's placed VMs (dry run: nothing changes), and
 * `numaplan apply-plan`: a plan's steps checked against the state as it is now, with the libvirt
 * and migratepages commands of each, recorded in the state file with --record; the moves of
 * processes (--pid) and QEMU guests (--qmp) carried out with --apply and checked from /proc.
 */
import type { Command } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { RequestError, requestBounds } from '../../core/placement/request.js';
import { stateFromJson } from '../../core/placement/state.js';
import { moveProcess, moveQemu, type ProcessMoveReport } from '../../adapters/apply/move-process.js';
import { readQemuThreads } from '../../adapters/apply/qemu-threads.js';
import { type Move, type Plan, type PlanOptions, type VmCommands, applyMove, parseDuration, parseRate, planRebalance, vmCommands } from '../../core/rebalance/index.js';
import { type QemuThreads, processMove, qemuMove } from '../../core/rebalance/process-actions.js';
import { formatSize, parseSize } from '../../core/topology/sizes.js';
import { type Io, writeJson } from '../io.js';
import { EXIT_INFEASIBLE, type HostOptions, checkState, loadState, lockedState, readVm, saveState } from './place.js';

interface RebalanceOptions extends HostOptions {
  json?: boolean;
  output?: string;
  cooldown: string;
  rate: string;
  threshold: string;
  minGain: string;
  horizon: string;
  maxBytes: string;
  maxMoves: string;
  now?: string;
  waiting?: string[];
}

/** The planner's settings from the command's options; a bad value is an error naming its option (exit 2). */
export function planOptionsOf(opts: RebalanceOptions, now: number): Partial<PlanOptions> {
  const duration = (flag: string, v: string): number => {
    const ms = parseDuration(v);
    if (ms === null) throw new RequestError(flag, `expected a duration like 30s, 10m or 1h, got "${v}"`);
    return ms;
  };
  const number = (flag: string, v: string, integer = false): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
      throw new RequestError(flag, `expected a ${integer ? 'whole number' : 'number'} >= 0, got "${v}"`);
    }
    return n;
  };
  const rate = parseRate(opts.rate);
  if (rate === null) throw new RequestError('--rate', `expected a rate like 1G/s or 500M/s, got "${opts.rate}"`);
  let maxBytes: number;
  try {
    maxBytes = parseSize(opts.maxBytes);
  } catch (err) {
    throw new RequestError('--max-bytes', (err as Error).message);
  }
  const horizon = duration('--horizon', opts.horizon);
  if (horizon <= 0) throw new RequestError('--horizon', `must be longer than 0, got "${opts.horizon}"`);
  return {
    now,
    cooldownMs: duration('--cooldown', opts.cooldown),
    rateBytesPerSec: rate,
    threshold: number('--threshold', opts.threshold),
    minGain: number('--min-gain', opts.minGain),
    horizonSec: horizon / 1000,
    maxBytes,
    maxMoves: number('--max-moves', opts.maxMoves, true),
  };
}

function nowOf(text: string | undefined): number {
  if (text === undefined) return Date.now();
  const n = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(n)) throw new RequestError('--now', `expected milliseconds since the epoch or an ISO time, got "${text}"`);
  return n;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const secs = (s: number): string => (s < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);

/** The plan as an operator reads it. */
export function renderPlan(plan: Plan): string {
  const t = plan.totals;
  const lines: string[] = [];
  const rate = `${formatSize(plan.options.rateBytesPerSec)}/s`;
  lines.push(`rebalance plan for ${plan.host}: ${t.moves} move(s), ${formatSize(t.bytes)} to migrate (~${secs(t.seconds)} at ${rate}), ${t.repins} vCPU re-pin(s)`);
  lines.push(`  VMs' mean predicted latency x${t.latencyBefore.toFixed(3)} -> x${t.latencyAfter.toFixed(3)}, remote accesses ${pct(t.remoteBefore)} -> ${pct(t.remoteAfter)} (vCPU-weighted)`);
  if (plan.moves.length === 0) lines.push('  nothing pays for itself: no move proposed');
  for (const m of plan.moves) {
    lines.push('');
    lines.push(`step ${m.step}  ${m.kind}  ${m.vms.map((v) => `${v.vm}: nodes ${v.before.nodes.join(',')} -> ${v.after.nodes.join(',')}`).join('  |  ')}`);
    for (const v of m.vms) {
      const b = v.locality.before;
      const a = v.locality.after;
      lines.push(`  ${v.vm}: remote ${pct(b.remoteAccessFraction)} -> ${pct(a.remoteAccessFraction)}, latency x${b.relativeLatency.toFixed(2)} -> x${a.relativeLatency.toFixed(2)} (~${b.expectedLatencyNs} -> ~${a.expectedLatencyNs} ns)`);
      for (const x of v.memory) lines.push(`    memory node ${x.from} -> node ${x.to}: ${formatSize(x.bytes)}`);
      if (v.repins.length > 0) lines.push(`    re-pin ${v.repins.length} vCPU(s): ${v.repins.slice(0, 6).map((r) => `${r.vcpu}:${r.from}->${r.to}`).join(' ')}${v.repins.length > 6 ? ' ...' : ''}`);
    }
    const freed = m.gain.freedNodes.length > 0 ? `, frees node(s) ${m.gain.freedNodes.join(',')}` : '';
    const cores = m.gain.freedCores !== 0 ? `, whole cores free ${m.gain.freedCores > 0 ? '+' : ''}${m.gain.freedCores}` : '';
    const admits = m.gain.admits.length > 0 ? `, makes room for ${m.gain.admits.join(', ')}` : '';
    lines.push(`  gain  latency -${m.gain.latency.toFixed(3)} over ${secs(plan.options.horizonSec)}${admits} = ${m.gain.value.toFixed(1)}${freed}${cores}`);
    lines.push(`  cost  ${formatSize(m.cost.bytes)} (~${secs(m.cost.seconds)}), ${m.cost.repins} re-pin(s) = ${m.cost.price.toFixed(2)}`);
    lines.push(`  why   ${m.reason}`);
  }
  if (plan.waiting.length > 0) {
    lines.push('');
    lines.push('waiting:');
    for (const w of plan.waiting) lines.push(`  ${w.name}: ${w.fitsNow ? 'fits already' : w.admittedAt !== null ? `fits after step ${w.admittedAt}` : 'still fits nowhere: no move that pays makes room'}`);
  }
  if (plan.skipped.length > 0) {
    lines.push('');
    lines.push('never moved:');
    for (const s of plan.skipped) lines.push(`  ${s.vm}: ${s.why}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Registers `rebalance`. */
export function registerRebalance(program: Command, io: Io): void {
  program
    .command('rebalance')
    .description('propose a plan of moves (re-pin, move memory, narrow/widen, swap) that pay for themselves; dry run, nothing is changed')
    .option('--host <source>', 'the host (checked against the state file, or a fresh host without one)')
    .option('--state <file>', 'state file with the VMs placed (read only)')
    .option('--json', 'JSON output: the plan (what apply-plan reads)')
    .option('-o, --output <file>', 'also write the plan (JSON) to FILE for review and apply-plan')
    .option('--cooldown <duration>', 'a VM moved within this long is not moved again', '10m')
    .option('--rate <bytes/s>', 'memory migration rate the cost is estimated at', '1G/s')
    .option('--threshold <x>', "a move's gain must be at least X times its cost", '4')
    .option('--min-gain <ratio>', 'smallest improvement of relative latency a move may claim', '0.02')
    .option('--horizon <duration>', 'how long a latency gain is counted for', '10m')
    .option('--max-bytes <size>', 'bytes one plan may migrate in total', '64G')
    .option('--max-moves <n>', 'steps one plan may hold', '32')
    .option('--now <time>', 'the time of planning (ms or ISO; default: now), as the cool-down reads it')
    .option('--waiting <spec>', 'a VM waiting for room (same forms as place --vm; repeatable): a move that makes it fit counts as much as one VM going from x2 to x1 latency', (v: string, prev: string[] = []) => [...prev, v])
    .option('--calibration <file>', 'a probe result: predicted latencies from its measured matrix')
    .addHelpText(
      'after',
      `
Gain: the predicted relative latency (cost model) saved x the horizon; cost: migration seconds at
--rate + 0.01 s per vCPU re-pin. Never moved: VMs with cpus=, nodes= or layout=, VMs holding
devices, claims, displaced VMs, VMs moved within the cool-down. Each VM moves at most once per plan.

Examples:
  numaplan rebalance --state host.json
  numaplan rebalance --state host.json --rate 500M/s --max-bytes 16G -o plan.json
  numaplan rebalance --state host.json --waiting name=big,vcpus=40,memory=128G,numa=strict
  numaplan rebalance --state host.json --json | jq '.moves[].reason'
  numaplan apply-plan plan.json --state host.json`,
    )
    .action(async (opts: RebalanceOptions) => {
      if (!opts.state) throw new RequestError('--state', 'needed: the state file with the VMs placed');
      if (!existsSync(opts.state)) throw new RequestError('--state', `no state file ${opts.state}`);
      const now = nowOf(opts.now);
      const options = planOptionsOf(opts, now);
      const state = await loadState(opts);
      const waiting = (opts.waiting ?? []).map((spec) => readVm(spec, requestBounds(state.topology)));
      for (const w of waiting) {
        if (state.allocations.some((a) => a.name === w.name)) throw new RequestError('--waiting', `a VM named "${w.name}" is already on the host`);
      }
      if (new Set(waiting.map((w) => w.name)).size !== waiting.length) throw new RequestError('--waiting', 'two waiting VMs have the same name');
      const plan = planRebalance(state, options, waiting);
      if (opts.output) writeFileSync(opts.output, `${JSON.stringify(plan, null, 2)}\n`);
      if (opts.json) writeJson(io, { ok: true, plan });
      else {
        io.out(renderPlan(plan));
        io.out(`\ndry run: nothing was changed.${opts.output ? ` Plan written to ${opts.output}; numaplan apply-plan ${opts.output} --state ${opts.state} checks it and prints the commands.` : ' Write it with -o plan.json to review and apply it.'}\n`);
      }
    });
}

/** Reads a plan file; errors name the field (ERR_PLAN, exit 2). */
export function readPlan(path: string): Plan {
  if (!existsSync(path)) throw new RequestError('plan', `no plan file ${path}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new PlanError(path, `not valid JSON (${(err as Error).message})`);
  }
  const doc = (raw as { plan?: unknown } | null)?.plan ?? raw;
  const p = doc as Partial<Plan> | null;
  if (!p || typeof p !== 'object' || p.schema !== 'numaplan.plan/v1') throw new PlanError(`${path}:schema`, `expected "numaplan.plan/v1", got ${JSON.stringify(p?.schema)}`);
  if (typeof p.host !== 'string') throw new PlanError(`${path}:host`, 'expected the host source string');
  if (!Array.isArray(p.moves)) throw new PlanError(`${path}:moves`, 'expected an array of moves');
  p.moves.forEach((m, i) => {
    const at = `${path}:moves.${i}`;
    if (!m || typeof m !== 'object' || !Array.isArray(m.vms) || m.vms.length === 0) throw new PlanError(`${at}.vms`, 'expected the VMs the move changes');
    m.vms.forEach((v, j) => {
      for (const side of ['before', 'after'] as const) {
        const a = v?.[side];
        if (!a || !Array.isArray(a.cpus) || !Array.isArray(a.memory) || !Array.isArray(a.nodes) || !Array.isArray(a.heldCpus) || !Array.isArray(a.emulatorCpus) || !Array.isArray(a.devices) || typeof a.request !== 'object') {
          throw new PlanError(`${at}.vms.${j}.${side}`, 'expected an allocation (cpus, heldCpus, emulatorCpus, memory, devices, nodes, request)');
        }
      }
      if (typeof v.vm !== 'string') throw new PlanError(`${at}.vms.${j}.vm`, 'expected the VM name');
      if (!Array.isArray(v.memory) || !Array.isArray(v.repins)) throw new PlanError(`${at}.vms.${j}`, 'expected memory transfers and re-pins');
    });
  });
  return p as Plan;
}

/** A plan file that cannot be read. */
export class PlanError extends Error {
  readonly code = 'ERR_PLAN';
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'PlanError';
    this.path = path;
  }
}

interface ApplyOptions {
  state: string;
  json?: boolean;
  record?: boolean;
  apply?: boolean;
  pid?: string[];
  qmp?: string[];
  now?: string;
}

/** `--pid VM=PID` values as a map; a bad one is an error naming --pid (exit 2). */
export function pidsOf(specs: readonly string[]): Map<string, number> {
  const pids = new Map<string, number>();
  for (const spec of specs) {
    const m = /^(.+)=(\d+)$/.exec(spec);
    if (!m || Number(m[2]) <= 0) throw new RequestError('--pid', `expected VM=PID (a VM of the plan and its process id), got "${spec}"`);
    if (pids.has(m[1] as string)) throw new RequestError('--pid', `VM "${m[1]}" is given twice`);
    pids.set(m[1] as string, Number(m[2]));
  }
  return pids;
}

/** `--qmp VM=SOCKET` values as a map; a bad one is an error naming --qmp (exit 2). */
export function qmpsOf(specs: readonly string[]): Map<string, string> {
  const socks = new Map<string, string>();
  for (const spec of specs) {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m) throw new RequestError('--qmp', `expected VM=SOCKET (a VM of the plan and its QEMU's QMP UNIX socket), got "${spec}"`);
    if (socks.has(m[1] as string)) throw new RequestError('--qmp', `VM "${m[1]}" is given twice`);
    socks.set(m[1] as string, m[2] as string);
  }
  return socks;
}

/**
 * Asks each --qmp VM's QEMU for its threads and checks them against the plan: its vCPUs must be the
 * plan's VM's (as many, cpu-index 0..n-1). Anything wrong is an error naming --qmp (exit 2).
 */
async function qemusOf(socks: ReadonlyMap<string, string>, plan: Plan): Promise<Map<string, QemuThreads>> {
  const out = new Map<string, QemuThreads>();
  for (const [vm, socket] of socks) {
    let threads: QemuThreads;
    try {
      threads = await readQemuThreads(socket);
    } catch (err) {
      throw new RequestError('--qmp', `VM "${vm}": ${(err as Error).message}`);
    }
    const v = plan.moves.flatMap((m) => m.vms).find((x) => x.vm === vm);
    const want = v?.before.cpus.length ?? 0;
    const indexes = threads.vcpus.map((c) => c.vcpu).join(',');
    if (threads.vcpus.length !== want || threads.vcpus.some((c, i) => c.vcpu !== i)) {
      throw new RequestError('--qmp', `VM "${vm}": the QEMU on ${socket} (pid ${threads.pid}) has ${threads.vcpus.length} vCPU(s) (cpu-index ${indexes}), the plan's ${vm} has ${want}: not this VM's QEMU`);
    }
    out.set(vm, threads);
  }
  return out;
}

/** Who carries out each VM's part: a process (--pid) or a QEMU (--qmp); the others are libvirt domains. */
interface Executors {
  pids: ReadonlyMap<string, number>;
  qemus: ReadonlyMap<string, QemuThreads>;
  sockets: ReadonlyMap<string, string>;
}

/** A step's commands: a process's (taskset, migratepages, its cpuset) when it has a pid, a QEMU's per thread with --qmp, else the libvirt domain's. */
function stepCommands(m: Move, x: Executors): VmCommands[] {
  return m.vms.map((v) => {
    const q = x.qemus.get(v.vm);
    if (q !== undefined) {
      const qm = qemuMove(v, q);
      const vcpus = (qm.target.threads ?? []).filter((t) => t.thread.startsWith('vCPU '));
      const notes = [
        `QEMU pid ${q.pid} (QMP ${x.sockets.get(v.vm)}): checked afterwards from /proc (each vCPU thread's Cpus_allowed_list ${vcpus.map((t) => t.cpus).join(' ')}, its other threads ${formatList(qm.target.threads, vcpus)}, Mems_allowed_list and numa_maps ${qm.target.policy}:${qm.target.nodes})`,
        'joining the cpuset resets every thread to its CPUs: the vCPU threads float over them until re-pinned, a moment later',
      ];
      if (q.iothreads.length > 0) notes.push(`I/O threads ${q.iothreads.map((t) => t.id).join(', ')} go to the VM's emulator CPUs (the plan keeps the I/O CPUs among them, not per I/O thread)`);
      if (v.before.nodes.length > 1 || v.after.nodes.length > 1) notes.push("a vNUMA guest's memory backends (host-nodes=) are rebound by the kernel's cpuset rule (each old node onto the new node at the same position), not guest node by guest node");
      return { vm: v.vm, commands: qm.actions.map((a) => a.command), notes };
    }
    const pid = x.pids.get(v.vm);
    if (pid === undefined) return vmCommands(v);
    const pm = processMove(v, pid);
    return { vm: v.vm, commands: pm.actions.map((a) => a.command), notes: [`process ${pid}: checked afterwards from /proc (Cpus_allowed_list of every thread ${pm.target.cpus}, Mems_allowed_list and numa_maps ${pm.target.policy}:${pm.target.nodes})`] };
  });
}

function formatList(threads: readonly { cpus: string }[] | undefined, but: readonly { cpus: string }[]): string {
  const rest = [...new Set((threads ?? []).filter((t) => !but.includes(t)).map((t) => t.cpus))];
  return rest.join(' ') || '-';
}

/** Registers `apply-plan`. */
export function registerApplyPlan(program: Command, io: Io): void {
  program
    .command('apply-plan')
    .description("check a plan's steps against the state as it is now and print each move's commands; --apply carries out the moves of processes (--pid) and QEMU guests (--qmp) and verifies them from /proc; --record writes the moves into the state file")
    .argument('<plan>', 'a plan file (numaplan rebalance -o FILE, or its --json output)')
    .requiredOption('--state <file>', 'the state file the plan was made for')
    .option('--pid <vm=pid>', 'the VM is this process on this machine (one started with numaplan run; repeatable): its commands are taskset, migratepages and its cpuset', (v: string, prev: string[] = []) => [...prev, v])
    .option('--qmp <vm=socket>', "the VM is the QEMU serving QMP on this UNIX socket on this machine (e.g. one started by numaplan launch qemu ... -- -qmp unix:SOCKET,server=on,wait=off; repeatable): its commands pin each vCPU thread (query-cpus-fast), the other threads, and move its memory", (v: string, prev: string[] = []) => [...prev, v])
    .option('--apply', 'run the moves (every VM of the plan needs --pid or --qmp), check each from /proc, and record the verified steps in the state file')
    .option('--record', 'record the steps that still apply in the state file (each stamped for the cool-down); a refused step stops there')
    .option('--now <time>', 'the time of the moves (ms or ISO; default: now)')
    .option('--json', 'JSON output')
    .addHelpText(
      'after',
      `
Each step is checked on the state as it is now: it applies only when its VMs still hold what the plan
saw and its target is still free (placements may have arrived since). A refused step and the steps
after it are not applied: plan again (numaplan rebalance). Exit 1 when a step is refused, or when a
move carried out with --apply does not show in /proc as planned.

Dry run by default: the commands are printed, not run. For a libvirt domain (the VM's name), per VM:
virsh numatune --live (memory policy over old and new nodes), virsh vcpupin --live per re-pinned vCPU
and virsh emulatorpin, migratepages per node-to-node transfer, then numatune narrowed to the target
nodes (numaplan does not run these: run them, then --record).
For a process (--pid VM=PID): it joins its own cgroup v2 cpuset (numaplan-VM), taskset -a -p re-pins
every thread, migratepages moves its pages node by node, and the cpuset's mems set to the target
nodes rebinds its memory policy there (the kernel's way to change a running process's policy).
With --apply these run, and /proc/PID/task/*/status, /proc/PID/status and /proc/PID/numa_maps must
show the target CPUs, nodes, policy and every anonymous page on the target nodes.
For a QEMU guest (--qmp VM=SOCKET): QMP query-cpus-fast and query-iothreads give its threads (the
process is their thread group); the same cpuset steps run, but each vCPU thread is pinned with
taskset -p to its planned CPU (a shared VM's: the VM's CPUs), every other thread (main loop, I/O
threads, workers) to the VM's emulator CPUs (else its vCPUs' CPUs), as numaplan launch qemu pins
them. With --apply, each vCPU thread's Cpus_allowed_list must be its planned CPU and the guest RAM's
pages in numa_maps must be on the target nodes. A socket QEMU does not answer on, a VM the plan does
not move, or a QEMU with another number of vCPUs than the plan's VM is bad input (exit 2).

Examples:
  numaplan apply-plan plan.json --state host.json
  numaplan apply-plan plan.json --state host.json --record
  numaplan apply-plan plan.json --state host.json --pid job=4242
  numaplan apply-plan plan.json --state host.json --pid job=4242 --apply --json
  numaplan launch qemu --placement vm1.json -- -qmp unix:/run/vm1.qmp,server=on,wait=off &
  numaplan apply-plan plan.json --state host.json --qmp vm1=/run/vm1.qmp
  numaplan apply-plan plan.json --state host.json --qmp vm1=/run/vm1.qmp --apply --json
  numaplan apply-plan plan.json --state host.json --json | jq -r '.steps[].commands[].commands[]'`,
    )
    .action(async (planPath: string, opts: ApplyOptions) => {
      const plan = readPlan(planPath);
      if (!existsSync(opts.state)) throw new RequestError('--state', `no state file ${opts.state}`);
      const pids = pidsOf(opts.pid ?? []);
      const sockets = qmpsOf(opts.qmp ?? []);
      const named = new Set(plan.moves.flatMap((m) => m.vms.map((v) => v.vm)));
      const moves = `it moves ${[...named].join(', ') || 'nothing'}`;
      for (const vm of pids.keys()) if (!named.has(vm)) throw new RequestError('--pid', `VM "${vm}" is not moved by the plan (${moves})`);
      for (const vm of sockets.keys()) {
        if (!named.has(vm)) throw new RequestError('--qmp', `VM "${vm}" is not moved by the plan (${moves})`);
        if (pids.has(vm)) throw new RequestError('--qmp', `VM "${vm}" is given both --pid and --qmp: a process or a QEMU, not both`);
      }
      if (opts.apply) {
        const missing = [...named].filter((vm) => !pids.has(vm) && !sockets.has(vm));
        if (missing.length > 0) throw new RequestError(sockets.size > 0 ? '--qmp' : '--pid', `--apply runs moves of processes and QEMU guests only: give --pid ${missing[0]}=PID or --qmp ${missing[0]}=SOCKET (libvirt domains: run the printed commands, then --record)`);
      }
      const executors: Executors = { pids, sockets, qemus: await qemusOf(sockets, plan) };
      const now = nowOf(opts.now);
      type StepOut = { step: number; kind: Move['kind']; ok: boolean; code?: string; reasons?: string[]; commands: VmCommands[]; executed?: ProcessMoveReport[] };
      const result = await lockedState(io, opts.state, async () => {
        const state = stateFromJson(readFileSync(opts.state, 'utf8'), opts.state);
        checkState(state, opts.state);
        if (state.topology.source !== plan.host) throw new PlanError(`${planPath}:host`, `the plan is for host "${plan.host}", the state file ${opts.state} describes "${state.topology.source}"`);
        let cur = state;
        let recorded = state;
        const steps: StepOut[] = [];
        for (const m of plan.moves) {
          const r = applyMove(cur, m, now);
          if (!r.ok) {
            steps.push({ step: m.step, kind: m.kind, ok: false, code: r.code, reasons: r.reasons, commands: [] });
            break;
          }
          const out: StepOut = { step: m.step, kind: m.kind, ok: true, commands: stepCommands(m, executors) };
          steps.push(out);
          if (opts.apply) {
            const who = (vm: string): string => (executors.qemus.has(vm) ? `QEMU pid ${executors.qemus.get(vm)?.pid}` : `pid ${pids.get(vm)}`);
            if (!opts.json) io.err(`numaplan apply-plan: step ${m.step}: moving ${m.vms.map((v) => `${v.vm} (${who(v.vm)})`).join(', ')}\n`);
            out.executed = m.vms.map((v) => {
              const q = executors.qemus.get(v.vm);
              return q !== undefined ? moveQemu(v, q) : moveProcess(v, pids.get(v.vm) as number);
            });
            const bad = out.executed.filter((e) => !e.ok);
            if (bad.length > 0) {
              out.ok = false;
              out.code = bad.some((e) => e.refused !== null) ? 'stale' : 'not-verified';
              out.reasons = bad.map((e) => `${e.vm} (${e.kind === 'qemu' ? 'QEMU ' : ''}pid ${e.pid}): ${e.refused ?? [...e.actions.filter((a) => !a.ok).map((a) => `${a.command}: ${a.detail}`), ...e.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`)].join('; ')}`);
              break;
            }
          }
          cur = r.state;
          recorded = cur;
        }
        const record = opts.record === true || opts.apply === true;
        if (record && recorded !== state) saveState(opts.state, recorded);
        return { steps, refused: steps.find((s) => !s.ok) ?? null, pending: plan.moves.length - steps.length, recorded: record && recorded !== state };
      });
      if (result.refused) io.setExitCode(EXIT_INFEASIBLE);
      if (opts.json) {
        writeJson(io, { ok: result.refused === null, applied: opts.apply === true, recorded: result.recorded, steps: result.steps, notApplied: result.pending + (result.refused ? 1 : 0) });
        return;
      }
      const lines: string[] = [];
      if (plan.moves.length === 0) lines.push('the plan has no moves');
      for (const s of result.steps) {
        const status = s.ok ? (opts.apply ? 'done, verified from /proc' : opts.record ? 'recorded' : 'still applies') : s.code === 'not-verified' ? 'FAILED (not as planned in /proc)' : `REFUSED (${s.code})`;
        lines.push(`step ${s.step}  ${s.kind}  ${status}`);
        for (const r of s.reasons ?? []) lines.push(`  ${r}`);
        if (s.executed) {
          for (const e of s.executed) {
            if (e.refused !== null) continue;
            lines.push(`  # ${e.vm} (${e.kind === 'qemu' ? 'QEMU ' : ''}pid ${e.pid})`);
            for (const a of e.actions) lines.push(`  ${a.ok ? 'ok  ' : 'FAIL'} ${a.command}${a.detail ? `  (${a.detail})` : ''}`);
            for (const c of e.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
          }
          continue;
        }
        for (const c of s.commands) {
          lines.push(`  # ${c.vm}`);
          for (const cmd of c.commands) lines.push(`  ${cmd}`);
          for (const n of c.notes) lines.push(`  # note: ${n}`);
        }
      }
      if (result.refused) {
        const how = result.refused.executed?.some((e) => e.refused !== null) ? 'check the --pid and --qmp values, or plan again' : 'plan again';
        lines.push(`\nstep ${result.refused.step} and the ${result.pending} after it were not ${opts.apply ? 'carried out' : 'applied'}${result.recorded ? ' (the steps before it are recorded)' : ''}: ${how} with numaplan rebalance --state ${opts.state}`);
      }
      else if (opts.apply) lines.push(`\nthe moves are recorded in ${opts.state}`);
      else if (!opts.record && plan.moves.length > 0) lines.push(`\nnothing was changed (dry run): run the commands, then record the moves with --record${pids.size + sockets.size > 0 ? ', or let numaplan run and verify them with --apply' : ''}`);
      io.out(`${lines.join('\n')}\n`);
    });
}
