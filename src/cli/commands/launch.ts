/**
 * `numaplan launch qemu`: start QEMU with the emitted argv, pin every vCPU thread to its planned
 * host CPU over QMP, verify each thread's affinity, and stop the guest cleanly (QMP quit) on exit.
 */
import type { Command } from 'commander';
import { checkBindingOnHost } from '../../adapters/apply/host-check.js';
import { type LaunchReport, launchQemu } from '../../adapters/apply/launch-qemu.js';
import { SOURCE_HELP, loadTopology } from '../../adapters/source.js';
import { EmitError, type PlacementLike, emitQemu } from '../../core/emit/index.js';
import { place } from '../../core/placement/place.js';
import { createHostState } from '../../core/placement/state.js';
import { type Io, writeJson } from '../io.js';
import { renderRefusal } from '../render/placement-text.js';
import { addEmitterOptions, type EmitCliOptions, emitOptionsOf, readOnePlacement } from './emit.js';
import { EXIT_INFEASIBLE, readVm } from './place.js';
import { bindingOf } from './run.js';

interface LaunchOptions extends EmitCliOptions {
  placement?: string;
  name?: string;
  vm?: string;
  host: string;
  qemu: string;
  paused?: boolean;
  stopAfterVerify?: boolean;
  reserveOff?: boolean;
  deviceStandIn?: string;
}

function render(r: LaunchReport): string {
  const lines = [`${r.ok ? 'pinned' : 'NOT pinned as planned'}: QEMU pid ${r.pid}`];
  for (const v of r.vcpus) lines.push(`  ${v.ok ? 'ok  ' : 'FAIL'} vCPU ${v.vcpu} (guest node ${v.nodeId ?? '-'}) thread ${v.threadId}: CPU ${v.observed}, planned ${v.planned}`);
  for (const t of r.ioThreads) lines.push(`  ${t.ok ? 'ok  ' : 'FAIL'} ${t.id === 'vhost' ? 'vhost worker' : `I/O thread ${t.id}`} thread ${t.threadId}: CPU ${t.observed}, planned ${t.planned}`);
  lines.push(`  emulator threads ${r.emulatorThreads.join(',') || '-'} on CPUs ${r.emulatorCpus}`);
  return `${lines.join('\n')}\n`;
}

/** Registers `numaplan launch`. */
const LAUNCH_EXAMPLES = [
  'numaplan launch qemu --vm name=web,vcpus=4,memory=8G --stop-after-verify   # place, start, pin, verify, quit',
  'numaplan launch qemu --placement vm1.json -- -qmp unix:/run/vm1.qmp,server=on,wait=off',
  'numaplan launch qemu --help                                                 # every option',
];

export function registerLaunch(program: Command, io: Io): void {
  const launch = program
    .command('launch')
    .description('start a hypervisor with a placement applied')
    .addHelpText('after', `\nExamples:\n  ${LAUNCH_EXAMPLES.join('\n  ')}`);
  const cmd = launch
    .command('qemu')
    .description('start QEMU with the emitted argv, pin each vCPU thread over QMP, verify, and quit cleanly on exit')
    .argument('[extra...]', 'extra QEMU arguments after -- (kernel, disks, network...)')
    .option('--placement <file>', 'a placement file from `numaplan place --json`')
    .option('--name <vm>', 'with --placement: which one')
    .option('--vm <spec>', 'or place this VM now')
    .option('--host <source>', `the host (must be this machine to pin): ${SOURCE_HELP.join(', ')}`, 'sysfs')
    .option('--qemu <binary>', 'QEMU binary', 'qemu-system-x86_64')
    .option('--paused', 'leave the guest paused after pinning')
    .option('--stop-after-verify', 'quit QEMU right after pinning and verifying (a check)')
    .option('--reserve-off', 'QEMU backends with reserve=off (no swap reservation)')
    .option('--device-stand-in <model>', 'a check without the devices: this QEMU device model (e.g. edu) where each vfio-pci device would go')
    .option('--json', 'JSON report')
    .addHelpText(
      'after',
      `
QEMU's own QMP socket is private to launch. Give it a second one after -- to reach the running guest,
e.g. for numaplan apply-plan --qmp (moving it when a rebalancing plan says so).

Examples:
  numaplan launch qemu --vm name=vm1,vcpus=4,memory=8G -- -drive file=vm1.qcow2,if=virtio
  numaplan place --state host.json --vm name=vm1,vcpus=4,memory=8G --json > vm1.json
  numaplan launch qemu --placement vm1.json -- -qmp unix:/run/vm1.qmp,server=on,wait=off
  numaplan apply-plan plan.json --state host.json --qmp vm1=/run/vm1.qmp --apply`,
    );
  addEmitterOptions(cmd).action(async (extra: string[], opts: LaunchOptions) => {
    const topology = await loadTopology(opts.host);
    let placement: PlacementLike;
    if ((opts.placement === undefined) === (opts.vm === undefined)) throw new EmitError('--placement', 'give either --placement FILE or --vm SPEC');
    if (opts.vm !== undefined) {
      const request = readVm(opts.vm);
      const result = place(request, createHostState(topology));
      if (!result.ok) {
        io.err(renderRefusal(request.name, result.reasons, result.hints));
        io.setExitCode(EXIT_INFEASIBLE);
        return;
      }
      placement = result.placement;
    } else {
      placement = readOnePlacement(opts.placement as string, opts.name);
    }
    const live = opts.host === 'sysfs' ? topology : await loadTopology('sysfs');
    const { cpus, nodes } = bindingOf(placement);
    checkBindingOnHost(cpus, opts.hostBinding === false ? [] : nodes, live);
    const options = { ...emitOptionsOf(opts), ...(opts.reserveOff ? { reserve: false } : {}), ...(opts.deviceStandIn ? { deviceStandIn: opts.deviceStandIn } : {}) };
    const q = emitQemu(placement, topology, options);
    const launched = await launchQemu({ binary: opts.qemu, argv: q.argv, extraArgs: extra, pins: q.pins, paused: opts.paused === true || opts.stopAfterVerify === true, stdio: opts.json ? 'ignore' : 'inherit' });
    if (opts.json) writeJson(io, { name: placement.name, ...launched.report });
    else io.err(render(launched.report));
    if (opts.stopAfterVerify || !launched.report.ok) {
      await launched.stop();
      io.setExitCode(launched.report.ok ? 0 : EXIT_INFEASIBLE);
      return;
    }
    const onSignal = (): void => {
      void launched.stop();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const code = await launched.exited;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    io.setExitCode(code ?? 0);
  });
}
