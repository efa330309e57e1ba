/**
 * Deterministic regressions of the engine's known bugs, each one the counterexample a property or
 * a user found, kept as a plain test (they hold for every registered policy where they apply).
 */
import { describe, expect, it } from 'vitest';
import {
  type HostState,
  commitPlacement,
  createHostState,
  parseVmRequest,
  place,
  policyNames,
} from '../src/core/placement/index.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';

const G = 1024 ** 3;

/** Every CPU held exclusively (reserve, dedicated vCPUs, held siblings, emulator pCPUs) has one owner, and no shared VM sits on one. */
function checkCpus(state: HostState): void {
  const owner = new Map<number, string>();
  const hold = (c: number, who: string): void => {
    const prev = owner.get(c);
    if (prev !== undefined) throw new Error(`CPU ${c} handed to ${who} and ${prev}`);
    owner.set(c, who);
  };
  for (const c of state.reserve.cpus) hold(c, 'reserve');
  for (const a of state.allocations) {
    if (a.exclusive) for (const c of a.cpus) hold(c, a.name);
    for (const c of [...a.heldCpus, ...a.emulatorCpus]) hold(c, a.name);
  }
  for (const a of state.allocations) {
    if (a.exclusive) continue;
    for (const c of a.cpus) if (owner.has(c)) throw new Error(`shared ${a.name} on CPU ${c} held by ${owner.get(c)}`);
  }
}

describe('shared vCPUs and reserved emulator pCPUs', () => {
  // fast-check's counterexample: one node, 3 cores x 2 threads (the reserve takes core 0).
  const topo = syntheticTopology({ source: 'regression-shared', packages: 1, nodesPerPackage: 1, coresPerNode: 3, threadsPerCore: 2, memoryPerNode: 16 * G });
  const stream = [
    { name: 'vm0', vcpus: 1, memory: G, cpuPolicy: 'shared' },
    { name: 'vm1', vcpus: 3, memory: G, cpuPolicy: 'shared', emulator: 1 },
    { name: 'vm2', vcpus: 1, memory: G },
  ];

  it.each(policyNames())('%s: emulator pCPUs come only from free CPUs, never from one a shared VM uses', (policy) => {
    let state = createHostState(topo);
    for (const raw of stream) {
      const r = parseVmRequest(raw);
      const res = place(r, state, policy, { hints: false });
      if (!res.ok) continue;
      state = commitPlacement(state, res.placement, r);
      checkCpus(state);
    }
    const vm0 = state.allocations.find((a) => a.name === 'vm0');
    const vm1 = state.allocations.find((a) => a.name === 'vm1');
    expect(vm0 && vm1).toBeTruthy();
    for (const c of vm1?.emulatorCpus ?? []) expect(vm0?.cpus).not.toContain(c);
  });

  it('refuses, naming the resource, when no completely free CPU is left for the emulator', () => {
    let state = createHostState(topo);
    // vm0 shares all 4 usable PUs: none is completely free afterwards.
    const a = parseVmRequest({ name: 'a', vcpus: 4, memory: G, cpuPolicy: 'shared' });
    const ra = place(a, state);
    if (!ra.ok) throw new Error(JSON.stringify(ra));
    state = commitPlacement(state, ra.placement, a);
    const b = parseVmRequest({ name: 'b', vcpus: 2, memory: G, cpuPolicy: 'shared', emulator: 1 });
    const rb = place(b, state);
    expect(rb.ok).toBe(false);
    if (rb.ok) return;
    expect(rb.reasons.some((x) => x.resource === 'emulator-cpus' && x.need === 1 && x.have === 0)).toBe(true);
    expect(rb.hints.some((h) => h.startsWith('emulator=share'))).toBe(true);
    // without reserved emulator pCPUs it shares the PUs
    expect(place({ ...b, emulator: 'share' }, state).ok).toBe(true);
  });
});
