/**
 * The peers' baseline policies, registered with the policy registry so that `place(..., 'NAME')`,
 * `numaplan place --policy NAME` and the contract suite see them. Each file names the peer
 * behaviour it reproduces and what it simplifies.
 *
 * Registration: this module is imported by `../index.ts` (the registry), so it is evaluated
 * *before* the registry's own body when the registry is loaded first (an import cycle). It then
 * registers on the next microtask, once the registry exists; when it is loaded first itself, it
 * registers at once.
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
function registerAll(): void {
  if (registered) return;
  for (const p of BASELINE_POLICIES) registerPolicy(p);
  registered = true;
}

/** Registers the baselines now if the registry is ready (idempotent); returns whether they are registered. */
export function ensureBaselines(): boolean {
  try {
    registerAll();
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
  }
  return registered;
}

if (!ensureBaselines()) queueMicrotask(registerAll);

export { firstFitPolicy, interleavePolicy, k8sBestEffortClosestPolicy, k8sBestEffortPolicy, k8sRestrictedPolicy, k8sSingleNumaNodePolicy, libxlPolicy, novaPackPolicy, novaSpreadPolicy, numadPolicy };
