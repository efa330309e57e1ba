/**
 * Placing one or several VMs on a host state and recording them: the library calls behind
 * `numaplan place`, `explain` and `release`. Several VMs go through one ledger, each decided on the
 * capacity the previous ones left (the ledger rebuilds only the nodes a VM touched).
 */
import { decide, placeWith, resultOf } from './decide.js';
import { HostLedger } from './ledger.js';
import { type PlaceOptions } from './policy.js';
import { getPolicy } from './policies/index.js';
import type { VmRequest } from './request.js';
import { type HostState, allocationOf } from './state.js';
import type { Placement, PlacementResult, RefusalReason } from './types.js';

/** Places one VM with a policy (default numaplan). The state is not changed. */
export function place(request: VmRequest, state: HostState, policy?: string, options: PlaceOptions = {}): PlacementResult {
  return placeWith(getPolicy(policy), request, state, options);
}

/**
 * A last check of a placement before it is accepted (e.g. that the target it will be emitted for can
 * express it): null accepts, a reason refuses the VM as if it did not fit.
 */
export type AcceptPlacement = (placement: Placement) => { reason: RefusalReason; hints: string[] } | null;

/** Result of placing several VMs in order. */
export interface PlaceManyResult {
  /** The VMs placed, in request order, up to the first refusal. */
  placements: Placement[];
  /** The first refusal, if any, and which request it was. */
  refusal: (Extract<PlacementResult, { ok: false }> & { name: string; index: number }) | null;
  /** The state with every placed VM recorded (committed, or claimed when `claimUntil` is given). */
  state: HostState;
}

/**
 * Places VMs in order, each seeing the ones before it. Stops at the first refusal: the VMs placed
 * before it stay recorded in the returned state (the CLI writes that state back).
 */
export function placeMany(
  requests: readonly VmRequest[],
  state: HostState,
  policy?: string,
  options: PlaceOptions & { claimUntil?: number; accept?: AcceptPlacement } = {},
): PlaceManyResult {
  const p = getPolicy(policy);
  const ledger = HostLedger.of(state);
  const placements: Placement[] = [];
  for (const [index, r] of requests.entries()) {
    let result = resultOf(decide(p, r, ledger, { detail: true }), options);
    if (result.ok && options.accept) {
      const refused = options.accept(result.placement);
      if (refused) result = { ok: false, reasons: [refused.reason], hints: refused.hints };
    }
    if (!result.ok) return { placements, refusal: { ...result, name: r.name, index }, state: ledger.state };
    placements.push(result.placement);
    const claimed = options.claimUntil !== undefined;
    ledger.add(allocationOf(result.placement, r, claimed ? 'claimed' : 'committed', claimed ? (options.claimUntil as number) : null));
  }
  return { placements, refusal: null, state: placements.length === 0 ? state : ledger.state };
}
