/** `numaplan release --state FILE NAME`: free a VM's resources in a state file. */
import type { Command } from 'commander';
import { RequestError } from '../../core/placement/request.js';
import { releaseAllocation } from '../../core/placement/state.js';
import { type Io, writeJson } from '../io.js';
import { loadState, saveState } from './place.js';

/** Registers the command. */
export function registerRelease(program: Command, io: Io): void {
  program
    .command('release')
    .description('release a placed VM (its CPUs, memory, huge pages and devices) from a state file')
    .requiredOption('--state <file>', 'the state file')
    .argument('<name>', 'the VM to release')
    .option('--json', 'JSON output')
    .action(async (name: string, opts: { state: string; json?: boolean }) => {
      const state = await loadState({ state: opts.state });
      if (state.allocations.length === 0 && !state.topology) throw new RequestError('--state', 'empty state');
      const next = releaseAllocation(state, name);
      saveState(opts.state, next);
      if (opts.json) writeJson(io, { ok: true, released: name, remaining: next.allocations.map((a) => a.name) });
      else io.out(`released ${name}; ${next.allocations.length} VM(s) remain\n`);
    });
}
