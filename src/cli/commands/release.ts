/** `numaplan release --state FILE NAME`: free a VM's resources in a state file. */
import type { Command } from 'commander';
import { RequestError } from '../../core/placement/request.js';
import { existsSync, readFileSync } from 'node:fs';
import { releaseAllocation, stateFromJson } from '../../core/placement/state.js';
import { type Io, writeJson } from '../io.js';
import { checkState, lockedState, saveState } from './place.js';

/** Registers the command. */
export function registerRelease(program: Command, io: Io): void {
  program
    .command('release')
    .description('release a placed VM (its CPUs, memory, huge pages and devices) from a state file')
    .requiredOption('--state <file>', 'the state file')
    .argument('<name>', 'the VM to release')
    .option('--json', 'JSON output')
    .addHelpText('after', '\nExamples:\n  numaplan release db1 --state host.json\n  numaplan release db1 --state host.json --json')
    .action(async (name: string, opts: { state: string; json?: boolean }) => {
      if (!existsSync(opts.state)) throw new RequestError('--state', `no state file ${opts.state}`);
      const next = await lockedState(io, opts.state, async () => {
        // Not checked before the release (releasing a VM is how a broken file is repaired), after it.
        const state = stateFromJson(readFileSync(opts.state, 'utf8'), opts.state);
        const after = releaseAllocation(state, name);
        checkState(after, opts.state);
        saveState(opts.state, after);
        return after;
      });
      if (opts.json) writeJson(io, { ok: true, released: name, remaining: next.allocations.map((a) => a.name) });
      else io.out(`released ${name}; ${next.allocations.length} VM(s) remain\n`);
    });
}
