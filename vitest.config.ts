import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    setupFiles: ['./test/support/seed.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
