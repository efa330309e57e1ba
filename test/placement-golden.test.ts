/**
 * Regression record of the engine's decisions: a fixed seeded stream of requests on presets and
 * synthetic hosts (see placement-golden.ts) must give byte-identical results (placements with their
 * explanations, refusals with reasons and hints, evaluate() of random node sets) to the record in
 * test/golden/placement/. Speed work on the engine must not change a single decision.
 *
 * To re-record after an intended change of behaviour: UPDATE_GOLDEN=1 npx vitest run test/placement-golden.test.ts
 * (and say why in the commit).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { goldenHosts, goldenRecord } from './placement-golden.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden', 'placement');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

describe('placement decisions are unchanged (golden record)', () => {
  for (const [i, host] of goldenHosts().entries()) {
    it(`${host.name}: same placements, refusals and evaluations as recorded`, () => {
      const file = join(DIR, `${host.name}.jsonl`);
      const lines = goldenRecord(host, 1000 + i);
      const text = `${lines.join('\n')}\n`;
      if (UPDATE) {
        mkdirSync(DIR, { recursive: true });
        writeFileSync(file, text);
        return;
      }
      expect(existsSync(file), `${file} is missing: record it with UPDATE_GOLDEN=1`).toBe(true);
      const want = readFileSync(file, 'utf8').split('\n');
      const got = text.split('\n');
      for (let k = 0; k < Math.max(want.length, got.length); k++) {
        if (got[k] !== want[k]) expect(got[k], `${host.name}: line ${k + 1} differs`).toBe(want[k]);
      }
      expect(got.length).toBe(want.length);
    }, 60_000);
  }
});
