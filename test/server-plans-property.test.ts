/**
 * Property test of stored plans applied through the service, with placements and releases arriving
 * between the steps: on random fleets of preset hosts filled with random VMs, a plan is made for each
 * host (settings that make moves pay), then its steps are applied one by one while other requests
 * arrive. After every operation the store holds no CPU, huge page or device twice and breaks no
 * host invariant (the store's own invariant checker), every VM acknowledged is still stored, and an
 * applied step left its VMs exactly where the plan put them; a step refused left the host as it was
 * and the plan stale.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkStore } from '../src/store/invariants.js';
import { useService } from './support/service-app.js';

const TOKEN = 'plans-property-token-0123';
let now = 1_000_000;
const t = useService('plans-prop', TOKEN, { clock: () => now });

const PRESETS = ['epyc-2s-nps4', 'xeon-2s-snc2', 'epyc-2s-nps2', 'ring-4s'] as const;

const vmArb = fc.record({
  vcpus: fc.integer({ min: 1, max: 24 }),
  gib: fc.integer({ min: 1, max: 48 }),
  smt: fc.constantFrom('auto', 'prefer', 'isolate'),
  numa: fc.constantFrom('auto', 'auto', 'strict', 'preferred'),
  cpu: fc.constantFrom('dedicated', 'dedicated', 'shared'),
});
type VmArb = typeof vmArb extends fc.Arbitrary<infer T> ? T : never;
const spec = (name: string, v: VmArb): string => `name=${name},vcpus=${v.vcpus},memory=${v.gib}G,smt=${v.smt},numa=${v.numa},cpu=${v.cpu}`;

const scenario = fc.record({
  preset: fc.constantFrom(...PRESETS),
  // Fillers pinned to each node (explicit nodes: never moved) take this share of its CPUs, so the VMs
  // after them spread over nodes; those that leave free room a plan can move VMs into.
  fill: fc.array(fc.integer({ min: 30, max: 95 }), { minLength: 8, maxLength: 8 }),
  fillerLeaves: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  vms: fc.array(vmArb, { minLength: 4, maxLength: 24 }),
  leave: fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
  // Between steps: arrivals (some as claims), releases of VMs not in the plan's next step.
  between: fc.array(fc.record({ vm: vmArb, claim: fc.boolean(), release: fc.nat() }), { minLength: 0, maxLength: 6 }),
  holdSeconds: fc.constantFrom(undefined, 0, 30),
});

let round = 0;

describe('stored plans applied with requests arriving between steps', () => {
  it('never hands out a CPU, page or device twice, and applies exactly what the plan says', async () => {
    let applied = 0;
    let stale = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const host = `h${++round}`;
        expect((await t.call('PUT', `/api/v1/hosts/${host}`, { format: 'preset', topology: s.preset })).status).toBe(201);
        const acked = new Map<string, number[]>();
        const capacity = (await t.call('GET', `/api/v1/hosts/${host}`)).json.capacity as { node: number; totalPus: number }[];
        const fillers: string[] = [];
        for (const [i, n] of capacity.entries()) {
          const vcpus = Math.floor((n.totalPus * (s.fill[i % 8] as number)) / 100);
          if (vcpus === 0) continue;
          const name = `${host}-fill${n.node}`;
          const r = await t.call('POST', '/api/v1/vms', { host, vm: `name=${name},vcpus=${vcpus},memory=1G,nodes=${n.node}` });
          if (r.status === 201) {
            fillers.push(name);
            acked.set(name, r.json.placement.cpus);
          }
        }
        const names: string[] = [];
        for (const [i, v] of s.vms.entries()) {
          const name = `${host}-v${i}`;
          const r = await t.call('POST', '/api/v1/vms', { host, vm: spec(name, v) });
          if (r.status === 201) {
            names.push(name);
            acked.set(name, r.json.placement.cpus);
          }
        }
        for (const [i, name] of names.entries()) {
          if (!s.leave[i]) continue;
          expect((await t.call('DELETE', `/api/v1/vms/${name}`)).status).toBe(200);
          acked.delete(name);
        }
        for (const [i, name] of fillers.entries()) {
          if (!s.fillerLeaves[i % 8]) continue;
          expect((await t.call('DELETE', `/api/v1/vms/${name}`)).status).toBe(200);
          acked.delete(name);
        }
        const made = await t.call('POST', `/api/v1/hosts/${host}/plans`, { horizon: '1d', threshold: 0.5, minGain: 0, cooldown: 0 });
        expect(made.status, made.text).toBe(201);
        const id: string = made.json.id;
        const moves = made.json.plan.moves as { step: number; vms: { vm: string; after: { cpus: number[]; memory: unknown[] } }[] }[];
        const check = async (): Promise<void> => {
          const report = await checkStore(t.store, now, [...acked].map(([name, cpus]) => ({ name, host, cpus })));
          expect(report.problems).toEqual([]);
        };
        await check();
        let extra = 0;
        for (const m of moves) {
          // Requests between steps; some may take the next step's target.
          for (const b of s.between) {
            const held = [...acked.keys()].filter((n) => !m.vms.some((v) => v.vm === n) && !n.startsWith('hold-'));
            if (b.release % 3 === 0 && held.length > 0) {
              const name = held[b.release % held.length] as string;
              expect((await t.call('DELETE', `/api/v1/vms/${name}`)).status).toBe(200);
              acked.delete(name);
            } else {
              const name = `${host}-x${extra++}`;
              const r = await t.call('POST', '/api/v1/vms', { host, vm: spec(name, b.vm), ...(b.claim ? { claim: true, ttlSeconds: 600 } : {}) });
              expect([200, 201]).toContain(r.status);
              if (r.status === 201) acked.set(name, r.json.placement.cpus);
            }
            await check();
          }
          const before = (await t.call('GET', `/api/v1/hosts/${host}`)).json;
          const r = await t.call('POST', `/api/v1/plans/${id}/apply`, { step: m.step, ...(s.holdSeconds !== undefined ? { holdSeconds: s.holdSeconds } : {}) });
          if (r.status === 409) {
            expect(r.json.error.code, r.text).toBe('ERR_PLAN_STALE');
            expect(r.json.plan.status).toBe('stale');
            const after = (await t.call('GET', `/api/v1/hosts/${host}`)).json;
            expect(after.cpuOwner).toEqual(before.cpuOwner);
            expect(after.vms.map((v: { name: string; allocation: unknown }) => [v.name, v.allocation])).toEqual(before.vms.map((v: { name: string; allocation: unknown }) => [v.name, v.allocation]));
            stale++;
            await check();
            break;
          }
          expect(r.status, r.text).toBe(200);
          applied++;
          for (const v of m.vms) {
            const vm = (await t.call('GET', `/api/v1/vms/${v.vm}`)).json;
            expect(vm.allocation.cpus).toEqual(v.after.cpus);
            expect(vm.allocation.memory).toEqual(v.after.memory);
            expect(vm.placement.cpus).toEqual(v.after.cpus);
            acked.set(v.vm, v.after.cpus);
          }
          await check();
          now += 1000;
        }
      }),
      { numRuns: 30 },
    );
    // The generated fleets must exercise both outcomes across the file's runs, or the property proves little.
    expect(applied).toBeGreaterThan(0);
    console.log(`stored plans: ${applied} steps applied, ${stale} refused as stale`);
  });
});
