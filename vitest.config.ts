import { configDefaults, defineConfig } from 'vitest/config';

// test/rdma-asan.test.ts checks the AddressSanitizer build of the RoCE addon: it is collected only in
// the run that loads that build (.ci/run's ASan step sets NUMAPLAN_ROCE_ADDON to it), so the ordinary
// run has nothing to skip.
const ASAN_RUN = /asan/.test(process.env.NUMAPLAN_ROCE_ADDON ?? '');

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(ASAN_RUN ? [] : ['test/rdma-asan.test.ts'])],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    setupFiles: ['./test/support/seed.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
