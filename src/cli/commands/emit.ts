/**
 * `numaplan emit`: the configuration of placed VMs for libvirt, QEMU, Xen (xl), Cloud Hypervisor or
 * numactl. Placements come from a file written by `numaplan place --json` (`--placement FILE`) or are
 * decided here (`--vm SPEC`). The placement JSON does not carry the host, so the host comes from
 * `--host SOURCE` or the `--state FILE` the placement was recorded in.
 * Also `writeEmitted`, which `numaplan place --emit FORMAT` uses.
 */
import { type Command, Option } from 'commander';
import { SOURCE_HELP, loadTopology } from '../../adapters/source.js';
import { EMIT_FORMATS, type EmitFormat, type EmitPlacementOptions, EmitError, type PlacementLike, emitPlacement, parsePlacementFile } from '../../core/emit/index.js';
import { placeMany } from '../../core/placement/place.js';
import { DEFAULT_POLICY } from '../../core/placement/policies/index.js';
import { requestBounds } from '../../core/placement/request.js';
import type { Topology } from '../../core/topology/model.js';
import type { Io } from '../io.js';
import { EXIT_INFEASIBLE, acceptFor, collect, loadState, readVm } from './place.js';
import { hugetlbfsMount } from '../../adapters/apply/hugetlbfs.js';
import { pageSizeLabel } from '../../core/topology/sizes.js';
import { renderRefusal } from '../render/placement-text.js';
import { readText } from '../placement-input.js';

/** Emitter options a command line can set. */
export interface EmitCliOptions {
  hostBinding?: boolean;
  libvirtMode?: 'complete' | 'fragment' | 'merge';
  domain?: string;
  hugePageBackend?: 'file' | 'memfd';
  hugetlbfs?: string;
  machine?: string;
  accel?: string;
  diskDir?: string;
  json?: boolean;
}

/** Turns CLI options into emitter options (reading the --domain file for merge mode). */
export function emitOptionsOf(o: EmitCliOptions): EmitPlacementOptions {
  const out: EmitPlacementOptions = { hostBinding: o.hostBinding !== false };
  if (o.domain !== undefined) {
    out.libvirtMode = 'merge';
    out.existingDomain = readText(o.domain, '--domain');
  } else if (o.libvirtMode !== undefined) {
    if (o.libvirtMode === 'merge') throw new EmitError('--libvirt-mode', 'merge needs --domain FILE (the existing domain XML)');
    out.libvirtMode = o.libvirtMode;
  }
  if (o.hugePageBackend !== undefined) out.hugePageBackend = o.hugePageBackend;
  if (o.hugetlbfs !== undefined) out.hugetlbfsPath = o.hugetlbfs;
  if (o.machine !== undefined) out.machine = o.machine;
  if (o.accel !== undefined) out.accel = o.accel;
  if (o.diskDir !== undefined) out.diskDir = o.diskDir;
  return out;
}

/**
 * The QEMU file backend without --hugetlbfs: the hugetlbfs mount of the placement's page size on
 * this machine (read from /proc/mounts), or a clear error naming the missing mount.
 */
export function withHugetlbfsMount(options: EmitPlacementOptions, p: PlacementLike): EmitPlacementOptions {
  if (options.hugePageBackend !== 'file' || options.hugetlbfsPath !== undefined || p.pageSize <= 4096) return options;
  const mount = hugetlbfsMount(p.pageSize);
  if (mount === null) {
    throw new EmitError('--huge-page-backend', `file: no hugetlbfs mount of ${pageSizeLabel(p.pageSize)} pages on this machine (mount one, give --hugetlbfs PATH, or use the default memfd backend)`);
  }
  return { ...options, hugetlbfsPath: mount };
}

export { readOnePlacement, readText } from '../placement-input.js';

/**
 * Prints each placement's configuration. Text: libvirt XML documents, xl.cfg texts, or one shell-quoted
 * command line per VM. JSON: one compact object per line per VM: {"name","argv"[,"pins"|"taskset"]}
 * for command-line targets, {"name","xml"} for libvirt, {"name","xlcfg"} for xl.
 */
export function writeEmitted(io: Io, placements: readonly PlacementLike[], topology: Topology, format: EmitFormat, o: EmitCliOptions): void {
  const options = emitOptionsOf(o);
  for (const p of placements) {
    const e = emitPlacement(p, topology, format, withHugetlbfsMount(options, p));
    if (o.json) {
      const doc: Record<string, unknown> = { name: e.name };
      if (e.binary) doc.binary = e.binary;
      if (e.argv) doc.argv = e.argv;
      if (e.pins) doc.pins = e.pins;
      if (e.taskset) doc.taskset = e.taskset;
      if (format === 'libvirt') doc.xml = e.text;
      if (format === 'xl') doc.xlcfg = e.text;
      io.out(`${JSON.stringify(doc)}\n`);
    } else {
      io.out(e.text.endsWith('\n') ? e.text : `${e.text}\n`);
    }
  }
}

/** Adds the emitter options shared by `emit`, `place --emit` and `launch`. */
export function addEmitterOptions(cmd: Command): Command {
  return cmd
    .option('--no-host-binding', 'leave out host-node binding (for a host lacking the planned nodes)')
    .addOption(new Option('--libvirt-mode <mode>', 'libvirt: complete domain, NUMA fragment, or merge (with --domain)').choices(['complete', 'fragment', 'merge']))
    .option('--domain <file>', 'libvirt: merge into this existing domain XML (replaces only NUMA-related parts)')
    .addOption(new Option('--huge-page-backend <kind>', 'QEMU huge-page backend: memfd (default, needs no mount) or file on hugetlbfs').choices(['file', 'memfd']))
    .option('--hugetlbfs <path>', "QEMU: hugetlbfs mount for the file backend (default: this machine's mount of the page size)")
    .option('--machine <type>', 'QEMU machine type', 'q35')
    .option('--accel <name>', 'QEMU accelerator', 'kvm')
    .option('--disk-dir <dir>', "folder of the virtio disks' raw images NAME-diskK.img (default: the target's usual one, e.g. /var/lib/libvirt/images)");
}

interface EmitCommandOptions extends EmitCliOptions {
  placement?: string;
  vm?: string[];
  name?: string;
  format: EmitFormat;
  host?: string;
  state?: string;
  policy?: string;
}

/** Registers `numaplan emit`. */
export function registerEmit(program: Command, io: Io): void {
  const cmd = program
    .command('emit')
    .description('print the configuration of placed VMs for libvirt, QEMU, Xen xl, Cloud Hypervisor or numactl')
    .addOption(new Option('--format <format>', 'target').choices([...EMIT_FORMATS]).makeOptionMandatory())
    .option('--placement <file>', 'placements as printed by `numaplan place --json`')
    .option('--name <vm>', 'only this VM of the placement file')
    .option('--vm <spec>', 'or place this VM now (repeatable, as for `numaplan place`)', collect)
    .option('--host <source>', `the host the placement is for: ${SOURCE_HELP.join(', ')}`)
    .option('--state <file>', 'state file holding the host (used when --host is not given)')
    .option('--policy <name>', 'placement policy for --vm', DEFAULT_POLICY)
    .option('--json', 'one JSON object per VM per line: {"name","argv"} / {"name","xml"} / {"name","xlcfg"}');
  addEmitterOptions(cmd)
    .addHelpText(
      'after',
      `
The placement JSON does not name its host: give --host SOURCE (the same as for \`place\`), or
--state FILE to use the host recorded in that state file.

Examples:
  numaplan place --host preset:epyc-2s-nps4 --vm name=db,vcpus=16,memory=64G,pages=1G --json > db.json
  numaplan emit --placement db.json --host preset:epyc-2s-nps4 --format libvirt
  numaplan emit --placement db.json --host preset:epyc-2s-nps4 --format libvirt --domain existing.xml
  numaplan emit --placement db.json --host preset:epyc-2s-nps4 --format qemu --json
  numaplan emit --host sysfs --vm name=job,vcpus=1,memory=1G --format numactl`,
    )
    .action(async (opts: EmitCommandOptions) => {
      if ((opts.placement === undefined) === (opts.vm === undefined)) {
        throw new EmitError(opts.placement ? '--vm' : '--placement', 'give either --placement FILE or --vm SPEC');
      }
      if (opts.vm) {
        const state = await loadState(opts);
        const bounds = requestBounds(state.topology);
        const result = placeMany(opts.vm.map((v) => readVm(v, bounds)), state, opts.policy, { accept: acceptFor(opts.format, state.topology, emitOptionsOf(opts)) });
        if (result.refusal) {
          io.err(renderRefusal(result.refusal.name, result.refusal.reasons, result.refusal.hints));
          io.setExitCode(EXIT_INFEASIBLE);
          return;
        }
        writeEmitted(io, result.placements, state.topology, opts.format, opts);
        return;
      }
      const file = opts.placement as string;
      let placements = parsePlacementFile(readText(file, '--placement'), file);
      if (opts.name !== undefined) {
        placements = placements.filter((p) => p.name === opts.name);
        if (placements.length === 0) throw new EmitError('--name', `no VM named "${opts.name}" in ${file}`);
      }
      let topology: Topology;
      if (opts.host) topology = await loadTopology(opts.host);
      else if (opts.state) topology = (await loadState({ state: opts.state })).topology;
      else throw new EmitError('--host', 'needed: the placement file does not name its host (or give --state FILE)');
      writeEmitted(io, placements, topology, opts.format, opts);
    });
}
