/**
 * A topology that cannot be a machine is refused, naming the field: memory smaller than its
 * huge-page pools, page sizes that are not a power of two multiple of 4 KiB, free above total,
 * distances of 0 or a remote node nearer than the local one, ids beyond the largest a kernel has.
 * What is merely odd (a local distance other than 10, a remote as near as the local one) is a
 * warning. Through the library (TopologyError), the CLI (exit 2) and the API (400), and the engine
 * never sees such a host.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type NodeInput, type TopologyInput, makeTopology } from '../src/core/topology/build.js';
import { TopologyError } from '../src/core/topology/errors.js';
import { topologyToJson } from '../src/core/topology/json.js';
import { getPreset, presetNames } from '../src/core/topology/presets/index.js';
import { useService } from './support/service-app.js';
import { runCli } from './support/cli.js';

const G = 1024 ** 3;
const TOKEN = 'impossible-token-0123';

/** Two nodes of 2 CPUs each; `edit` changes the input. */
function input(edit: (t: { nodes: NodeInput[]; distances: number[][] }) => void): TopologyInput {
  const t = {
    nodes: [
      { id: 0, cpus: [0, 1], memory: { total: 16 * G, free: 8 * G }, hugePages: [{ pageSize: 2 * 1024 ** 2, total: 1024, free: 1024 }] },
      { id: 1, cpus: [2, 3], memory: { total: 16 * G, free: 8 * G }, hugePages: [{ pageSize: G, total: 4, free: 4 }] },
    ] as NodeInput[],
    distances: [
      [10, 21],
      [21, 10],
    ],
  };
  edit(t);
  return { source: 'test', nodes: t.nodes, distances: t.distances, pus: [0, 1, 2, 3].map((os) => ({ os, package: 0, core: os })) };
}

function refusal(i: TopologyInput): TopologyError {
  try {
    makeTopology(i);
  } catch (err) {
    if (err instanceof TopologyError) return err;
    throw err;
  }
  throw new Error('accepted an impossible topology');
}

const node = (t: { nodes: NodeInput[] }, k: number): { id: number; memory: NodeInput['memory']; hugePages?: NodeInput['hugePages'] } => t.nodes[k] as NodeInput;

const IMPOSSIBLE: [string, (t: { nodes: NodeInput[]; distances: number[][] }) => void, RegExp][] = [
  ['1 byte of memory under 4 GiB of 1G pages', (t) => (node(t, 1).memory = { total: 1 }), /^nodes\[1\]\.hugePages$/],
  ['3-byte huge pages', (t) => (node(t, 0).hugePages = [{ pageSize: 3, total: 8, free: 8 }]), /^nodes\[0\]\.hugePages\[0\]\.pageSize$/],
  ['huge pages of 3 MiB', (t) => (node(t, 0).hugePages = [{ pageSize: 3 * 1024 ** 2, total: 8, free: 8 }]), /^nodes\[0\]\.hugePages\[0\]\.pageSize$/],
  ['2 KiB pages', (t) => (node(t, 0).hugePages = [{ pageSize: 2048, total: 8, free: 8 }]), /^nodes\[0\]\.hugePages\[0\]\.pageSize$/],
  ['two pools of one size', (t) => (node(t, 0).hugePages = [{ pageSize: 2 * 1024 ** 2, total: 8, free: 8 }, { pageSize: 2 * 1024 ** 2, total: 8, free: 8 }]), /^nodes\[0\]\.hugePages\[1\]\.pageSize$/],
  ['free memory above total', (t) => (node(t, 0).memory = { total: 16 * G, free: 17 * G }), /^nodes\[0\]\.memory\.free$/],
  ['free huge pages above total', (t) => (node(t, 1).hugePages = [{ pageSize: G, total: 4, free: 5 }]), /^nodes\[1\]\.hugePages\[0\]\.free$/],
  ['distance 0 between two nodes', (t) => (t.distances = [[10, 0], [21, 10]]), /^distances\[0\]\[1\]$/],
  ['local distance 0', (t) => (t.distances = [[0, 21], [21, 10]]), /^distances\[0\]\[0\]$/],
  ['a remote node nearer than the local one', (t) => (t.distances = [[10, 21], [5, 10]]), /^distances\[1\]\[0\]$/],
  ['a node id beyond the largest a kernel has', (t) => (node(t, 1).id = 5000), /^nodes$/],
];

describe('makeTopology refuses what cannot be a machine', () => {
  it.each(IMPOSSIBLE)('%s', (_, edit, field) => {
    const e = refusal(input(edit));
    expect(e.path).toMatch(field);
    expect(e.code).toBe('ERR_TOPOLOGY');
  });

  it('refuses a CPU id beyond the largest a kernel has', () => {
    const i = input(() => undefined);
    const e = refusal({ ...i, pus: [...i.pus, { os: 70_000, package: 0, core: 70_000 }] });
    expect(e.path).toBe('pus');
  });

  it('warns about what is merely odd, and keeps it', () => {
    const t = makeTopology(
      input((x) => {
        x.distances = [
          [12, 12],
          [21, 10],
        ];
      }),
    );
    expect(t.distances[0]).toEqual([12, 12]);
    expect(t.warnings.map((w) => w.path)).toEqual(expect.arrayContaining(['distances[0][0]', 'distances[0][1]']));
  });

  it('still builds every preset without a warning about its numbers', () => {
    for (const name of presetNames()) {
      const t = getPreset(name)?.build();
      expect(t?.warnings.filter((w) => /^(distances|nodes)/.test(w.path)), name).toEqual([]);
    }
  });
});

describe('the shells say which field is impossible', () => {
  const svc = useService('impossible', TOKEN);
  /** broadwell-2s as JSON, with node 1 holding 1 byte of memory under its 8 GiB of 1G pages. */
  function impossibleJson(): string {
    const doc = JSON.parse(topologyToJson(getPreset('broadwell-2s')?.build() as never)) as { nodes: { memory: { total: number; free: number } }[] };
    (doc.nodes[1] as { memory: { total: number; free: number } }).memory = { total: 1, free: 1 };
    return JSON.stringify(doc);
  }

  it('CLI: exit 2 naming the field, for topology and place', async () => {
    const file = join(svc.dir, 'bad.json');
    writeFileSync(file, impossibleJson());
    const t = await runCli(['topology', '--from', `json:${file}`]);
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/nodes\[1\]\.hugePages/);
    const p = await runCli(['place', '--host', `json:${file}`, '--vm', 'name=a,vcpus=2,memory=4G,pages=1G,nodes=1', '--json']);
    expect(p.code).toBe(2);
    expect(JSON.parse(p.out).error.path).toMatch(/nodes\[1\]\.hugePages/);
  });

  it('API: 400 naming the field; nothing registered', async () => {
    const res = await svc.app.request('/api/v1/hosts/bad', {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'json', topology: impossibleJson() }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; field: string } };
    expect(body.error.code).toBe('ERR_TOPOLOGY');
    expect(body.error.field).toMatch(/nodes\[1\]\.hugePages/);
    expect(await svc.store.hostRow('bad')).toBeNull();
  });
});
