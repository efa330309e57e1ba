/** `numaplan rebalance` and `numaplan apply-plan` through the real CLI entry point. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-rebalance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const state = join(dir, 'host.json');
const plan = join(dir, 'plan.json');

/** EPYC NPS4: a filler of 40 of 48 PUs on each node, then `wide` spreads over two nodes; one filler leaves. */
beforeEach(async () => {
  rmSync(state, { force: true });
  const fillers = Array.from({ length: 8 }, (_, n) => ['--vm', `name=f${n},vcpus=40,memory=16G,smt=prefer`]).flat();
  const placed = await runCli(['place', '--host', 'preset:epyc-2s-nps4', '--state', state, ...fillers, '--vm', 'name=wide,vcpus=12,memory=24G,smt=prefer', '--vm', 'name=pinned,vcpus=4,memory=2G,nodes=2,3', '--json']);
  expect(placed.code).toBe(0);
  const wide = JSON.parse(readFileSync(state, 'utf8')).allocations.find((a: { name: string }) => a.name === 'wide');
  expect(wide.nodes).toHaveLength(2);
  // A filler on one of wide's nodes leaves: that node can now hold wide alone.
  const doc = JSON.parse(readFileSync(state, 'utf8'));
  const leaving = doc.allocations.find((a: { name: string; nodes: number[] }) => a.name.startsWith('f') && a.nodes[0] !== wide.nodes[0] && a.nodes[0] !== wide.nodes[1]);
  expect((await runCli(['release', '--state', state, leaving.name])).code).toBe(0);
});

describe('numaplan rebalance', () => {
  it('proposes the move that pays, as JSON and as text, and changes nothing', async () => {
    const before = readFileSync(state, 'utf8');
    const r = await runCli(['rebalance', '--state', state, '--horizon', '1h', '--now', '0', '--json']);
    expect(r.code).toBe(0);
    const { plan: p } = JSON.parse(r.out);
    expect(p.moves).toHaveLength(1);
    expect(p.moves[0].kind).toBe('narrow');
    expect(p.moves[0].vms[0].vm).toBe('wide');
    expect(p.moves[0].vms[0].after.nodes).toHaveLength(1);
    expect(p.moves[0].cost.bytes).toBe(24 * 1024 ** 3);
    expect(p.skipped).toEqual([{ vm: 'pinned', why: expect.stringMatching(/explicit nodes/) }]);
    const text = await runCli(['rebalance', '--state', state, '--horizon', '1h', '--now', '0']);
    expect(text.out).toMatch(/step 1 {2}narrow {2}wide: nodes \d,\d -> \d/);
    expect(text.out).toMatch(/memory node \d -> node \d: 12 GiB/);
    expect(text.out).toMatch(/dry run: nothing was changed/);
    expect(readFileSync(state, 'utf8')).toBe(before);
  });

  it('proposes nothing when the move does not pay within the default 10-minute horizon (neighbouring NPS4 nodes)', async () => {
    const r = await runCli(['rebalance', '--state', state, '--json']);
    expect(JSON.parse(r.out).plan.moves).toEqual([]);
  });

  it('apply-plan prints the commands, --record records the move, the cool-down then holds, a stale plan is refused', async () => {
    expect((await runCli(['rebalance', '--state', state, '--horizon', '1h', '--now', '0', '-o', plan])).code).toBe(0);
    const dry = await runCli(['apply-plan', plan, '--state', state]);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/virsh numatune wide --mode strict --nodeset [\d,-]+ --live/);
    expect(dry.out).toMatch(/virsh vcpupin wide 0 \d+ --live/);
    expect(dry.out).toMatch(/migratepages "\$\(cat \/run\/libvirt\/qemu\/wide.pid\)" \d \d/);
    const rec = await runCli(['apply-plan', plan, '--state', state, '--record', '--now', '1000', '--json']);
    expect(rec.code).toBe(0);
    expect(JSON.parse(rec.out).steps[0].ok).toBe(true);
    const wide = JSON.parse(readFileSync(state, 'utf8')).allocations.find((a: { name: string }) => a.name === 'wide');
    expect(wide.nodes).toHaveLength(1);
    expect(wide.movedAt).toBe(1000);
    const again = await runCli(['apply-plan', plan, '--state', state, '--json']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.out).steps[0]).toMatchObject({ ok: false, code: 'stale' });
    const within = JSON.parse((await runCli(['rebalance', '--state', state, '--horizon', '1h', '--now', '60000', '--json'])).out).plan;
    expect(within.skipped.find((s: { vm: string }) => s.vm === 'wide').why).toMatch(/cool-down/);
  });

  it('refuses a step whose target a placement took after planning (exit 1)', async () => {
    await runCli(['rebalance', '--state', state, '--horizon', '1h', '--now', '0', '-o', plan]);
    const target = JSON.parse(readFileSync(plan, 'utf8')).moves[0].vms[0].after.cpus as number[];
    expect((await runCli(['place', '--state', state, '--vm', `name=late,vcpus=${target.length},memory=1G,cpus=${target.join(',')}`])).code).toBe(0);
    const r = await runCli(['apply-plan', plan, '--state', state, '--record']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/REFUSED \(taken\)/);
    expect(r.out).toMatch(/plan again/);
  });

  it('bad input: exit 2 naming the option or field', async () => {
    for (const [args, what] of [
      [['--rate', 'fast'], '--rate'],
      [['--cooldown', 'soon'], '--cooldown'],
      [['--threshold', '-1'], '--threshold'],
      [['--max-moves', '1.5'], '--max-moves'],
      [['--max-bytes', 'lots'], '--max-bytes'],
      [['--horizon', '0s'], '--horizon'],
    ] as const) {
      const r = await runCli(['rebalance', '--state', state, ...args, '--json']);
      expect(r.code).toBe(2);
      expect(JSON.parse(r.out).error.path).toBe(what);
    }
    expect((await runCli(['rebalance', '--state', join(dir, 'none.json')])).code).toBe(2);
    writeFileSync(plan, '{"schema":"numaplan.plan/v1","host":"preset:epyc-2s-nps4","moves":[{"vms":[{"vm":"x"}]}]}');
    const bad = await runCli(['apply-plan', plan, '--state', state, '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.out).error).toMatchObject({ code: 'ERR_PLAN', path: `${plan}:moves.0.vms.0.before` });
    writeFileSync(plan, '{"schema":"numaplan.plan/v1","host":"preset:other","moves":[]}');
    expect((await runCli(['apply-plan', plan, '--state', state])).err).toMatch(/the plan is for host "preset:other"/);
  });

  it('--waiting: a move made only to let a waiting VM in says so, and the VM fits after that step', async () => {
    // Broadwell: cpu0 and s1 take node 0's PUs, mem1 node 1's regular memory (placed with nodes=,
    // which the state then forgets: VMs placed by the kernel). w (one node, 30 GiB) fits nowhere.
    const st = join(dir, 'stranded.json');
    const placed = await runCli(['place', '--host', 'preset:broadwell-2s', '--state', st, '--vm', 'name=cpu0,vcpus=17,memory=2G,nodes=0,smt=prefer', '--vm', 'name=s1,vcpus=1,memory=1G,nodes=0,smt=prefer', '--vm', 'name=mem1,vcpus=2,memory=36G,nodes=1,smt=prefer', '--json']);
    expect(placed.code, placed.err).toBe(0);
    const doc = JSON.parse(readFileSync(st, 'utf8'));
    for (const a of doc.allocations) delete a.request.nodes;
    writeFileSync(st, JSON.stringify(doc));
    const r = await runCli(['rebalance', '--state', st, '--now', '0', '--waiting', 'name=w,vcpus=1,memory=30G,smt=prefer,numa=strict', '--json']);
    expect(r.code, r.err).toBe(0);
    const p = JSON.parse(r.out).plan;
    expect(p.moves).toHaveLength(1);
    expect(p.moves[0].vms.map((v: { vm: string; after: { nodes: number[] } }) => `${v.vm}->${v.after.nodes.join(',')}`)).toEqual(['s1->1']);
    expect(p.moves[0].gain.admits).toEqual(['w']);
    expect(p.moves[0].cost.bytes).toBe(1024 ** 3);
    expect(p.moves[0].reason).toMatch(/^makes room for w, which fits nowhere on the host as it is; s1: nodes 0 -> 1/);
    expect(p.waiting).toEqual([{ name: 'w', fitsNow: false, admittedAt: 1 }]);
    const text = await runCli(['rebalance', '--state', st, '--now', '0', '--waiting', 'name=w,vcpus=1,memory=30G,smt=prefer,numa=strict']);
    expect(text.out).toMatch(/waiting:\n {2}w: fits after step 1/);
    // Within s1's cool-down cpu0 moves instead (2 GiB); within both VMs' cool-downs nothing makes room.
    const cool = async (names: string[]): Promise<{ moves: { vms: { vm: string }[] }[]; waiting: unknown[] }> => {
      const d = JSON.parse(readFileSync(st, 'utf8'));
      for (const a of d.allocations) if (names.includes(a.name)) a.movedAt = 0;
      writeFileSync(st, JSON.stringify(d));
      return JSON.parse((await runCli(['rebalance', '--state', st, '--now', '1000', '--waiting', 'name=w,vcpus=1,memory=30G,smt=prefer,numa=strict', '--json'])).out).plan;
    };
    const second = await cool(['s1']);
    expect(second.moves.map((m) => m.vms.map((v) => v.vm).join('+'))).toEqual(['cpu0']);
    expect((await cool(['s1', 'cpu0'])).waiting).toEqual([{ name: 'w', fitsNow: false, admittedAt: null }]);
  });

  it('--waiting: a VM that fits nowhere is reported, and a bad or clashing spec is exit 2', async () => {
    const r = await runCli(['rebalance', '--state', state, '--now', '0', '--waiting', 'name=huge,vcpus=49,memory=16G,smt=prefer,numa=strict', '--waiting', 'name=tiny,vcpus=1,memory=1G']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/waiting:\n {2}huge: still fits nowhere: no move that pays makes room\n {2}tiny: fits already/);
    const clash = await runCli(['rebalance', '--state', state, '--waiting', 'name=wide,vcpus=1,memory=1G', '--json']);
    expect(clash.code).toBe(2);
    expect(JSON.parse(clash.out).error.path).toBe('--waiting');
    const bad = await runCli(['rebalance', '--state', state, '--waiting', 'name=x,vcpus=zero', '--json']);
    expect(bad.code).toBe(2);
  });

  it('--help shows examples', async () => {
    for (const cmd of ['rebalance', 'apply-plan']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Examples:\n {2}numaplan (rebalance|apply-plan) /);
    }
  });
});
