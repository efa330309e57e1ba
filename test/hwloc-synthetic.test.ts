/**
 * Random hwloc synthetic topologies (`lstopo --input "pack:P numa:N core:C pu:T" --of xml`, plus forms
 * with die, group and L3 levels and NUMA at different depths): numaplan's import must count what the
 * description's arithmetic says and what lstopo's XML holds, and its export of the result must load
 * back in lstopo with the same counts.
 *
 * Seeded by the run's seed (test/support/seed.ts): NUMAPLAN_SEED replays a run; the seed in use is printed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topologyToHwlocXml } from '../src/adapters/hwloc-xml/export.js';
import { seededRandom } from '../src/core/random.js';
import { topologyFromHwlocXml } from '../src/adapters/hwloc-xml/import.js';
import { summarize } from '../src/core/topology/view.js';
import { type LstopoCounts, countsFromLstopoXml, mapPool, runLstopo, scratchDir } from './support/lstopo.js';
import { runSeed } from './support/seed.js';
import { tool } from './support/tools.js';

const CASES = 120;
const seed = runSeed();
console.log(`hwloc-synthetic: seed ${seed} (NUMAPLAN_SEED=${seed} replays this run)`);

const prng = seededRandom;

interface Level {
  type: 'pack' | 'numa' | 'die' | 'group' | 'l3' | 'core' | 'pu';
  arity: number;
  attr?: string;
}

interface Case {
  description: string;
  expected: { packages: number; nodes: number; cores: number; pus: number; memoryPerNode: number };
}

function makeCase(rand: () => number): Case {
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const P = int(1, 4);
  const N = int(1, 4);
  const C = int(1, 8);
  const T = int(1, 4);
  const X = int(1, 2);
  const gb = int(1, 8);
  const numa: Level = rand() < 0.3 ? { type: 'numa', arity: N, attr: `(memory=${gb}GB)` } : { type: 'numa', arity: N };
  const forms: Level[][] = [
    [{ type: 'pack', arity: P }, numa, { type: 'core', arity: C }, { type: 'pu', arity: T }],
    [numa, { type: 'pack', arity: P }, { type: 'core', arity: C }, { type: 'pu', arity: T }],
    [{ type: 'pack', arity: P }, { type: 'die', arity: X }, numa, { type: 'core', arity: C }, { type: 'pu', arity: T }],
    [{ type: 'pack', arity: P }, numa, { type: 'l3', arity: X }, { type: 'core', arity: C }, { type: 'pu', arity: T }],
    [{ type: 'pack', arity: P }, { type: 'group', arity: X }, numa, { type: 'core', arity: C }, { type: 'pu', arity: T }],
    [{ type: 'pack', arity: P }, { type: 'l3', arity: X }, numa, { type: 'core', arity: C }, { type: 'pu', arity: T }],
    [{ type: 'pack', arity: P }, { type: 'core', arity: C }, { ...numa, arity: 1 }, { type: 'pu', arity: T }],
    [{ type: 'pack', arity: P }, { type: 'l3', arity: X }, { type: 'core', arity: C }, { type: 'pu', arity: T }],
  ];
  const levels = forms[int(0, forms.length - 1)] as Level[];
  let product = 1;
  const at: Partial<Record<Level['type'], number>> = {};
  for (const l of levels) {
    product *= l.arity;
    at[l.type] = product;
  }
  const memoryPerNode = numa.attr ? gb * 1e9 : 2 ** 30;
  return {
    description: levels.map((l) => `${l.type}:${l.arity}${l.attr ?? ''}`).join(' '),
    expected: {
      packages: at.pack as number,
      nodes: at.numa ?? 1,
      cores: at.core as number,
      pus: at.pu as number,
      memoryPerNode: at.numa === undefined ? 2 ** 30 : memoryPerNode,
    },
  };
}

const hasLstopo = tool('lstopo-no-graphics');

describe.skipIf(!hasLstopo)(`hwloc synthetic topologies (seed ${seed})`, () => {
  const rand = prng(seed);
  const cases = Array.from({ length: CASES }, () => makeCase(rand));
  const scratch = scratchDir();
  const results: { xml: string; stderr: string; code: number; reexport: LstopoCounts | null; reexportStderr: string }[] = [];

  beforeAll(async () => {
    const runs = await mapPool(cases, 4, async (c, i) => {
      const run = await runLstopo(['--input', c.description, '--of', 'xml', '-']);
      let reexport: LstopoCounts | null = null;
      let reexportStderr = '';
      if (run.code === 0) {
        // numaplan's export of the imported model must load in lstopo with the same counts.
        const file = join(scratch.dir, `case-${i}.xml`);
        writeFileSync(file, topologyToHwlocXml(topologyFromHwlocXml(run.stdout, c.description)));
        const back = await runLstopo(['--input', file, '--of', 'xml', '-']);
        reexportStderr = back.stderr;
        if (back.code === 0) reexport = countsFromLstopoXml(back.stdout);
      }
      return { xml: run.stdout, stderr: run.stderr, code: run.code, reexport, reexportStderr };
    });
    results.push(...runs);
  });
  afterAll(() => scratch.dispose());

  cases.forEach((c, i) => {
    it(`#${i} "${c.description}"`, () => {
      const r = results[i];
      if (!r) throw new Error('no lstopo result');
      expect(r.code, r.stderr).toBe(0);
      const topo = topologyFromHwlocXml(r.xml, c.description);
      const s = summarize(topo);
      const ref = countsFromLstopoXml(r.xml);
      const mine = { packages: s.packages, nodes: s.nodes, cores: s.cores, pus: s.pus };
      const { memoryPerNode, ...counts } = c.expected;
      expect(mine, 'arithmetic of the description').toEqual(counts);
      expect(mine, "lstopo's XML").toEqual({ packages: ref.packages, nodes: ref.nodes, cores: ref.cores, pus: ref.pus });
      // Every PU sits in exactly one node, the nodes split the PUs evenly, memory is as described.
      expect(topo.pus.every((p) => p.node !== null)).toBe(true);
      expect(topo.nodes.map((n) => n.cpus.length)).toEqual(topo.nodes.map(() => c.expected.pus / c.expected.nodes));
      expect(topo.nodes.map((n) => n.memory.total)).toEqual(topo.nodes.map(() => memoryPerNode));
      expect(topo.cores.every((k) => k.pus.length === c.expected.pus / c.expected.cores)).toBe(true);
      // Synthetic topologies carry no distance matrix: lstopo writes none, numaplan assumes 10/20 and says so.
      expect(ref.numaLatency).toBeNull();
      topo.distances.forEach((row, a) => row.forEach((v, b) => expect(v).toBe(a === b ? 10 : 20)));
      expect(topo.warnings.some((w) => w.path === 'distances')).toBe(c.expected.nodes > 1);
      // Export -> lstopo: same counts, and lstopo has nothing to say about the file.
      expect(r.reexportStderr).toBe('');
      expect(r.reexport && { packages: r.reexport.packages, nodes: r.reexport.nodes, cores: r.reexport.cores, pus: r.reexport.pus }).toEqual(counts);
      // The assumed matrix is not written back as if reported: lstopo sees no distances, as in the source.
      expect(r.reexport?.numaLatency ?? null).toBeNull();
    });
  });
});
