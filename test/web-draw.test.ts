/**
 * The page's pure renderers (src/web/draw): formatting, colours, occupancy and capacity, the host
 * SVG, the distance heat map, the fleet and VM tables and the answers. Hosts are presets with VMs
 * placed by the real engine.
 */
import fc from 'fast-check';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { place } from '../src/core/placement/place.js';
import { parseVmSpec } from '../src/core/placement/request.js';
import { type HostState, commitPlacement, createHostState } from '../src/core/placement/state.js';
import type { Placement } from '../src/core/placement/types.js';
import { formatCpuList } from '../src/core/topology/cpulist.js';
import { getPreset, presetNames } from '../src/core/topology/presets/index.js';
import { drawAnswer, drawExplanation } from '../src/web/draw/answer.js';
import { summarizeHost } from '../src/web/draw/capacity.js';
import { VM_PALETTE, vmColors } from '../src/web/draw/colors.js';
import { drawDistances, heatColor } from '../src/web/draw/distance-heatmap.js';
import { esc } from '../src/web/draw/escape.js';
import { drawFleet } from '../src/web/draw/fleet-table.js';
import { cpuList, formatBytes, pageLabel } from '../src/web/draw/format.js';
import { drawHost } from '../src/web/draw/host-svg.js';
import { type HostView, occupancy } from '../src/web/draw/host-view.js';
import { drawCapacity, drawLegend } from '../src/web/draw/legend.js';
import { drawVmTable } from '../src/web/draw/vm-table.js';

const GIB = 1024 ** 3;

function host(preset: string, specs: string[]): { view: HostView; placements: Placement[] } {
  const topology = getPreset(preset)?.build();
  if (!topology) throw new Error(`no preset ${preset}`);
  let state: HostState = createHostState(topology);
  const placements: Placement[] = [];
  for (const spec of specs) {
    const req = parseVmSpec(spec);
    const r = place(req, state);
    if (!r.ok) throw new Error(`${spec} does not fit: ${JSON.stringify(r.reasons)}`);
    state = commitPlacement(state, r.placement, req);
    placements.push(r.placement);
  }
  return { view: { id: preset, name: preset, topology: state.topology, reserve: state.reserve, allocations: state.allocations }, placements };
}

const cellsOf = (svg: string): Map<number, string> => {
  const out = new Map<number, string>();
  for (const m of svg.matchAll(/<g class="(pu[^"]*)" data-cpu="(\d+)"/g)) {
    const cpu = Number(m[2]);
    if (out.has(cpu)) throw new Error(`CPU ${cpu} drawn twice`);
    out.set(cpu, m[1] as string);
  }
  return out;
};

describe('format', () => {
  it('prints binary sizes and page labels', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512 * 1024 ** 2)).toBe('512 MiB');
    expect(formatBytes(1.5 * GIB)).toBe('1.5 GiB');
    expect(formatBytes(64 * GIB)).toBe('64 GiB');
    expect(formatBytes(1100 * GIB)).toBe('1.1 TiB');
    expect([4096, 2 * 1024 ** 2, GIB].map(pageLabel)).toEqual(['4K', '2M', '1G']);
  });

  it('cpuList agrees with the core cpulist formatter', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 60 }), (cpus) => {
        expect(cpuList(cpus)).toBe(formatCpuList([...new Set(cpus)].sort((a, b) => a - b)));
      }),
    );
  });

  it('escapes markup', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('vmColors', () => {
  it('gives distinct colours while there are fewer VMs than palette slots, independent of input order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: VM_PALETTE.length }), (names) => {
        const a = vmColors(names);
        const b = vmColors([...names].reverse());
        expect(new Set(a.values()).size).toBe(names.length);
        for (const n of names) expect(a.get(n)).toBe(b.get(n));
      }),
    );
  });
});

describe('occupancy and capacity', () => {
  const { view, placements } = host('broadwell-2s', ['name=db,vcpus=6,memory=16G,pages=2M', 'name=web,vcpus=4,memory=8G,devices=rdma-vf:1:required']);

  it('marks each VM vCPU, the reserve and the devices', () => {
    const occ = occupancy(view);
    for (const p of placements) {
      p.cpus.forEach((cpu, i) => {
        const h = occ.cpus.get(cpu)?.holders.find((x) => x.vm === p.name && x.role === 'vcpu');
        expect(h?.vcpus).toContain(i);
      });
      for (const d of p.devices) expect(occ.devices.get(d.address)).toBe(p.name);
    }
    for (const cpu of view.reserve.cpus) expect(occ.cpus.get(cpu)?.reserved).toBe(true);
    const dbNode = (placements[0] as Placement).nodes[0] as number;
    expect(occ.nodes.get(dbNode)?.pages.find((x) => x.pageSize === 2 * 1024 ** 2)?.used).toBe(8192);
  });

  it('counts PUs, cores, memory, huge pages and devices', () => {
    const c = summarizeHost(view);
    const held = new Set(view.allocations.flatMap((a) => [...a.cpus, ...a.heldCpus, ...a.emulatorCpus]));
    expect(c.pus.total).toBe(40);
    expect(c.pus.used).toBe(held.size);
    expect(c.pus.reserved).toBe(view.reserve.cpus.filter((x) => !held.has(x)).length);
    expect(c.pus.free).toBe(40 - c.pus.used - c.pus.reserved);
    expect(c.cores.total).toBe(20);
    expect(c.memory.used).toBe(24 * GIB);
    expect(c.hugePages.find((p) => p.pageSize === 2 * 1024 ** 2)).toEqual({ pageSize: 2 * 1024 ** 2, total: 16384, free: 8192, over: 0 });
    expect(c.devices.total - c.devices.free).toBe(1);
    expect(drawCapacity(c)).toContain('2M pages free');
  });
});

describe('drawHost', () => {
  it('draws every PU once, coloured by its VM, and outlines the selected VM', () => {
    const { view, placements } = host('epyc-2s-nps4', ['name=a,vcpus=8,memory=16G', 'name=b,vcpus=40,memory=64G']);
    const colors = vmColors(view.allocations.map((x) => x.name));
    const svg = drawHost(view, { colors, selected: 'b' });
    expect(XMLValidator.validate(svg)).toBe(true);
    const cells = cellsOf(svg);
    expect([...cells.keys()].sort((x, y) => x - y)).toEqual(view.topology.pus.map((p) => p.os).sort((x, y) => x - y));
    const a = placements[0] as Placement;
    const b = placements[1] as Placement;
    for (const cpu of a.cpus) {
      expect(cells.get(cpu)).toBe('pu vm');
      expect(svg).toMatch(new RegExp(`data-cpu="${cpu}" data-vm="a"><title>[^<]*</title><rect [^>]*fill="${colors.get('a')}"`));
    }
    for (const cpu of b.cpus) expect(cells.get(cpu)).toBe('pu vm sel');
    for (const cpu of view.reserve.cpus) expect(cells.get(cpu)).toBe('pu reserved');
    expect(svg).toContain('<title id="np-host-title">Topology of epyc-2s-nps4</title>');
    expect(svg.match(/class="node"/g)?.length).toBe(8);
    expect(svg.match(/class="package"/g)?.length).toBe(2);
  });

  it('draws every preset as valid SVG within the width asked for', () => {
    for (const name of presetNames()) {
      const { view } = host(name, []);
      const svg = drawHost(view, { colors: new Map(), maxWidth: 900 });
      expect(XMLValidator.validate(svg), name).toBe(true);
      expect(cellsOf(svg).size, name).toBe(view.topology.pus.length);
      const width = Number(/width="(\d+(?:\.\d+)?)"/.exec(svg)?.[1]);
      expect(width, name).toBeLessThanOrEqual(902);
    }
  });

  it('draws memory-only nodes and counts empty ones', () => {
    const cxl = drawHost(host('cxl-2s', []).view, { colors: new Map() });
    expect(cxl).toContain('Nodes without CPUs');
    expect(cxl).toContain('Node 2 (CXL)');
    const gh = drawHost(host('gh200-2s', []).view, { colors: new Map() });
    expect(gh).toMatch(/\d+ empty NUMA nodes \(no CPUs, no memory\) not drawn/);
  });

  it('escapes hostile names', () => {
    const { view } = host('broadwell-2s', []);
    const evil = '<script>alert(1)</script>';
    const svg = drawHost({ ...view, name: evil }, { colors: new Map() });
    expect(svg).not.toContain('<script>');
    expect(XMLValidator.validate(svg)).toBe(true);
  });
});

describe('tables and answers', () => {
  const { view, placements } = host('broadwell-2s', ['name=db,vcpus=6,memory=16G,pages=2M']);
  const colors = vmColors(['db']);

  it('heat map: one cell per node pair, darker for farther', () => {
    const html = drawDistances(view.topology);
    expect(html.match(/<td class="heat"/g)?.length).toBe(4);
    expect(html).toContain('>21</td>');
    const near = heatColor(10, 10, 21);
    const far = heatColor(21, 10, 21);
    expect(near.bg).not.toBe(far.bg);
    expect(far.fg).toBe('#ffffff');
  });

  it('VM table and legend: a button per VM with its CPUs and memory per node', () => {
    const html = drawVmTable(view, colors, 'db');
    expect(html).toContain('<button type="button" class="vm-link" data-vm="db" aria-pressed="true">');
    expect(html).toContain(cpuList((placements[0] as Placement).cpus));
    expect(html).toContain(`node ${(placements[0] as Placement).nodes[0]}: 16 GiB (2M)`);
    expect(drawLegend(colors)).toContain('data-vm="db"');
    expect(drawVmTable({ ...view, allocations: [] }, colors)).toContain('No VMs');
  });

  it('fleet table: free / total per host, "—" where unknown', () => {
    const html = drawFleet(
      [
        { name: 'h1', source: 'preset:x', nodes: 2, cpus: { total: 40, free: 30 }, memory: { total: 128 * GIB, free: 100 * GIB }, vms: 1, detail: summarizeHost(view) },
        { name: 'h<2>', source: 'sysfs', nodes: 1, cpus: { total: 2, free: 1 }, memory: { total: 8 * GIB, free: 7 * GIB }, vms: 0 },
      ],
      'h1',
    );
    expect(html).toContain('30 / 40');
    expect(html).toContain('100 GiB / 128 GiB');
    expect(html).toContain('2M 8192 / 16384');
    expect(html).toContain('h&lt;2&gt;');
    expect(html).toContain('aria-pressed="true"');
    expect(drawFleet([], null)).toContain('No hosts');
  });

  it('answers: placement, refusal with reasons and hints, error with its field', () => {
    const p = placements[0] as Placement;
    const placed = drawAnswer({ kind: 'placed', host: 'h1', status: 'committed', placement: p });
    expect(placed).toContain('Placed <span class="mono">db</span> on h1');
    expect(placed).toContain(p.explanation.summary);
    expect(drawAnswer({ kind: 'placed', host: 'h1', status: 'committed', placement: p }, { full: false })).not.toContain('Score terms');
    const topo = view.topology;
    const state = createHostState(topo);
    const r = place(parseVmSpec('name=huge,vcpus=64,memory=16G,numa=strict'), state);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const refused = drawAnswer({ kind: 'refused', reasons: r.reasons, hints: r.hints, hostsConsidered: 1 });
    expect(refused).toContain('Does not fit (1 host considered)');
    for (const reason of r.reasons) expect(refused).toContain(esc(reason.resource));
    for (const hint of r.hints) expect(refused).toContain(esc(hint));
    const err = drawAnswer({ kind: 'error', status: 400, code: 'ERR_REQUEST', field: 'vm.vcpus', message: 'expected a whole number' });
    expect(err).toContain('role="alert"');
    expect(err).toContain('<strong>vm.vcpus</strong>');
    expect(drawExplanation(null)).toContain('no explanation');
  });
});

describe('displaced VMs on the page', () => {
  it('marks a displaced VM with its reasons, and an overfilled pool as over, not as free 0', () => {
    const { view } = host('broadwell-2s', ['name=g1,vcpus=2,memory=4G,pages=1G,nodes=1']);
    // The host's 1G pool of node 1 shrank to 1 page under g1's 4; the update was accepted.
    const topology = JSON.parse(JSON.stringify(view.topology)) as HostView['topology'];
    const pool = topology.nodes[1]?.hugePages.find((p) => p.pageSize === GIB);
    if (!pool) throw new Error('no 1G pool');
    Object.assign(pool, { total: 1, free: 1 });
    const g1 = view.allocations[0] as HostView['allocations'][number];
    const reason = { resource: 'hugepages-1G', node: 1, need: 4 * GIB, have: GIB, shortfall: 3 * GIB, detail: "holds 4294967296 bytes of node 1's hugepages-1G pool, 1073741824 bytes are left for it" };
    const shrunk: HostView = { ...view, topology, allocations: [{ ...g1, displaced: { since: 1, reasons: [reason] } }] };
    const table = drawVmTable(shrunk, vmColors(shrunk.allocations.map((a) => a.name)));
    expect(table).toContain('<span class="tag displaced"');
    expect(table).toContain(esc(reason.detail));
    const cap = summarizeHost(shrunk);
    const oneG = cap.hugePages.find((p) => p.pageSize === GIB);
    expect(oneG).toMatchObject({ total: 9, free: 8, over: 3 });
    const legend = drawCapacity(cap);
    expect(legend).toContain('1G pages free');
    expect(legend).toContain('over by 3');
    const fleet = drawFleet([{ name: 'h', source: 's', nodes: 2, cpus: { total: 40, free: 30 }, memory: { total: 1, free: 1 }, vms: 1, detail: cap }], null);
    expect(fleet).toContain('over by 3');
    // Nothing displaced: nothing said about it.
    expect(drawVmTable(view, vmColors(['g1']))).not.toContain('displaced');
    expect(summarizeHost(view).hugePages.every((p) => p.over === 0)).toBe(true);
  });
});
