/**
 * The peers' baseline policies. The registry (`../index.ts`) imports this list and registers every
 * entry, so `place(..., 'NAME')`, `numaplan place --policy NAME` and the contract suite see them.
 * Each file names the peer behaviour it reproduces and what it simplifies.
 */
import type { PlacementPolicy } from '../../policy.js';
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

export { firstFitPolicy, interleavePolicy, k8sBestEffortClosestPolicy, k8sBestEffortPolicy, k8sRestrictedPolicy, k8sSingleNumaNodePolicy, libxlPolicy, novaPackPolicy, novaSpreadPolicy, numadPolicy };
