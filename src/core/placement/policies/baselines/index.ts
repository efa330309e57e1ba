/**
 * The peers' baseline policies, registered with the policy registry so that `place(..., 'NAME')`,
 * `numaplan place --policy NAME` and the contract suite see them. Each file names the peer
 * behaviour it reproduces and what it simplifies.
 *
 * Registration: this module is imported by `../index.ts` (the registry), so it is evaluated
 * *before* the registry's own body when the registry is loaded first (an import cycle), while the
 * registry's `const REGISTRY` is still uninitialised. It then retries on the next turns until the
 * registry exists; `ensureBaselines()` registers at once when called after loading. (A registry
 * created lazily, e.g. `var` + accessor, would let this register synchronously.)
 */
import type { PlacementPolicy } from '../../policy.js';
import { registerPolicy } from '../index.js';
import { firstFitPolicy } from './first-fit.js';
import { interleavePolicy } from './interleave.js';
import { k8sBestEffortClosestPolicy, k8sBestEffortPolicy, k8sRestrictedPolicy, k8sSingleNumaNodePolicy } from './k8s-topology.js';
import { libxlPolicy } from './libxl.js';
import { novaPackPolicy, novaSpreadPolicy } from './nova.js';
import { numadPolicy } from './numad.js';

/** Every baseline, in registration order. */
export const BASELINE_POLICIES: readonly PlacementPolicy[] = [
  firstFitPolicy,
  interleavePolicy,
  k8sSingleNumaNodePolicy,
  k8sRestrictedPolicy,
  k8sBestEffortPolicy,
  k8sBestEffortClosestPolicy,
  novaPackPolicy,
  novaSpreadPolicy,
  libxlPolicy,
  numadPolicy,
];

let registered = false;
const done = new Set<string>();

/**
 * Registers the baselines if the registry is ready (idempotent); returns whether they are
 * registered. Call it after imports have settled (tests, benchmarks) to be independent of timing.
 */
export function ensureBaselines(): boolean {
  if (registered) return true;
  try {
    for (const p of BASELINE_POLICIES) {
      if (done.has(p.name)) continue;
      registerPolicy(p);
      done.add(p.name);
    }
    registered = true;
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err; // the registry's body has not run yet
  }
  return registered;
}

/** Retries registration until the registry's module body has run (a few turns at most). */
function retry(attempt: number): void {
  if (ensureBaselines() || attempt > 100) return;
  setTimeout(() => retry(attempt + 1), 0);
}

if (!ensureBaselines()) queueMicrotask(() => retry(0));

export { firstFitPolicy, interleavePolicy, k8sBestEffortClosestPolicy, k8sBestEffortPolicy, k8sRestrictedPolicy, k8sSingleNumaNodePolicy, libxlPolicy, novaPackPolicy, novaSpreadPolicy, numadPolicy };
