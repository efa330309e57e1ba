import { describe, expect, it } from 'vitest';
import { makeTopology } from './build.js';
import { TopologyError } from './errors.js';
import { topologyFromJson, topologyToJson } from './json.js';
import { syntheticTopology } from './synthetic.js';
import { summarize } from './view.js';

const GiB = 1024 ** 3;
const broadwell = () =>
  syntheticTopology({
    source: 'test',
    packages: 2,
    nodesPerPackage: 1,
    coresPerNode: 10,
    threadsPerCore: 2,
    memoryPerNode: 64 * GiB,
  });

describe('makeTopology', () => {
  it('derives cores, order and nodes like Linux numbers a two-socket host', () => {
    const t = broadwell();
    expect(t.nodes.map((n) => n.cpus.length)).toEqual([20, 20]);
    expect(t.nodes[0]?.cpus.slice(0, 11)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20]);
    expect(t.cores).toHaveLength(20);
    expect(t.cores[0]?.pus).toEqual([0, 20]);
    expect(t.pus[1]?.os).toBe(20); // sibling follows its core in topology order
    expect(t.pus.every((p, i) => p.logical === i)).toBe(true);
    expect(summarize(t)).toMatchObject({ packages: 2, nodes: 2, cores: 20, pus: 40, smt: 2 });
    expect(Object.isFrozen(t.nodes[0])).toBe(true);
  });
  it('sorts nodes and permutes distances with them', () => {
    const t = makeTopology({
      source: 'test',
      nodes: [
        { id: 1, cpus: [1], memory: { total: GiB } },
        { id: 0, cpus: [0], memory: { total: GiB } },
      ],
      distances: [
        [10, 30],
        [20, 10],
      ],
      pus: [
        { os: 0, package: 0, core: 0 },
        { os: 1, package: 0, core: 1 },
      ],
    });
    expect(t.nodes.map((n) => n.id)).toEqual([0, 1]);
    expect(t.distances).toEqual([
      [10, 20],
      [30, 10],
    ]);
  });
  it('classifies CPU-less and memory-less nodes', () => {
    const t = makeTopology({
      source: 'test',
      nodes: [
        { id: 0, cpus: [0], memory: { total: GiB } },
        { id: 1, cpus: [1], memory: { total: 0 } },
        { id: 2, cpus: [], memory: { total: GiB }, tier: 'hbm' },
      ],
      pus: [
        { os: 0, package: 0, core: 0 },
        { os: 1, package: 0, core: 1 },
      ],
    });
    expect(t.nodes.map((n) => n.kind)).toEqual(['cpu-memory', 'memory-less', 'cpu-less']);
    expect(t.warnings.map((w) => w.path)).toContain('distances');
  });
  it('refuses a matrix of the wrong size, naming the field', () => {
    expect(() =>
      makeTopology({ source: 't', nodes: [{ id: 0, cpus: [], memory: { total: 1 } }], distances: [[10, 20]], pus: [] }),
    ).toThrow(TopologyError);
  });
  it('infers a device node from local CPUs', () => {
    const t = syntheticTopology({
      source: 't',
      packages: 2,
      nodesPerPackage: 1,
      coresPerNode: 2,
      threadsPerCore: 1,
      memoryPerNode: GiB,
      devices: [
        { address: '0000:81:00.0', class: 'nic', classCode: 0x020000, vendorId: 0x15b3, deviceId: 0x1017, node: null, localCpus: [2, 3] },
      ],
    });
    expect(t.pciDevices[0]?.inferredNode).toBe(1);
  });
});

describe('topology JSON', () => {
  it('round-trips byte for byte', () => {
    const t = broadwell();
    const text = topologyToJson(t);
    expect(topologyToJson(topologyFromJson(text))).toBe(text);
  });
  it('names the bad field', () => {
    const doc = JSON.parse(topologyToJson(broadwell()));
    doc.nodes[1].memory.total = -5;
    expect(() => topologyFromJson(JSON.stringify(doc), 'x.json')).toThrow(/x\.json:nodes\[1\]\.memory\.total/);
    expect(() => topologyFromJson('{', 'y.json')).toThrow(/y\.json: not valid JSON/);
  });
});
