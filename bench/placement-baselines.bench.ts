/**
 * The peers' baselines beside numaplan: median time of one `place()` (fit and no-fit) on the same
 * half-full hosts of 2, 4, 8, 16, 64 and 256 nodes as `placement.bench.ts` (8 cores x 2 threads,
 * 64 GiB per node, one 4-vCPU VM already on every node), for numaplan, the Nova-style baselines
 * (pack, spread) and the Kubernetes Topology Manager baselines (best-effort, single-numa-node).
 *
 *   fit         a 4-vCPU, 8 GiB VM (fits one node);
 *   no-fit      a 14-vCPU VM with numa=strict (no node has 14 free whole cores): a refusal with
 *               reasons and verified hints;
 *   2-cell no-fit  Nova only: a 26-vCPU VM with maxnodes=2 (hw:numa_nodes=2; 13 vCPUs per cell, no
 *               cell has them), which walks all P(n, 2) host-cell permutations: the Nova cost curve.
 *
 * Each baseline row shows its median divided by numaplan's for the same case (above 1: slower than
 * numaplan). No goal line: the runner's goal compares ratios against an upper bound.
 *
 * Caps, shown in the rows where they apply: the Kubernetes rows stop at K8S_MAX_NUMA_NODES (8), as
 * the kubelet does (each resource yields up to 2^n - 1 hints and the merge is their cross product);
 * Nova's walk stops at NOVA_MAX_PERMUTATIONS.
 */
import { parseVmSpec, place } from '../src/core/placement/index.js';
import type { HostState } from '../src/core/placement/state.js';
import { K8S_MAX_NUMA_NODES } from '../src/core/placement/policies/baselines/k8s-topology.js';
import { NOVA_MAX_PERMUTATIONS } from '../src/core/placement/policies/baselines/nova.js';
import type { BenchCase, BenchSuite } from './lib/types.js';
import { HOSTS, benchState } from './placement.bench.js';

const FIT = parseVmSpec('name=probe,vcpus=4,memory=8G');
const NOFIT = parseVmSpec('name=probe,vcpus=14,memory=24G,numa=strict');
const NOFIT2 = parseVmSpec('name=probe,vcpus=26,memory=24G,maxnodes=2');

function expectOk(got: boolean, want: boolean): boolean {
  if (got !== want) throw new Error(`expected ok=${want}`);
  return got;
}

/** The side-by-side cases. */
export function baselineCases(): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const [p, per] of HOSTS) {
    const n = p * per;
    let state: HostState | null = null;
    const s = (): HostState => (state ??= benchState(p, per));
    const row = (policy: string, what: string, vm: typeof FIT, ok: boolean, cap?: string): BenchCase => {
      const c: BenchCase = {
        name: `${policy} ${what} ${n} nodes`,
        run: () => expectOk(place(vm, s(), policy).ok, ok),
        ...(policy === 'numaplan' ? {} : { baseline: `numaplan ${what === '2-cell no-fit' ? 'no-fit' : what} ${n} nodes` }),
      };
      if (cap) c.unavailable = () => cap;
      return c;
    };
    const k8sCap = n > K8S_MAX_NUMA_NODES ? `capped: K8S_MAX_NUMA_NODES = ${K8S_MAX_NUMA_NODES} (the kubelet refuses hosts above it; 2^${n} - 1 masks per resource)` : undefined;
    cases.push(
      row('numaplan', 'fit', FIT, true),
      row('numaplan', 'no-fit', NOFIT, false),
      row('nova-pack', 'fit', FIT, true),
      row('nova-spread', 'fit', FIT, true),
      row('nova-pack', 'no-fit', NOFIT, false),
      row('nova-pack', '2-cell no-fit', NOFIT2, false, n * (n - 1) > NOVA_MAX_PERMUTATIONS ? `capped: NOVA_MAX_PERMUTATIONS = ${NOVA_MAX_PERMUTATIONS}` : undefined),
      row('k8s-best-effort', 'fit', FIT, true, k8sCap),
      row('k8s-single-numa-node', 'fit', FIT, true, k8sCap),
      row('k8s-single-numa-node', 'no-fit', NOFIT, false, k8sCap),
    );
  }
  return cases;
}

/** The suite `npm run bench` finds. */
export const suite: BenchSuite = {
  name: 'placement-baselines',
  description: 'one placement (fit, no-fit) by numaplan and the Nova- and Kubernetes-style baselines on half-full hosts of 2..256 nodes',
  cases: () => baselineCases(),
};
