/**
 * `numaplan host prep`: plan, and with --apply make, the host settings placement relies on: per-node
 * huge-page pools, transparent huge pages, the host reserve (see core/host/prep.ts). A dry run by
 * default; judged against the VMs of a state file or of the service; idempotent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { type Command, Option } from 'commander';
import { applyChange, readHostSettings, unwritable } from '../../adapters/host/settings.js';
import { readSysfs } from '../../adapters/sysfs/read-sysfs.js';
import {
  type Change,
  type ChangeOutcome,
  describeChange,
  type PlacedVms,
  type PrepPlan,
  PrepError,
  type PrepRefusal,
  type PrepRequest,
  parseHugepagesSpec,
} from '../../core/host/prep.js';
import type { HostReserve, HostState } from '../../core/placement/state.js';
import { parseCpuList } from '../../core/topology/cpulist.js';
import type { Topology } from '../../core/topology/model.js';
import { formatSize, parseSize } from '../../core/topology/sizes.js';
import { type Io, writeJson } from '../io.js';
import { table } from '../render/table.js';
/** Exit code of a refusal. */
const EXIT_INFEASIBLE = 1;

interface PrepCli {
  hugepages?: string;
  thp?: string;
  thpDefrag?: string;
  profile?: 'latency';
  reserveCpus?: string;
  reserveMemory?: string;
  state?: string;
  server?: string;
  tokenFile?: string;
  token?: string;
  name?: string;
  apply?: boolean;
  strict?: boolean;
  json?: boolean;
  root: string;
}

/** The VMs a change is judged against, and how to record the result. */
interface Placed {
  vms: PlacedVms;
  /** The state as read (state file), to write back. */
  state: HostState | null;
  server: { url: string; token: string; name: string; exists: boolean } | null;
}

function usage(path: string, message: string): PrepError {
  return new PrepError(path, message);
}

/** The request from the options (exit 2 naming the option when one is wrong). */
function requestOf(opts: PrepCli, topology: Topology): PrepRequest {
  const request: PrepRequest = { hugepages: opts.hugepages !== undefined ? parseHugepagesSpec(opts.hugepages, topology) : [] };
  if (opts.thp !== undefined) request.thp = opts.thp;
  if (opts.thpDefrag !== undefined) request.thpDefrag = opts.thpDefrag;
  if (opts.profile !== undefined) request.profile = opts.profile;
  if (opts.reserveCpus !== undefined || opts.reserveMemory !== undefined) {
    const reserve: { cpus?: number[]; memory?: number } = {};
    const maxCpu = Math.max(0, ...topology.pus.map((p) => p.os), ...topology.offlineCpus);
    if (opts.reserveCpus !== undefined) {
      try {
        reserve.cpus = parseCpuList(opts.reserveCpus, { maxId: maxCpu, what: 'CPU' });
      } catch (err) {
        throw usage('--reserve-cpus', (err as Error).message);
      }
    }
    if (opts.reserveMemory !== undefined) {
      try {
        reserve.memory = parseSize(opts.reserveMemory);
      } catch (err) {
        throw usage('--reserve-memory', (err as Error).message);
      }
    }
    request.reserve = reserve;
  }
  if (request.hugepages.length === 0 && request.thp === undefined && request.thpDefrag === undefined && !request.profile && !request.reserve) {
    throw usage('host prep', 'nothing asked: give --hugepages, --thp, --thp-defrag, --reserve-cpus/--reserve-memory or --profile (see --help)');
  }
  return request;
}

/** Reads the state file's VMs (a missing file: none yet, recorded on --apply), checking it describes this host. */
async function fromState(path: string, topology: Topology): Promise<Placed> {
  const { createHostState, defaultReserve, stateFromJson } = await import('../../core/placement/state.js');
  const { checkState } = await import('./place.js');
  if (!existsSync(path)) {
    const fresh = createHostState(topology);
    return { vms: { origin: path, fresh: true, reserve: defaultReserve(topology), allocations: [] }, state: fresh, server: null };
  }
  const state = stateFromJson(readFileSync(path, 'utf8'), path);
  checkState(state, path);
  const t = state.topology;
  if (!t.source.startsWith('sysfs') || (t.hostname !== null && topology.hostname !== null && t.hostname !== topology.hostname)) {
    throw usage('--state', `${path} describes host "${t.hostname ?? t.source}" (${t.source}), not this one ("${topology.hostname ?? 'unnamed'}"): host prep changes this host`);
  }
  return { vms: { origin: path, reserve: state.reserve, allocations: state.allocations }, state, server: null };
}

/** Reads the service's view of this host: its reserve and VMs. */
async function fromServer(opts: PrepCli, io: Io, topology: Topology): Promise<Placed> {
  const url = (opts.server as string).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw usage('--server', `expected http://HOST:PORT, got "${opts.server}"`);
  const { agentToken } = await import('./agent.js');
  const { sanitize } = await import('../../server/demo.js');
  const token = agentToken(opts, io);
  const name = sanitize(opts.name ?? topology.hostname ?? hostname());
  let res: Response;
  try {
    res = await fetch(`${url}/api/v1/hosts/${encodeURIComponent(name)}`, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    throw usage('--server', `cannot reach ${url} (${(err as Error).message})`);
  }
  const { defaultReserve, stateFromJson } = await import('../../core/placement/state.js');
  if (res.status === 404) {
    return { vms: { origin: `${url} (host ${name}, not registered yet)`, fresh: true, reserve: defaultReserve(topology), allocations: [] }, state: null, server: { url, token, name, exists: false } };
  }
  if (!res.ok) throw usage('--server', `${url} answered ${res.status} for host ${name}`);
  const body = (await res.json()) as { topology: unknown; reserve: unknown; vms: { allocation: unknown }[] };
  // The service's own documents: read through the state file's checks.
  const state = stateFromJson(JSON.stringify({ schema: 'numaplan.state/v1', topology: body.topology, reserve: body.reserve, allocations: body.vms.map((v) => v.allocation) }), `${url} host ${name}`);
  return { vms: { origin: `${url} (host ${name})`, reserve: state.reserve, allocations: state.allocations }, state: null, server: { url, token, name, exists: true } };
}

/** One row per change for the text report. */
function rows(changes: readonly Change[], outcomes?: readonly ChangeOutcome[]): string[][] {
  return changes.map((c, i) => {
    const d = describeChange(c);
    const o = outcomes?.[i];
    const result = !o ? '' : o.status === 'changed' ? 'done' : o.status === 'short' ? `SHORT: the kernel granted ${o.readBack}` : `FAILED${o.error ? `: ${o.error}` : ''}`;
    return [d.what, d.from, d.to, ...(outcomes ? [result] : []), d.where];
  });
}

function refusalText(refusals: readonly PrepRefusal[]): string {
  return table(
    ['vm', 'resource', 'node', 'need', 'have', 'why'],
    refusals.map((r) => {
      const amount = (v: number): string => (/^(memory|hugepages)/.test(r.resource) ? formatSize(v) : String(v));
      return [r.vm ?? '-', r.resource, r.node === null ? '-' : String(r.node), amount(r.need), amount(r.have), r.detail];
    }),
  );
}

function changeJson(c: Change, o?: ChangeOutcome): Record<string, unknown> {
  const d = describeChange(c);
  return {
    ...c,
    what: d.what,
    ...(o ? { status: o.status, readBack: o.readBack, ...(o.change.kind === 'hugepages' ? { granted: Number(o.readBack) } : {}), ...(o.error ? { error: o.error } : {}) } : { status: 'planned' }),
  };
}

/** Registers `numaplan host prep`. */
export function registerHost(program: Command, io: Io): void {
  const host = program
    .command('host')
    .description('prepare this host for placement: huge-page pools, transparent huge pages, the host reserve')
    .addHelpText('after', '\nExamples:\n  numaplan host prep --hugepages 2M:128@1,1G:2@0          the plan: nothing is changed\n  sudo numaplan host prep --profile latency --state host.json --apply');
  host
    .command('prep')
    .description('plan (and with --apply make) host settings: per-node huge-page pools, THP, the host reserve; a dry run by default')
    .option('--hugepages <spec>', 'pools per node: SIZE:COUNT[@NODES],... e.g. 2M:128@1,1G:2@0 (without @: every node with memory)')
    .option('--thp <mode>', 'transparent huge pages: always, madvise or never (/sys/kernel/mm/transparent_hugepage/enabled)')
    .option('--thp-defrag <mode>', 'THP defrag: always, defer, defer+madvise, madvise or never')
    .addOption(new Option('--profile <name>', 'a documented set of settings (latency: THP madvise, defrag never, a small 2M pool per node)').choices(['latency']))
    .option('--reserve-cpus <list>', "the CPUs kept for the host (recorded in --state or the service; a cpuset for host tasks where the host offers one)")
    .option('--reserve-memory <size>', 'memory of the reserve node kept for the host')
    .option('--state <file>', 'judge against the VMs of this state file, and record the new pools and reserve in it')
    .option('--server <url>', 'judge against the VMs the fleet service holds for this host, and post the result')
    .option('--token-file <file>', "the service's token (or NUMAPLAN_TOKEN)")
    .option('--token <t>', 'the token itself (shows in the process list)')
    .option('--name <host>', "this host's name in the fleet (default: its hostname)")
    .option('--apply', 'make the changes (needs root for /sys); without it, only print the plan')
    .option('--strict', 'with --apply: exit 1 when the kernel grants fewer huge pages than asked')
    .option('--json', 'JSON output')
    .addOption(new Option('--root <dir>', 'a sysfs/procfs tree to read and write instead of this host (testing)').default('/').hideHelp())
    .addHelpText(
      'after',
      `
Without --apply nothing is written: the plan lists each change (the file, the value now and the one
planned) and what is already as asked. With --apply each change is made and read back: a pool reads
back the pages the kernel granted, which can be fewer than asked when the node's memory is short or
fragmented (1G pages especially); that is reported, and is an error only with --strict. Run it
again to retry: a second --apply with nothing left to do changes nothing and says so.

A change that would take huge pages or CPUs that placed VMs hold (a pool shrunk under a VM, a CPU a
VM holds moved into the reserve) is refused, with the VMs and resources, and nothing is changed:
the VMs are those of --state FILE or of --server URL.

The host reserve is recorded in the state file or the service. Where the host offers a cpuset for
host tasks it is set too: on cgroup v2 without systemd, the cgroup "numaplan-host" at the root of
the hierarchy (cpuset.cpus = the reserve, cpuset.mems = its nodes; host daemons started in it stay
on the reserve); under systemd, which owns the cgroup tree, the systemctl settings are printed
instead of written.

--profile latency: THP "madvise" (huge pages only where a program asks), defrag "never" (no
compaction stalls in page faults), and a 2M pool of 2% of each node's memory (never fewer pages
than it holds): the explicit pool latency-sensitive guests are placed with (pages=2M).

Exit codes: 0 done or nothing to do, 1 refused (it would break a VM), a write failed, or (--strict)
the kernel granted fewer pages than asked, 2 bad input.

Examples:
  numaplan host prep --hugepages 2M:128@1,1G:2@0                 the plan: nothing is changed
  sudo numaplan host prep --hugepages 2M:128@1,1G:2@0 --apply
  sudo numaplan host prep --profile latency --state host.json --apply
  sudo numaplan host prep --thp madvise --thp-defrag never --apply --json
  sudo numaplan host prep --reserve-cpus 0-1 --reserve-memory 2G --state host.json --apply`,
    )
    .action(async (opts: PrepCli) => {
      const topology = readSysfs(opts.root === '/' ? {} : { root: opts.root });
      const request = requestOf(opts, topology);
      if (opts.state !== undefined && opts.server !== undefined) throw usage('--state', 'give --state or --server, not both');
      const run = async (): Promise<void> => {
        const placed: Placed | null = opts.state !== undefined ? await fromState(opts.state, topology) : opts.server !== undefined ? await fromServer(opts, io, topology) : null;
        const { planHostPrep } = await import('../../core/host/prep.js');
        // The state module (and its schema library) only when a reserve is asked for.
        const defaultReserve = request.reserve ? (await import('../../core/placement/state.js')).defaultReserve : null;
        const buildReserve = (t: Topology, r: { cpus?: number[]; memory?: number }): HostReserve => {
          try {
            if (!defaultReserve) throw new Error('no reserve asked for');
            return defaultReserve(t, r);
          } catch (err) {
            throw usage(r.cpus !== undefined ? '--reserve-cpus' : '--reserve-memory', (err as Error).message.replace(/^reserve\.\w+: /, ''));
          }
        };
        const plan = planHostPrep(topology, readHostSettings(opts.root), request, placed?.vms ?? null, buildReserve);
        await report(io, opts, plan, placed, topology);
      };
      if (opts.state !== undefined && opts.apply) {
        const { lockedState } = await import('./place.js');
        await lockedState(io, opts.state, run);
      } else await run();
    });
}

/** Prints the plan, or applies it and prints what happened; sets the exit code. */
async function report(io: Io, opts: PrepCli, plan: PrepPlan, placed: Placed | null, topology: Topology): Promise<void> {
  const json = opts.json === true;
  const base = { host: topology.hostname, state: opts.state ?? null, server: placed?.server?.url ?? null };
  const unchanged = plan.unchanged.map((c) => ({ kind: c.kind, what: describeChange(c).what, value: describeChange(c).to, where: describeChange(c).where }));
  if (plan.refusals.length > 0) {
    if (json) writeJson(io, { ok: false, applied: false, ...base, refusals: plan.refusals, changes: plan.changes.map((c) => changeJson(c)), unchanged, advice: plan.advice, notes: plan.notes });
    else {
      io.out(`numaplan host prep: refused, nothing changed: it would take what placed VMs hold (${placed?.vms.origin})\n${refusalText(plan.refusals)}\n`);
      io.out(`release or move ${[...new Set(plan.refusals.map((r) => r.vm).filter((v) => v !== null))].join(', ')} first, or ask for less\n`);
    }
    io.setExitCode(EXIT_INFEASIBLE);
    return;
  }
  if (!opts.apply) {
    const root = process.getuid?.() === 0 || opts.root !== '/';
    const notes = [...plan.notes, ...(!root && plan.changes.some((c) => c.kind !== 'reserve') ? ['--apply needs root: the changes write to /sys'] : [])];
    if (json) {
      writeJson(io, { ok: true, applied: false, ...base, changes: plan.changes.map((c) => changeJson(c)), unchanged, refusals: [], advice: plan.advice, notes });
      return;
    }
    const out: string[] = [];
    if (plan.changes.length === 0) out.push('numaplan host prep: nothing to change: everything asked is already so');
    else {
      out.push('numaplan host prep: the plan (dry run: nothing changed; --apply makes it)');
      out.push(table(['change', 'now', 'planned', 'where'], rows(plan.changes)));
    }
    if (unchanged.length > 0) out.push(`already as asked: ${unchanged.map((u) => `${u.what} ${u.value}`).join('; ')}`);
    for (const a of plan.advice) out.push(`to apply yourself: ${a}`);
    for (const n of notes) out.push(`note: ${n}`);
    io.out(`${out.join('\n')}\n`);
    return;
  }

  // --- apply ---
  const sysChanges = plan.changes.filter((c) => c.kind !== 'reserve');
  const denied = unwritable(sysChanges, opts.root);
  if (denied.length > 0) {
    throw usage('--apply', `cannot write ${denied.slice(0, 3).join(', ')}${denied.length > 3 ? ` and ${denied.length - 3} more` : ''}: run it as root (nothing was changed)`);
  }
  const outcomes: ChangeOutcome[] = [];
  for (const c of plan.changes) outcomes.push(c.kind === 'reserve' ? { change: c, status: 'changed', readBack: '' } : applyChange(c, opts.root));
  // The host as it is now: what the state file or the service records.
  const after = readSysfs(opts.root === '/' ? {} : { root: opts.root });
  const notes = [...plan.notes];
  const reserveChange = plan.changes.find((c): c is Change & { kind: 'reserve' } => c.kind === 'reserve');
  let recorded: string | null = null;
  if (placed?.state && opts.state !== undefined) {
    const { withCalibration } = await import('../../core/topology/calibration.js');
    const { saveState } = await import('./place.js');
    const old = placed.state.topology.calibration;
    const sameNodes = old !== undefined && old.nodes.join(',') === after.nodes.map((n) => n.id).join(',');
    const topology = sameNodes ? withCalibration(after, old) : after;
    const changed = plan.changes.length > 0 || !existsSync(opts.state);
    if (changed) {
      saveState(opts.state, { ...placed.state, topology, reserve: reserveChange?.to ?? placed.state.reserve });
      recorded = opts.state;
    }
  } else if (placed?.server && (plan.changes.length > 0 || !placed.server.exists)) {
    const { postTopology } = await import('./agent.js');
    const { topologyToJson } = await import('../../core/topology/json-out.js');
    const s = placed.server;
    const r = await postTopology(s.url, s.token, s.name, topologyToJson(after), opts.reserveCpus !== undefined || opts.reserveMemory !== undefined ? { reserve: reserveRequest(opts, after) } : {});
    if (r.status !== 200 && r.status !== 201) {
      const b = r.body as { error?: { code?: string; message?: string } } | null;
      notes.push(`the service did not take the update: ${r.status} ${b?.error?.code ?? ''} ${b?.error?.message ?? ''}`.trim());
      outcomes.push({ change: reserveChange ?? plan.changes[0] as Change, status: 'failed', readBack: '', error: `service ${r.status}` });
    } else recorded = `${s.url} (host ${s.name})`;
  }
  const short = outcomes.filter((o) => o.status === 'short');
  const failed = outcomes.filter((o) => o.status === 'failed');
  for (const o of short) {
    if (o.change.kind === 'hugepages') notes.push(`node ${o.change.node}: the kernel granted ${o.readBack} of the ${o.change.to} pages asked (its memory is short or fragmented); run again to retry`);
  }
  if (json) {
    writeJson(io, {
      ok: failed.length === 0 && !(opts.strict && short.length > 0),
      applied: true,
      ...base,
      changes: plan.changes.map((c, i) => changeJson(c, outcomes[i])),
      unchanged,
      refusals: [],
      recorded,
      advice: plan.advice,
      notes,
    });
  } else {
    const out: string[] = [];
    if (plan.changes.length === 0) out.push('numaplan host prep: nothing to change: everything asked is already so (nothing written)');
    else {
      out.push(`numaplan host prep: applied ${plan.changes.length} change(s)`);
      out.push(table(['change', 'was', 'asked', 'result', 'where'], rows(plan.changes, outcomes)));
    }
    if (unchanged.length > 0) out.push(`already as asked: ${unchanged.map((u) => `${u.what} ${u.value}`).join('; ')}`);
    if (recorded) out.push(`recorded in ${recorded}`);
    for (const a of plan.advice) out.push(`to apply yourself: ${a}`);
    for (const n of notes) out.push(`note: ${n}`);
    io.out(`${out.join('\n')}\n`);
  }
  if (failed.length > 0 || (opts.strict && short.length > 0)) io.setExitCode(1);
}

function reserveRequest(opts: PrepCli, topology: Topology): { cpus?: number[]; memory?: number } {
  const r: { cpus?: number[]; memory?: number } = {};
  if (opts.reserveCpus !== undefined) r.cpus = parseCpuList(opts.reserveCpus, { maxId: Math.max(0, ...topology.pus.map((p) => p.os)), what: 'CPU' });
  if (opts.reserveMemory !== undefined) r.memory = parseSize(opts.reserveMemory);
  return r;
}
