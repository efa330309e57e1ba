/**
 * The policy registry: numaplan's engine plus the peers' baselines (src/core/placement/policies/
 * baselines/). Names are unique; `listPolicies` is sorted with numaplan first. `registerPolicy` adds
 * a policy at run time (e.g. an experiment in a test).
 */
import { RequestError } from '../request.js';
import type { PlacementPolicy } from '../policy.js';
import { numaplanPolicy } from './numaplan.js';
import { BASELINE_POLICIES } from './baselines/index.js';

const REGISTRY = new Map<string, PlacementPolicy>([numaplanPolicy, ...BASELINE_POLICIES].map((p) => [p.name, p]));

/** Adds a policy (throws on a duplicate name). Returns it, for `export const x = registerPolicy(...)`. */
export function registerPolicy(policy: PlacementPolicy): PlacementPolicy {
  if (REGISTRY.has(policy.name)) throw new Error(`policy "${policy.name}" is registered twice`);
  REGISTRY.set(policy.name, policy);
  return policy;
}

/** The default policy's name. */
export const DEFAULT_POLICY = 'numaplan';

/** Looks a policy up; throws RequestError (ERR_REQUEST, field "policy") for an unknown name. */
export function getPolicy(name: string = DEFAULT_POLICY): PlacementPolicy {
  const p = REGISTRY.get(name);
  if (!p) throw new RequestError('policy', `unknown policy "${name}" (known: ${policyNames().join(', ')})`);
  return p;
}

/** Registered names: numaplan first, then alphabetical. */
export function policyNames(): string[] {
  return [...REGISTRY.keys()].sort((a, b) => (a === DEFAULT_POLICY ? -1 : b === DEFAULT_POLICY ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

/** All registered policies in `policyNames` order. */
export function listPolicies(): PlacementPolicy[] {
  return policyNames().map((n) => REGISTRY.get(n) as PlacementPolicy);
}

export { numaplanPolicy };
