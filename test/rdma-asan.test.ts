/**
 * Runs only against the AddressSanitizer build of the addon (.ci/run's ASan step sets
 * NUMAPLAN_ROCE_ADDON to it and preloads libasan): the ASan runtime is really loaded, and
 * LeakSanitizer finds no allocation of the addon unreachable after a workload that goes through every
 * error path of its send (the heap is checked with the addon's frames only: Node's own exit-time
 * allocations are suppressed by module).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRoceUdpAddon } from '../src/rdma/transport/native-addon.js';
import { REPO_ROOT } from './support/data.js';

const ASAN = /asan/.test(process.env.NUMAPLAN_ROCE_ADDON ?? '');

describe.runIf(ASAN)('AddressSanitizer build of the native addon', () => {
  it('is the addon loaded, with the ASan runtime in the process', () => {
    const r = loadRoceUdpAddon();
    expect(r.addon, r.reason).not.toBeNull();
    expect(r.path).toMatch(/roce_udp_asan\.node$/);
    expect(readFileSync('/proc/self/maps', 'utf8')).toMatch(/libasan/);
  });

  it('LeakSanitizer: no allocation of the addon is left unreachable (send error paths, senders, regions, traffic)', () => {
    const supp = join(tmpdir(), `numaplan-lsan-${process.pid}.supp`);
    // Two frames per allocation (the allocator and its caller): Node's and V8's own exit-time
    // allocations are suppressed by their caller's module, the addon's are not.
    writeFileSync(supp, 'leak:/usr/bin/node\nleak:libnode\nleak:libstdc++\nleak:libc.so\nleak:ld-linux\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'support', 'asan-leak-workload.ts')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:malloc_context_size=2:abort_on_error=0', LSAN_OPTIONS: `suppressions=${supp}:print_suppressions=0` },
    });
    expect(r.stdout).toMatch(/errors 1200, completions 200/);
    expect(r.stderr).not.toMatch(/LeakSanitizer|AddressSanitizer/);
    expect(r.status).toBe(0);
  });
});
