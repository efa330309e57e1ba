/**
 * Prints one plain closing line, "tests: N passed, N failed, N skipped", after vitest's own summary,
 * so any log reader can tell how many tests ran; before it, for every failed test, the seed its file
 * ran with and the command that replays it (see test/support/seed.ts).
 */
import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const replays: string[] = [];
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') {
          failed++;
          const seed = (t.meta() as { seed?: number }).seed;
          const file = relative(process.cwd(), m.moduleId);
          replays.push(`  ${file} > ${t.fullName}\n    replay: NUMAPLAN_SEED=${seed ?? '(none recorded)'} npx vitest run ${file} -t ${JSON.stringify(t.name)}`);
        } else skipped++;
      }
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) {
        failed++;
        replays.push(`  ${relative(process.cwd(), m.moduleId)}: the file failed to load or its hooks failed`);
      }
    }
    if (replays.length > 0) process.stdout.write(`\nfailed tests, with the seed each ran with:\n${replays.join('\n')}\n`);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
