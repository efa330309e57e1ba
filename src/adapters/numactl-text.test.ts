import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/io.js';
import { main } from '../cli/main.js';
import { TopologyError } from '../core/topology/errors.js';
import { TopologySchema } from '../core/topology/model.js';
import { parseNumactlHardware } from '../core/topology/numactl-parse.js';
import { topologyFromNumactl } from './numactl-text.js';

const MiB = 1024 * 1024;

const TWO_NODES = `available: 2 nodes (0-1)
node 0 cpus: 0 1 2 3 8 9 10 11
node 0 size: 32000 MB
node 0 free: 30000 MB
node 1 cpus: 4 5 6 7 12 13 14 15
node 1 size: 32768 MB
node 1 free: 1024 MB
node distances:
node   0   1
  0:  10  21
  1:  21  10
`;

/** Catches the TopologyError a call throws, for checking code, path and message. */
function errorOf(fn: () => unknown): TopologyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TopologyError) return err;
    throw err;
  }
  throw new Error('expected a TopologyError');
}

describe('parseNumactlHardware', () => {
  it('reads nodes, cpus, sizes and distances', () => {
    const hw = parseNumactlHardware(TWO_NODES, 'h.txt');
    expect(hw.nodes.map((n) => n.id)).toEqual([0, 1]);
    expect(hw.nodes[0]?.cpus).toEqual([0, 1, 2, 3, 8, 9, 10, 11]);
    expect(hw.nodes[1]?.sizeMiB).toBe(32768);
    expect(hw.nodes[1]?.freeMiB).toBe(1024);
    expect(hw.distances).toEqual([
      [10, 21],
      [21, 10],
    ]);
    expect(hw.cpuCompress).toBe(false);
    expect(hw.warnings).toEqual([]);
  });

  it('reads --cpu-compress ranges and checks their count', () => {
    const text = TWO_NODES.replace('node 0 cpus: 0 1 2 3 8 9 10 11', 'node 0 cpus: 0-3, 8-11 (8)').replace(
      'node 1 cpus: 4 5 6 7 12 13 14 15',
      'node 1 cpus: 4-7, 12, 13-15 (8)',
    );
    const hw = parseNumactlHardware(text, 'c.txt');
    expect(hw.cpuCompress).toBe(true);
    expect(hw.nodes[1]?.cpus).toEqual([4, 5, 6, 7, 12, 13, 14, 15]);
    const bad = text.replace('(8)', '(9)');
    expect(errorOf(() => parseNumactlHardware(bad, 'c.txt'))).toMatchObject({ code: 'ERR_NUMACTL_INCONSISTENT', path: 'c.txt:2' });
  });

  it('reads CPU-less and memory-less nodes, sparse node ids and "<not available>"', () => {
    const text = `available: 3 nodes (0,2-3)
node 0 cpus: 0 1
node 0 size: 0 MB
node 0 free: 0 MB
node 2 cpus:
node 2 size: 1024 MB
node 2 free: <not available>
node 3 cpus: 2 3
node 3 size: 2048 MB
node 3 free: 2000 MB
node distances:
node   0   2   3
  0:  10  20  30
  2:  20  10  20
  3:  30  20  10
`;
    const hw = parseNumactlHardware(text, 's');
    expect(hw.nodes.map((n) => [n.id, n.cpus.length, n.sizeMiB, n.freeMiB])).toEqual([
      [0, 2, 0, 0],
      [2, 0, 1024, null],
      [3, 2, 2048, 2000],
    ]);
    expect(hw.warnings.map((w) => w.path)).toEqual(['s:7']);
    expect(hw.distances?.[0]).toEqual([10, 20, 30]);
  });

  it('takes the distance columns by header, not by position', () => {
    const text = TWO_NODES.replace('node   0   1', 'node   1   0').replace('  0:  10  21', '  0:  21  10').replace('  1:  21  10', '  1:  10  22');
    expect(parseNumactlHardware(text, 'x').distances).toEqual([
      [10, 21],
      [22, 10],
    ]);
  });

  it('tolerates a prompt before, text after, comments and wrapped cpu lists, with warnings', () => {
    const text = `# captured by hand
user@host:~$ numactl --hardware
available: 1 nodes (0)
node 0 cpus: 0 1 2 3
 4 5 6 7
node 0 size: 100 MB
node 0 free: 50 MB
node distances:
node   0
  0:  10
user@host:~$
`;
    const hw = parseNumactlHardware(text, 'p.txt');
    expect(hw.nodes[0]?.cpus).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(hw.warnings.map((w) => w.path)).toEqual(['p.txt:2', 'p.txt:4', 'p.txt:11']);
  });

  it('accepts "No distance information available."', () => {
    const text = TWO_NODES.replace(/node distances:[\s\S]*$/, 'No distance information available.\n');
    const hw = parseNumactlHardware(text, 'n');
    expect(hw.distances).toBeNull();
    expect(hw.warnings).toHaveLength(1);
  });

  const garbled: [string, string, string, string][] = [
    // [what, text, code, path]
    ['abbreviated cpu list', TWO_NODES.replace('0 1 2 3 8 9 10 11', '0 ... 3 8 .. 11'), 'ERR_NUMACTL_ABBREVIATED', 'g:2'],
    ['missing distance row', TWO_NODES.replace('  1:  21  10\n', ''), 'ERR_NUMACTL_INCOMPLETE', 'g:10'],
    ['row cut by other text', TWO_NODES.replace('  1:  21  10\n', '[cut here]\n'), 'ERR_NUMACTL_INCOMPLETE', 'g:11'],
    ['unknown node in a row', TWO_NODES.replace('  1:  21  10', '  7:  21  10'), 'ERR_NUMACTL_INCONSISTENT', 'g:11'],
    ['repeated row', TWO_NODES.replace('  1:  21  10', '  0:  21  10'), 'ERR_NUMACTL_INCONSISTENT', 'g:11'],
    ['short row', TWO_NODES.replace('  1:  21  10', '  1:  21'), 'ERR_NUMACTL_INCOMPLETE', 'g:11'],
    ['non-numeric distance', TWO_NODES.replace('  1:  21  10', '  1:  2x  10'), 'ERR_NUMACTL_SYNTAX', 'g:11'],
    ['non-numeric size', TWO_NODES.replace('node 1 size: 32768 MB', 'node 1 size: lots MB'), 'ERR_NUMACTL_SYNTAX', 'g:6'],
    ['size in other units', TWO_NODES.replace('node 1 size: 32768 MB', 'node 1 size: 32 GB'), 'ERR_NUMACTL_SYNTAX', 'g:6'],
    ['non-numeric cpu', TWO_NODES.replace('4 5 6 7', '4 five 6 7'), 'ERR_NUMACTL_SYNTAX', 'g:5'],
    ['non-numeric node id', TWO_NODES.replace('node 1 free', 'node one free'), 'ERR_NUMACTL_SYNTAX', 'g:7'],
    ['node count mismatch', TWO_NODES.replace('available: 2 nodes (0-1)', 'available: 3 nodes (0-1)'), 'ERR_NUMACTL_INCONSISTENT', 'g:1'],
    ['node not in available list', TWO_NODES.replace('available: 2 nodes (0-1)', 'available: 2 nodes (0,2)'), 'ERR_NUMACTL_INCONSISTENT', 'g:5'],
    ['available node without lines', TWO_NODES.replace('available: 2 nodes (0-1)', 'available: 3 nodes (0-2)'), 'ERR_NUMACTL_INCOMPLETE', 'g:1'],
    ['missing free line', TWO_NODES.replace('node 0 free: 30000 MB\n', ''), 'ERR_NUMACTL_INCOMPLETE', 'g:2'],
    ['duplicate line', TWO_NODES.replace('node 0 free: 30000 MB', 'node 0 size: 30000 MB'), 'ERR_NUMACTL_INCONSISTENT', 'g:4'],
    ['cpu on two nodes', TWO_NODES.replace('4 5 6 7', '3 5 6 7'), 'ERR_NUMACTL_INCONSISTENT', 'g:5'],
    ['header disagrees with nodes', TWO_NODES.replace('node   0   1', 'node   0   2').replace('  1:', '  2:'), 'ERR_NUMACTL_INCONSISTENT', 'g:9'],
    ['no distance table', TWO_NODES.replace(/node distances:[\s\S]*$/, ''), 'ERR_NUMACTL_INCOMPLETE', 'g:7'],
    ['table header missing', TWO_NODES.replace(/node distances:[\s\S]*$/, 'node distances:\n'), 'ERR_NUMACTL_INCOMPLETE', 'g:8'],
    ['stray line among nodes', TWO_NODES.replace('node 1 cpus', 'garbage here\nnode 1 cpus'), 'ERR_NUMACTL_SYNTAX', 'g:5'],
    ['a distance table alone', 'node   0   1\n  0:  10  40\n', 'ERR_NUMACTL_INCOMPLETE', 'g:1'],
    ['no NUMA', 'No NUMA available on this system\n', 'ERR_NUMACTL_NO_NUMA', 'g:1'],
    ['not numactl at all', 'hello\nworld\n', 'ERR_NUMACTL_SYNTAX', 'g'],
  ];
  for (const [what, text, code, path] of garbled) {
    it(`refuses ${what}, naming line and field`, () => {
      const err = errorOf(() => parseNumactlHardware(text, 'g'));
      expect({ code: err.code, path: err.path }).toEqual({ code, path });
      expect(err.message.startsWith(`${path}: `)).toBe(true);
    });
  }

  it('answers any mangled output with a result or a TopologyError, never a crash (property)', () => {
    const lines = TWO_NODES.trimEnd().split('\n');
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('drop' as const), at: fc.nat(lines.length - 1) }),
      fc.record({ kind: fc.constant('dup' as const), at: fc.nat(lines.length - 1) }),
      fc.record({ kind: fc.constant('swap' as const), at: fc.nat(lines.length - 2) }),
      fc.record({ kind: fc.constant('token' as const), at: fc.nat(lines.length - 1), text: fc.constantFrom('x', '-1', '', '99', '1e3', '...', ':', '(3)', '0-', 'MB') }),
    );
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const l = [...lines];
        for (const e of edits) {
          const at = Math.min(e.at, l.length - 1);
          if (at < 0) break;
          if (e.kind === 'drop') l.splice(at, 1);
          else if (e.kind === 'dup') l.splice(at, 0, l[at] as string);
          else if (e.kind === 'swap' && at + 1 < l.length) [l[at], l[at + 1]] = [l[at + 1] as string, l[at] as string];
          else if (e.kind === 'token') {
            const toks = (l[at] as string).split(' ');
            toks[toks.length - 1] = e.text;
            l[at] = toks.join(' ');
          }
        }
        try {
          const t = topologyFromNumactl(l.join('\n'), 'f');
          TopologySchema.parse(t);
        } catch (err) {
          expect(err).toBeInstanceOf(TopologyError);
          expect((err as TopologyError).code).toMatch(/^ERR_NUMACTL_/);
          expect((err as TopologyError).path).toMatch(/^f(:\d+)?$/);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips any generated host (property)', () => {
    const host = fc
      .integer({ min: 1, max: 6 })
      .chain((n) =>
        fc.record({
          ids: fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: n, maxLength: n }).map((a) => a.sort((x, y) => x - y)),
          cpus: fc.array(fc.integer({ min: 0, max: 8 }), { minLength: n, maxLength: n }),
          sizes: fc.array(fc.integer({ min: 0, max: 1 << 20 }), { minLength: n, maxLength: n }),
          // Local 10, remote 10..255: what a kernel can print (it refuses 0 and remote below local).
          dist: fc
            .array(fc.array(fc.integer({ min: 10, max: 255 }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n })
            .map((rows) => rows.map((row, i) => row.map((v, j) => (i === j ? 10 : v)))),
          compress: fc.boolean(),
        }),
      );
    fc.assert(
      fc.property(host, ({ ids, cpus, sizes, dist, compress }) => {
        let next = 0;
        const cpuLists = cpus.map((k) => Array.from({ length: k }, () => next++));
        const lines = [`available: ${ids.length} nodes (${ids.join(',')})`];
        ids.forEach((id, i) => {
          const list = cpuLists[i] as number[];
          const shown = compress
            ? `${list.length ? ` ${list[0]}-${list[list.length - 1]}` : ''} (${list.length})`
            : list.map((c) => ` ${c}`).join('');
          lines.push(`node ${id} cpus:${shown}`, `node ${id} size: ${sizes[i]} MB`, `node ${id} free: ${sizes[i]} MB`);
        });
        lines.push('node distances:', `node ${ids.map((id) => `${id}`.padStart(4)).join(' ')}`);
        ids.forEach((id, i) => lines.push(`${`${id}`.padStart(4)}: ${(dist[i] as number[]).map((d) => `${d}`.padStart(4)).join(' ')}`));
        const hw = parseNumactlHardware(`${lines.join('\n')}\n`, 'p');
        expect(hw.nodes.map((n) => n.id)).toEqual(ids);
        expect(hw.nodes.map((n) => n.cpus)).toEqual(cpuLists);
        expect(hw.nodes.map((n) => n.sizeMiB)).toEqual(sizes);
        expect(hw.distances).toEqual(dist);
      }),
      { numRuns: 200 },
    );
  });
});

describe('topologyFromNumactl', () => {
  it('builds one package per CPU node and one core per CPU, and says so', () => {
    const t = topologyFromNumactl(TWO_NODES, 'h.txt');
    expect(() => TopologySchema.parse(t)).not.toThrow();
    expect(t.source).toBe('numactl:h.txt');
    expect(t.packages.map((p) => p.id)).toEqual([0, 1]);
    expect(t.cores).toHaveLength(16);
    expect(t.cores.every((c) => c.pus.length === 1)).toBe(true);
    expect(t.nodes[0]?.memory).toEqual({ total: 32000 * MiB, free: 30000 * MiB });
    expect(t.nodes[1]?.cpus).toEqual([4, 5, 6, 7, 12, 13, 14, 15]);
    expect(t.pus.find((p) => p.os === 12)?.node).toBe(1);
    expect(t.distances).toEqual([
      [10, 21],
      [21, 10],
    ]);
    expect(t.warnings.some((w) => /packages, cores or SMT/.test(w.message))).toBe(true);
  });

  it('marks CPU-less nodes with unknown tier and memory-less nodes', () => {
    const text = `available: 3 nodes (0-2)
node 0 cpus: 0 1
node 0 size: 1024 MB
node 0 free: 1000 MB
node 1 cpus: 2 3
node 1 size: 0 MB
node 1 free: 0 MB
node 2 cpus:
node 2 size: 4096 MB
node 2 free: 4096 MB
node distances:
node   0   1   2
  0:  10  12  14
  1:  12  10  24
  2:  14  24  10
`;
    const t = topologyFromNumactl(text, 'm');
    expect(t.nodes.map((n) => [n.kind, n.tier])).toEqual([
      ['cpu-memory', 'dram'],
      ['memory-less', 'dram'],
      ['cpu-less', 'unknown'],
    ]);
    expect(t.packages).toHaveLength(2);
    expect(t.warnings.some((w) => /tier unknown/.test(w.message))).toBe(true);
  });

  it('assumes 10/20 with a warning when numactl has no distances', () => {
    const t = topologyFromNumactl(TWO_NODES.replace(/node distances:[\s\S]*$/, 'No distance information available.\n'), 'n');
    expect(t.distances).toEqual([
      [10, 20],
      [20, 10],
    ]);
    expect(t.warnings.some((w) => w.path === 'distances')).toBe(true);
  });
});

describe('numaplan topology --from numactl:FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'numaplan-numactl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = async (argv: string[]) => {
    let out = '';
    let err = '';
    const io: Io = { version: 't', out: (s) => void (out += s), err: (s) => void (err += s), setExitCode: () => {}, exitCode: () => 0 };
    const code = await main(argv, io);
    return { code, out, err };
  };

  it('shows a host read from numactl text', async () => {
    const file = join(dir, 'ok.txt');
    writeFileSync(file, TWO_NODES);
    const r = await run(['topology', '--from', `numactl:${file}`, '--summary', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ packages: 2, nodes: 2, cores: 16, pus: 16 });
  });

  it('exits 2 on garbled text, naming the line and field', async () => {
    const file = join(dir, 'bad.txt');
    writeFileSync(file, TWO_NODES.replace('  1:  21  10\n', ''));
    const r = await run(['topology', '--from', `numactl:${file}`]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}:10: node distances: rows missing for node(s) 1`);
    const j = await run(['topology', '--from', `numactl:${file}`, '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.out).error).toMatchObject({ code: 'ERR_NUMACTL_INCOMPLETE', path: `${file}:10` });
  });
});
