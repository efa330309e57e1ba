/**
 * Real external referees (lstopo, numactl, virt-xml-validate, qemu, tshark). Tests that need one
 * call `tool(name)`: missing outside CI means skipped with the reason printed; under CI=true it is a
 * failure, because .ci/run installs them.
 */
import { spawnSync } from 'node:child_process';
import { IN_CI } from './data.js';

const cache = new Map<string, boolean>();

/** Returns true when the command is on PATH; throws under CI when it is not. */
export function tool(name: string): boolean {
  let found = cache.get(name);
  if (found === undefined) {
    found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
    cache.set(name, found);
  }
  if (!found) {
    const why = `"${name}" is not installed (.ci/run installs it)`;
    if (IN_CI) throw new Error(`${why}; CI=true requires it`);
    console.warn(`SKIPPED: ${why}`);
  }
  return found;
}
