/**
 * `numaplan place`: place VMs in order on a host (optionally a state file that a sequence of
 * commands fills). Also the helpers `explain` and `release` share: loading and saving the state file,
 * reading --vm specs, the JSON shape of a placement.
 */
import { type Command, Option } from 'commander';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SOURCE_HELP, loadTopology } from '../../adapters/source.js';
import { EMIT_FORMATS, type EmitFormat, type EmitPlacementOptions, targetLimit } from '../../core/emit/index.js';
import type { Topology } from '../../core/topology/model.js';
import { readCalibrationFile } from '../calibration-file.js';
import { withCalibration } from '../../core/topology/calibration.js';
import { type AcceptPlacement, placeMany } from '../../core/placement/place.js';
import { DEFAULT_POLICY } from '../../core/placement/policies/index.js';
import type { Placement } from '../../core/placement/types.js';
import { type Io, writeJson } from '../io.js';
import { writeEmitted } from './emit.js';
import { renderPlacements, renderRefusal, renderReserve } from '../render/placement-text.js';
import { ANY_HOST, type RequestBounds, parseVmSpec, type VmRequest, parseVmRequest, RequestError, requestBounds } from '../../core/placement/request.js';
import { HostUpdateError, brokenVms, judgeAllocations, updateHost } from '../../core/placement/host-update.js';
import { type HostState, type ReserveOptions, StateError, createHostState, defaultReserve, stateFromJson, stateToJson } from '../../core/placement/state.js';
import { withStateLock } from '../state-lock.js';
import { parseCpuList } from '../../core/topology/cpulist.js';
import { parseSize } from '../../core/topology/sizes.js';

/** Options naming the host and the state. */
export interface HostOptions {
  host?: string;
  state?: string;
  reserveCpus?: string;
  reserveMemory?: string;
  /** Accept a reserve change that breaks VMs: mark them displaced. */
  displace?: boolean;
  /** A probe result (numaplan probe --json): the cost model's latencies come from it. */
  calibration?: string;
}

/** The topology with the --calibration file attached (checked against its nodes), or unchanged without one. */
async function calibrated(topology: Topology, path: string | undefined): Promise<Topology> {
  if (path === undefined) return topology;
  return withCalibration(topology, readCalibrationFile(path));
}

/**
 * Refuses a state whose VMs break the host's invariants (the fleet store's: `judgeAllocations`),
 * e.g. a file edited by hand so that two VMs share a CPU: ERR_STATE_INVALID (exit 2) naming the VMs
 * and resources. VMs marked displaced may lack what they hold; nothing else may hold it.
 */
export function checkState(state: HostState, origin: string): void {
  const displaced = new Set(state.allocations.filter((a) => a.displaced).map((a) => a.name));
  const broken = judgeAllocations(state.topology, state.reserve, state.allocations).filter((b) => !displaced.has(b.vm));
  if (broken.length === 0) return;
  const vms = brokenVms(broken);
  const list = broken.slice(0, 8).map((b) => `${b.vm}: ${b.resource}${b.node === null ? '' : ` on node ${b.node}`}: ${b.detail}`);
  throw new StateError(origin, `VM(s) ${vms.join(', ')} break the host's invariants: ${list.join('; ')}${broken.length > 8 ? `; and ${broken.length - 8} more` : ''}`, 'ERR_STATE_INVALID');
}

/**
 * Loads the state file if it exists (checked with `checkState`), else builds a fresh state from
 * --host. A new reserve (--reserve-cpus, --reserve-memory) on an existing state is judged against
 * its VMs: one that would break any throws HostUpdateError (the command refuses, exit 1), unless
 * --displace, which marks them displaced.
 */
export async function loadState(opts: HostOptions): Promise<HostState> {
  const reserveFor = (topology: HostState['topology']): ReserveOptions => {
    const bounds = requestBounds(topology);
    let cpus: number[] | undefined;
    if (opts.reserveCpus !== undefined) {
      try {
        cpus = parseCpuList(opts.reserveCpus, { maxId: bounds.maxCpu, what: 'CPU' });
      } catch (err) {
        throw new RequestError('--reserve-cpus', (err as Error).message);
      }
    }
    return { ...(cpus !== undefined ? { cpus } : {}), ...(opts.reserveMemory !== undefined ? { memory: parseSize(opts.reserveMemory) } : {}) };
  };
  if (opts.state && existsSync(opts.state)) {
    const read = stateFromJson(readFileSync(opts.state, 'utf8'), opts.state);
    checkState(read, opts.state);
    const state = opts.calibration === undefined ? read : { ...read, topology: await calibrated(read.topology, opts.calibration) };
    if (opts.host) {
      const topo = await loadTopology(opts.host);
      if (topo.source !== state.topology.source) {
        throw new RequestError('--host', `the state file ${opts.state} describes host "${state.topology.source}", not "${topo.source}"`);
      }
    }
    if (opts.reserveCpus !== undefined || opts.reserveMemory !== undefined) {
      const reserve = defaultReserve(state.topology, reserveFor(state.topology));
      const update = updateHost(state, state.topology, reserve, Date.now());
      if (update.displaces.length > 0 && !opts.displace) {
        throw new HostUpdateError(opts.reserveCpus !== undefined ? '--reserve-cpus' : '--reserve-memory', update.broken, update.displaces);
      }
      return update.state;
    }
    return state;
  }
  if (!opts.host) throw new RequestError('--host', 'needed (or an existing --state file)');
  const topology = await calibrated(await loadTopology(opts.host), opts.calibration);
  return createHostState(topology, reserveFor(topology));
}

/** Writes the state file atomically (temporary file in the same folder, then rename). */
export function saveState(path: string, state: HostState): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  writeFileSync(tmp, stateToJson(state));
  renameSync(tmp, path);
}

/**
 * Runs `fn` holding the state file's lock (when there is a state file): the read, the decision and
 * the write of one command happen while no other command changes the file.
 */
export function lockedState<T>(io: Io, path: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (path === undefined) return fn();
  return withStateLock(path, fn, (holder) => io.err(`numaplan: waiting for the lock on ${path} (held by ${holder})\n`));
}

/** Prints a reserve change refused because it breaks VMs (exit 1), in a refusal's shape. */
export function reportHostUpdate(io: Io, err: HostUpdateError, json: boolean): void {
  const hints = [`release or move ${err.vms.join(', ')}, or pass --displace to keep them marked displaced (nothing new is placed on what they hold)`];
  const reasons = err.broken.filter((b) => err.vms.includes(b.vm));
  if (json) writeJson(io, { ok: false, reasons, hints, displaces: err.vms });
  else io.out(renderRefusal(`${err.path} on this host`, reasons.map((r) => ({ ...r, resource: `${r.vm}: ${r.resource}` })), hints));
  io.setExitCode(EXIT_INFEASIBLE);
}

/**
 * A --vm value: the compact form, or JSON when it starts with "{", or @FILE holding JSON. `bounds`:
 * the host's largest CPU and node ids (lists naming more are refused before they are expanded).
 */
export function readVm(spec: string, bounds: RequestBounds = ANY_HOST): VmRequest {
  const text = spec.startsWith('@') ? readVmFile(spec.slice(1)) : spec;
  if (text.trimStart().startsWith('{')) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new RequestError('--vm', `not valid JSON (${(err as Error).message})`);
    }
    return parseVmRequest(raw, bounds);
  }
  return parseVmSpec(text, bounds);
}

function readVmFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new RequestError('--vm', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Collects repeated options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** JSON of one placement, in the contract's key order. */
export function placementJson(p: Placement): Record<string, unknown> {
  return {
    name: p.name,
    nodes: p.nodes,
    cpus: p.cpus,
    memoryByNode: p.memoryByNode,
    pageSize: p.pageSize,
    devices: p.devices,
    vnuma: p.vnuma,
    ...(p.io ? { io: p.io } : {}),
    explanation: p.explanation,
    memoryPolicy: p.memoryPolicy,
    cpuPolicy: p.cpuPolicy,
    policy: p.policy,
    heldCpus: p.heldCpus,
    emulatorCpus: p.emulatorCpus,
  };
}

interface PlaceOptionsCli extends HostOptions {
  vm: string[];
  policy?: string;
  json?: boolean;
  deviceNodes?: boolean;
  emit?: EmitFormat;
  hostBinding?: boolean;
  diskDir?: string;
}

/** Registers `numaplan place`. */
export function registerPlace(program: Command, io: Io): void {
  program
    .command('place')
    .description('place VMs on a host, in order: vCPUs, memory, huge pages and devices in one decision, with the reasons')
    .option('--host <source>', `the host: ${SOURCE_HELP.join(', ')}`)
    .option('--state <file>', 'state file: read if it exists, written back with the placed VMs')
    .requiredOption('--vm <spec>', 'a VM: name=db,vcpus=16,memory=64G[,pages=1G][,devices=rdma:1:required]... or JSON or @FILE (repeatable)', collect)
    .option('--policy <name>', 'placement policy', DEFAULT_POLICY)
    .option('--json', 'JSON output (the placement contract)')
    .option('--reserve-cpus <list>', "host CPUs kept for the host (default: CPU 0's core)")
    .option('--reserve-memory <size>', "memory of the reserve node kept for the host (default: max(1G, 2%))")
    .option('--displace', 'with --state and a new reserve that VMs in the file hold: mark them displaced instead of refusing')
    .option('--device-nodes', 'vNUMA: a CPU-less guest node for devices outside the VM nodes')
    .option('--calibration <file>', "a probe result (numaplan probe -o FILE): predicted latencies from its measured matrix (kept in --state)")
    .addOption(new Option('--emit <format>', 'print the configuration for a target instead of the placement').choices([...EMIT_FORMATS]))
    .option('--no-host-binding', 'with --emit: leave out host-node binding (for hosts that lack the planned nodes)')
    .option('--disk-dir <dir>', "with --emit: folder of the virtio disks' raw images NAME-diskK.img")
    .addHelpText(
      'after',
      `
VM fields: name vcpus memory pages(4K|2M|1G|auto) cpu(dedicated|shared) smt(auto|prefer|isolate|require)
  emulator(share|N) numa(auto|strict|preferred|interleave) maxnodes layout(8:32G/8:32G) tier(dram|hbm|cxl|gpu)
  devices(KIND[:COUNT][:required|preferred|none] joined by +; KIND rdma rdma-vf nic vf gpu pci:ADDR)
  cpus(host cpulist, one per vCPU) nodes(host node list)
  I/O: iothreads disks nets queues vhost(on|off) iocpus(share|siblings|N)
  pairing(switch|root-port|host-bridge|node): with devices=gpu:N+rdma:N, each GPU gets a NIC of its own
  no farther than that on the PCI tree (the closest free first; see topology --matrix), or a refusal
  naming each GPU left without one

VMs are placed in order. If one does not fit, the command stops there and exits 1: the JSON is the
refusal ({"ok":false,"reasons","hints"}) plus "failed" (its name) and "placements" (the VMs placed
before it); with --state, those earlier VMs are recorded in the state file.

With --state, commands take the file's lock (FILE.lock) for their read and write, so commands run
at once all land in the file. A new --reserve-cpus/--reserve-memory on an existing state is judged
against its VMs: one that takes what a VM holds is refused (exit 1, the VMs and resources listed)
unless --displace marks those VMs displaced. A state file whose VMs break the host's invariants
(edited by hand: two VMs on one CPU, a pool overfilled) is refused (exit 2).

With --calibration FILE (the output of numaplan probe on this host), the predicted latency ratio
and ns come from the measured matrix instead of SLIT ratios and published figures (the explanation
names the source); the nodes are still chosen by SLIT distance.

Examples:
  numaplan place --host preset:broadwell-2s --vm name=web,vcpus=12,memory=16G
  numaplan place --host sysfs --calibration probe.json --vm name=db,vcpus=4,memory=8G
  numaplan place --host preset:broadwell-2s --state host.json --vm name=db,vcpus=8,memory=32G,pages=1G --json
  numaplan place --host preset:dgx-h100 --vm name=train,vcpus=32,memory=256G,devices=gpu:4+rdma:4,pairing=switch`,
    )
    .action(async (opts: PlaceOptionsCli) => {
      const decided = await lockedState(io, opts.state, async () => {
        let state: HostState;
        try {
          state = await loadState(opts);
        } catch (err) {
          if (err instanceof HostUpdateError) {
            reportHostUpdate(io, err, opts.json === true);
            return null;
          }
          throw err;
        }
        const bounds = requestBounds(state.topology);
        const requests = opts.vm.map((v) => readVm(v, bounds));
        // With --emit the target is known up front: a placement it cannot express is refused here.
        const accept = opts.emit ? acceptFor(opts.emit, state.topology, { hostBinding: opts.hostBinding !== false }) : undefined;
        const placed = placeMany(requests, state, opts.policy, { deviceNodes: opts.deviceNodes === true, ...(accept ? { accept } : {}) });
        if (opts.state) saveState(opts.state, placed.state);
        return placed;
      });
      if (decided === null) return;
      const result = decided;
      if (result.refusal) {
        const r = result.refusal;
        if (opts.json) {
          writeJson(io, { ok: false, reasons: r.reasons, hints: r.hints, failed: r.name, placements: result.placements.map(placementJson) });
        } else {
          if (result.placements.length > 0) io.out(renderPlacements(result.placements, null));
          io.out(renderRefusal(r.name, r.reasons, r.hints));
          io.out(`${renderReserve(result.state)}\n`);
        }
        io.setExitCode(EXIT_INFEASIBLE);
        return;
      }
      if (opts.emit) {
        writeEmitted(io, result.placements, result.state.topology, opts.emit, { hostBinding: opts.hostBinding !== false, json: opts.json === true, ...(opts.diskDir !== undefined ? { diskDir: opts.diskDir } : {}) });
        return;
      }
      if (opts.json) writeJson(io, { ok: true, placements: result.placements.map(placementJson) });
      else io.out(renderPlacements(result.placements, result.state));
    });
}

/** The placement-time check of a target: refuses what `format` cannot express, naming why. */
export function acceptFor(format: EmitFormat, topology: Topology, options: EmitPlacementOptions): AcceptPlacement {
  return (p) => {
    const why = targetLimit(p, topology, format, options);
    if (why === null) return null;
    const others = EMIT_FORMATS.filter((f) => f !== format && f !== 'numactl' && targetLimit(p, topology, f, options) === null);
    return {
      reason: { resource: `target:${format}`, node: null, need: 1, have: 0, detail: why },
      hints: others.length > 0 ? [`the placement fits the host; ${others.join(', ')} can express it`] : ['change the request (memory policy, tier, device nodes) so that the target can express it'],
    };
  };
}

/** Exit code of a refusal. */
export const EXIT_INFEASIBLE = 1;
