/**
 * The page's drawing of a rebalancing plan (src/web/draw/plan-svg.ts) on plans the real planner
 * makes: one arrow per memory transfer with its step, VM, nodes and bytes; dashed arrows and rings
 * for moves without memory; well-formed SVG (fast-xml-parser's validator); names escaped. The
 * drawing in a real browser, against the service's own plan, is test/browser.test.ts.
 */
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { place } from '../src/core/placement/place.js';
import { parseVmSpec } from '../src/core/placement/request.js';
import { type HostState, commitPlacement, createHostState, releaseAllocation } from '../src/core/placement/state.js';
import { type Plan, planRebalance } from '../src/core/rebalance/plan.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { vmColors } from '../src/web/draw/colors.js';
import { drawPlan, planArrows } from '../src/web/draw/plan-svg.js';

/** EPYC NPS4: a filler on every node, then `wide` over two nodes; a filler off wide's nodes leaves. */
function fragmented(wideName: string): HostState {
  const topology = getPreset('epyc-2s-nps4')?.build();
  if (!topology) throw new Error('preset');
  let state = createHostState(topology);
  for (const spec of [...Array.from({ length: 8 }, (_, n) => `name=f${n},vcpus=40,memory=16G,smt=prefer`), `name=${wideName},vcpus=12,memory=24G,smt=prefer`]) {
    const req = parseVmSpec(spec);
    const r = place(req, state);
    if (!r.ok) throw new Error(spec);
    state = commitPlacement(state, r.placement, req);
  }
  const wide = state.allocations.find((a) => a.name === wideName);
  const leaving = state.allocations.find((a) => a.name.startsWith('f') && !wide?.nodes.includes(a.nodes[0] as number));
  return releaseAllocation(state, leaving?.name as string);
}

describe('drawPlan', () => {
  it('draws one arrow per memory transfer, with its step, VM, nodes and bytes, and lists the steps', () => {
    const state = fragmented('wide');
    const plan = planRebalance(state, { now: 0, horizonSec: 3600 });
    expect(plan.moves).toHaveLength(1);
    const html = drawPlan(plan, state.topology, { colors: vmColors(state.allocations.map((a) => a.name)) });
    const svg = /<svg[\s\S]*<\/svg>/.exec(html)?.[0] ?? '';
    expect(XMLValidator.validate(svg)).toBe(true);
    const arrows = [...svg.matchAll(/<path class="plan-arrow memory"[^>]*data-step="(\d+)" data-vm="([^"]+)" data-from="(\d+)" data-to="(\d+)" data-bytes="(\d+)"/g)].map((m) => [Number(m[1]), m[2], Number(m[3]), Number(m[4]), Number(m[5])]);
    expect(arrows).toEqual(plan.moves.flatMap((m) => m.vms.flatMap((v) => v.memory.map((t) => [m.step, v.vm, t.from, t.to, t.bytes]))));
    expect(svg.match(/class="plan-node"/g)).toHaveLength(8);
    expect(html).toMatch(/<ol class="plan-steps"><li data-step="1"><strong>narrow<\/strong>/);
    expect(html).toContain('1 move, 24 GiB to migrate');
  });

  it('says so when nothing pays, and escapes what it prints', () => {
    const state = fragmented('wide');
    const none = planRebalance(state, { now: 0 });
    expect(drawPlan(none, state.topology, { colors: new Map() })).toContain('Nothing pays for itself: no move proposed.');
    // A plan is data from the service: whatever its strings hold is printed as text.
    const plan = planRebalance(state, { now: 0, horizonSec: 3600 });
    const odd: Plan = { ...plan, moves: plan.moves.map((m) => ({ ...m, reason: '<script>x</script>', vms: m.vms.map((v) => ({ ...v, vm: 'a<b>&"c' })) })) };
    const html = drawPlan(odd, state.topology, { colors: new Map() });
    expect(html).not.toContain('a<b>');
    expect(html).not.toContain('<script>');
    expect(html).toContain('a&lt;b&gt;&amp;&quot;c');
    expect(XMLValidator.validate(/<svg[\s\S]*<\/svg>/.exec(html)?.[0] ?? '')).toBe(true);
  });

  it('moves without memory: dashed arrows from the nodes a VM leaves to those it gains, a ring for a re-pin in place', () => {
    const state = fragmented('wide');
    const plan = planRebalance(state, { now: 0, horizonSec: 3600 });
    const move = plan.moves[0] as Plan['moves'][number];
    const v = move.vms[0] as (typeof move.vms)[number];
    const moved: Plan = { ...plan, moves: [{ ...move, vms: [{ ...v, memory: [] }] }] };
    const { arrows, rings } = planArrows(moved);
    const left = v.before.nodes.filter((n) => !v.after.nodes.includes(n));
    expect(arrows.map((a) => [a.kind, a.from, a.to])).toEqual(left.map((n) => ['vcpus', n, v.after.nodes[0]]));
    expect(rings).toEqual([]);
    const inPlace: Plan = { ...plan, moves: [{ ...move, kind: 'repin', vms: [{ ...v, memory: [], after: { ...v.after, nodes: v.before.nodes } }] }] };
    const r = planArrows(inPlace);
    expect(r.arrows).toEqual([]);
    expect(r.rings.map((x) => x.node)).toEqual(v.before.nodes);
    const html = drawPlan(inPlace, state.topology, { colors: new Map() });
    expect(html.match(/class="plan-ring"/g)).toHaveLength(v.before.nodes.length);
  });
});
