/**
 * `numaplan explain`: what would happen to a VM and why, without changing any state; or, with
 * --name, why an existing VM sits where it does (its recorded resources and predicted cost, and the
 * decision the policy would make for it today on the host without it).
 */
import type { Command } from 'commander';
import { SOURCE_HELP } from '../../adapters/source.js';
import { measuredOf, predictCost } from '../../core/cost/model.js';
import { place } from '../../core/placement/place.js';
import { DEFAULT_POLICY } from '../../core/placement/policies/index.js';
import { RequestError, requestBounds } from '../../core/placement/request.js';
import { releaseAllocation } from '../../core/placement/state.js';
import { type Io, writeJson } from '../io.js';
import { renderPlacements, renderRefusal, renderReserve } from '../render/placement-text.js';
import { EXIT_INFEASIBLE, type HostOptions, loadState, placementJson, readVm } from './place.js';

interface ExplainOptions extends HostOptions {
  vm?: string;
  name?: string;
  policy?: string;
  json?: boolean;
}

/** Registers the command. */
export function registerExplain(program: Command, io: Io): void {
  program
    .command('explain')
    .description('explain where a VM would go and why (no state is changed), or why a placed VM is where it is')
    .option('--host <source>', `the host: ${SOURCE_HELP.join(', ')}`)
    .option('--state <file>', 'state file with the VMs already placed (read only)')
    .option('--vm <spec>', 'the VM to explain (same forms as place --vm)')
    .option('--name <name>', 'explain a VM recorded in the state file')
    .option('--policy <name>', 'placement policy', DEFAULT_POLICY)
    .option('--json', 'JSON output (same shape as place)')
    .option('--calibration <file>', 'a probe result (numaplan probe -o FILE): predicted latencies from its measured matrix')
    .addHelpText(
      'after',
      `
Examples:
  numaplan explain --host preset:broadwell-2s --vm name=db,vcpus=16,memory=64G,pages=1G
  numaplan explain --state host.json --name db --json`,
    )
    .action(async (opts: ExplainOptions) => {
      if ((opts.vm === undefined) === (opts.name === undefined)) throw new RequestError('--vm', 'give exactly one of --vm SPEC or --name NAME');
      const state = await loadState(opts);
      if (opts.name !== undefined) {
        const alloc = state.allocations.find((a) => a.name === opts.name);
        if (!alloc) throw new RequestError('--name', `no VM "${opts.name}" in the state (known: ${state.allocations.map((a) => a.name).join(', ') || 'none'})`);
        const idx = new Map(state.topology.nodes.map((n, i) => [n.id, i]));
        const puNode = new Map(state.topology.pus.map((p) => [p.os, p.node]));
        const vcpus = new Map<number, number>();
        for (const c of alloc.cpus) {
          const n = puNode.get(c);
          if (n !== null && n !== undefined) vcpus.set(n, (vcpus.get(n) ?? 0) + 1);
        }
        const cost = predictCost({
          distance: (a, b) => state.topology.distances[idx.get(a) ?? 0]?.[idx.get(b) ?? 0] ?? 10,
          vcpusByNode: vcpus,
          memoryByNode: new Map(alloc.memory.map((m) => [m.node, m.bytes])),
          pageSize: alloc.memory[0]?.pageSize ?? 4096,
          deviceNodes: [],
          measured: measuredOf(state.topology),
        });
        const today = place(alloc.request, releaseAllocation(state, alloc.name), opts.policy, { hints: true });
        if (opts.json) {
          writeJson(io, { ok: true, allocation: alloc, cost, today: today.ok ? placementJson(today.placement) : today });
          return;
        }
        io.out(
          `${alloc.name}: ${alloc.status}, policy ${alloc.policy}, nodes ${alloc.nodes.join(',')}, cpus ${alloc.cpus.join(',')}\n` +
            `  predicted: remote accesses ${(cost.remoteAccessFraction * 100).toFixed(0)}%, latency x${cost.relativeLatency} (~${cost.expectedLatencyNs} ns${cost.calibration ? ', measured latencies' : ''})\n\n` +
            'decided again today on this host without it:\n',
        );
        io.out(today.ok ? renderPlacements([today.placement], state) : renderRefusal(alloc.name, today.reasons, today.hints));
        return;
      }
      const request = readVm(opts.vm as string, requestBounds(state.topology));
      const result = place(request, state, opts.policy);
      if (!result.ok) {
        if (opts.json) writeJson(io, { ok: false, reasons: result.reasons, hints: result.hints });
        else io.out(`${renderRefusal(request.name, result.reasons, result.hints)}${renderReserve(state)}\n`);
        io.setExitCode(EXIT_INFEASIBLE);
        return;
      }
      if (opts.json) writeJson(io, { ok: true, placements: [placementJson(result.placement)] });
      else io.out(renderPlacements([result.placement], state));
    });
}
