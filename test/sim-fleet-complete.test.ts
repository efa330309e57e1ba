/**
 * Fleet mode refuses a VM only when no host can take it. The fast path judges a bounded number of
 * indexed candidates (best-fit order over the fleet model, which sees vCPU slots and bytes, not page
 * pools); when none of them takes the VM, a complete search runs before the refusal. Checked two
 * ways: a fleet built so that every fast-path candidate refuses and another host fits, and random
 * traces on a small fleet where every refusal is compared with a brute-force judgement of every host.
 */
import { describe, expect, it } from 'vitest';
import { engineChooser } from '../src/core/sim/fleet/choosers.js';
import { type FleetGroup, FleetState } from '../src/core/sim/fleet/fleet-state.js';
import { judgeHost } from '../src/core/sim/fleet/judge.js';
import { FLEET_SCAN_LIMIT, fleetPolicy } from '../src/core/sim/fleet/policies.js';
import { toVmRequest } from '../src/core/sim/fleet/request-map.js';
import { traceEvents } from '../src/core/sim/events.js';
import { forLoad, syntheticTrace } from '../src/core/sim/synthetic.js';
import { CREATE, type Trace, type TraceRequest } from '../src/core/sim/trace.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { makeRng } from '../src/core/sim/rng.js';

const GIB = 1024 ** 3;
const group = (name: string, count: number): FleetGroup => {
  const preset = getPreset(name);
  if (!preset) throw new Error(`no preset ${name}`);
  return { spec: `preset:${name}`, count, topology: preset.build() };
};

describe('complete search before a refusal', () => {
  it('places a VM that every fast-path candidate refuses on the host that fits', () => {
    // Broadwell nodes hold 8 GiB of 1 GiB pages: a 9 GiB one-node VM on 1 GiB pages fits none of them,
    // though the fleet model (bytes of every page size) says each of their nodes has room. They are
    // tighter than the EPYC host (fewer free slots per node), so best-fit order tries them first.
    const traps = FLEET_SCAN_LIMIT + 4;
    const groups = [group('broadwell-2s', traps), group('epyc-2s-nps1', 1)];
    const request: TraceRequest = { id: 'big-pages', arrival: 0, lifetime: null, vcpus: 4, memory: 9 * GIB, pageSize: GIB, devices: [], numaPolicy: 'local' };
    for (const name of ['numaplan', 'first-fit']) {
      for (const slow of [false, true]) {
        const fleet = new FleetState(groups);
        const decision = (fleetPolicy(name, { slow }) as NonNullable<ReturnType<typeof fleetPolicy>>).place(fleet, request, 0);
        expect(decision, `${name}${slow ? ' (slow)' : ''}`).not.toBeNull();
        expect(decision?.share.host).toBe(traps);
        expect(decision?.share.nodes).toHaveLength(1);
      }
    }
  });

  it('refuses only when no host fits (brute force over every host)', () => {
    const groups = [group('broadwell-2s', 3), group('epyc-2s-nps4', 1), group('xeon-2s-snc2', 1)];
    const vcpus = 3 * 40 + 384 + 224;
    const rng = makeRng(11);
    const base = syntheticTrace({ count: 1500, seed: 9, rate: forLoad(1.6, vcpus, 900), meanLifetime: 900 });
    // Mix in page sizes and one-node VMs so that the fleet model's bound is often wrong.
    const requests = base.requests.map((r): TraceRequest => {
      const x = rng.next();
      return x < 0.2 ? { ...r, pageSize: GIB, memory: Math.ceil(r.memory / GIB) * GIB, numaPolicy: 'local' } : x < 0.4 ? { ...r, pageSize: 2 * 1024 ** 2 } : r;
    });
    const trace: Trace = { ...base, requests };
    const chooser = engineChooser('numaplan');
    if (!chooser) throw new Error('numaplan chooser');
    const fleet = new FleetState(groups);
    const policy = fleetPolicy('numaplan') as NonNullable<ReturnType<typeof fleetPolicy>>;
    const events = traceEvents(trace);
    const where: (ReturnType<typeof policy.place> | undefined)[] = [];
    let refused = 0;
    let placed = 0;
    for (let t = 0; t < events.kind.length; t++) {
      const id = events.req[t] as number;
      if (events.kind[t] !== CREATE) {
        const d = where[id];
        if (d) policy.release(fleet, d.share);
        where[id] = undefined;
        continue;
      }
      const r = requests[id] as TraceRequest;
      const d = policy.place(fleet, r, id);
      if (d) {
        placed++;
        where[id] = d;
        continue;
      }
      refused++;
      const req = toVmRequest(r, id);
      for (let h = 0; h < fleet.hosts; h++) {
        const ledger = fleet.ledger(h);
        expect(judgeHost(chooser, req, ledger.state, ledger.capacity()), `request ${id} refused but host ${h} fits`).toBeNull();
      }
    }
    expect(refused).toBeGreaterThan(20);
    expect(placed).toBeGreaterThan(500);
  });
});
