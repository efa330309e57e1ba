/**
 * Every command teaches in `--help`: it exits 0, shows at least one example, and its text has no
 * unfilled template (`${...}`), no "undefined" and no "[object Object]" (a help text once printed
 * its policy list as the literal `${fleetPolicyNames().join(', ')}`).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandNames } from '../src/cli/main.js';
import { REPO_ROOT } from './support/data.js';

describe('numaplan COMMAND --help', () => {
  it.each(commandNames())('%s --help exits 0 with examples and no unfilled text', (name) => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'numaplan.js'), name, '--help'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`numaplan ${name}\\b`));
    expect(r.stdout).toMatch(/Examples?:/);
    expect(r.stdout).not.toMatch(/\$\{|\bundefined\b|\[object Object\]/);
  });
});
