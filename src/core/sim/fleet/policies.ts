/**
 * Fleet-mode policies: a placement policy of the kernel's registry and a host selection, decided by
 * the kernel's fleet (`core/fleet`), the same code the service decides with. The simulator adds no
 * placement logic of its own.
 *
 * - Every policy of the registry under its own name, with the fleet's ranking: the hosts the index
 *   finds best fit first, the policy decides on each until four succeed, the lowest rank key wins
 *   (predicted latency ratio, nodes, non-local devices, the policy's score).
 * - `host-first-fit`: the lowest host id where the `first-fit` policy places the VM (lowest node,
 *   else the lowest window of consecutive nodes), as a scheduler that fills hosts in order does.
 * - `host-best-fit`: the first host in best-fit order (its tightest node) where `first-fit` places
 *   the VM.
 * Both host-level baselines honour every constraint of the request (`numa=strict` keeps a VM on one
 * node), since the kernel decides for them.
 */
import type { HostSelection } from '../../fleet/fleet.js';
import { getPolicy, policyNames } from '../../placement/policies/index.js';
import type { PlacementPolicy } from '../../placement/policy.js';

/** A fleet policy: which placement policy decides on each host, and how the host is selected. */
export interface FleetPolicy {
  readonly name: string;
  readonly description: string;
  readonly policy: PlacementPolicy;
  readonly select: HostSelection;
}

/** Host-level policy names. */
export const HOST_POLICIES: readonly string[] = ['host-first-fit', 'host-best-fit'];

/** Every fleet policy name: the registry's, then the host-level ones. */
export function fleetPolicyNames(): string[] {
  return [...policyNames(), ...HOST_POLICIES];
}

/** A fleet policy by name, or undefined. */
export function fleetPolicy(name: string): FleetPolicy | undefined {
  if (name === 'host-first-fit') {
    return { name, description: 'lowest host id where first-fit places the VM (lowest node that holds it)', policy: getPolicy('first-fit'), select: 'first' };
  }
  if (name === 'host-best-fit') {
    return { name, description: 'first host in best-fit order (tightest node) where first-fit places the VM', policy: getPolicy('first-fit'), select: 'best-fit' };
  }
  if (!policyNames().includes(name)) return undefined;
  const policy = getPolicy(name);
  return { name, description: `${policy.description} (host: the fleet's ranking of the best-fit candidates)`, policy, select: 'rank' };
}
