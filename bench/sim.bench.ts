/**
 * Simulator benchmarks: reading the Huawei trace, and replaying all of it (116,313 VMs, departures
 * applied, rejections do not stop the replay) over 100 two-node servers under the benchmark's
 * rules, once per policy. Goal: each replay under 2 s, the trace read well under 1 s.
 */
import { readTrace } from '../src/adapters/trace/read-trace.js';
import { traceEvents } from '../src/core/sim/events.js';
import type { Trace } from '../src/core/sim/trace.js';
import { VmagentCluster } from '../src/core/sim/vmagent/cluster.js';
import type { VmagentPolicy } from '../src/core/sim/vmagent/policy.js';
import { VMAGENT_POLICIES, vmagentPolicy } from '../src/core/sim/vmagent/registry.js';
import { vmagentScenario } from '../src/core/sim/vmagent/rules.js';
import { runVmagent, vmagentVms } from '../src/core/sim/vmagent/run.js';
import { requireDataSet } from './lib/data.js';
import type { BenchCase, BenchSuite } from './lib/types.js';

let tracePath = '';
let trace: Trace | null = null;
const scenario = vmagentScenario('recovering', 100);

function replay(policy: VmagentPolicy): number {
  const t = trace as Trace;
  const r = runVmagent(t, scenario, policy, { offset: 0 }, vms, cluster);
  return r.accepted;
}
let vms: ReturnType<typeof vmagentVms> = [];
let cluster: VmagentCluster;

export const suite: BenchSuite = {
  name: 'sim',
  description: 'Huawei trace: read, and replay all 116,313 VMs over 100 two-node servers per policy (recovering rules)',
  goal: { text: 'each full replay under 2 s; reading the trace well under 1 s (see the medians)' },
  setup: () => {
    tracePath = requireDataSet('traces/huawei-east-1-lt.from-SPANE.csv');
    trace = readTrace(tracePath);
    traceEvents(trace);
    vms = vmagentVms(trace, scenario);
    cluster = new VmagentCluster(scenario, trace.requests.length);
  },
  cases: (): BenchCase[] => [
    { name: 'read trace (116,313 rows)', process: true, run: () => traceEvents(readTrace(tracePath)) },
    ...VMAGENT_POLICIES.map((name) => ({
      name: `replay ${name}`,
      process: true,
      run: () => replay(vmagentPolicy(name) as VmagentPolicy),
    })),
    {
      name: 'fleet: 1M synthetic VMs over 10,000 mixed hosts',
      unavailable: () => 'the fleet mode (topology hosts, indexed host selection) is not built yet',
      run: () => undefined,
    },
  ],
};
