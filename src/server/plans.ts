/**
 * Rebalancing plans as resources of the service: the bodies of their routes, their JSON view, and
 * the placement document of a VM a step moved.
 *
 * A plan is made by the planner of `numaplan rebalance` for a host as the service holds it, stored
 * (`proposed`), read and reviewed, then applied one step at a time: each step is checked against the
 * host as it is then (`applyMove`: the VMs still hold what the plan saw, the target breaks nothing)
 * and committed as one change of the host under its generation, as a placement is, so no placement
 * can race it; the part of the host the move frees is held by a claim until the step is reported
 * done on the host (or the claim lapses: see core/rebalance/hold.ts). A step refused makes the plan
 * `stale` (plan again); `cancelled` ends it; after its last step it is `applied`.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { assignmentOf, decide, detailed, ledgerOf } from '../core/placement/decide.js';
import { buildPlacement } from '../core/placement/explain.js';
import type { HostLedger } from '../core/placement/ledger.js';
import { getPolicy } from '../core/placement/policies/index.js';
import type { VmRequest } from '../core/placement/request.js';
import type { Allocation } from '../core/placement/state.js';
import type { Placement } from '../core/placement/types.js';
import { type Move, type Plan, moveCommands } from '../core/rebalance/index.js';
import type { PlanRecord } from '../store/types.js';
import { ApiError } from './errors.js';
import { parseBody } from './rebalance-body.js';

/** Plan ids: "p" and 12 hex digits. */
const PLAN_ID = /^p[0-9a-f]{12}$/;

/** A new plan id. */
export function newPlanId(): string {
  return `p${randomBytes(6).toString('hex')}`;
}

/** Checks a plan id from a URL (400 naming `plan`). */
export function checkPlanId(id: string): void {
  if (!PLAN_ID.test(id)) throw new ApiError(400, 'ERR_FIELD', 'plan', 'expected a plan id ("p" and 12 hex digits)');
}

/** The name of the claim holding what step `step` of plan `id` frees. */
export function holdName(id: string, step: number): string {
  return `hold-${id}-${step}`;
}

/** Longest a hold may last (s). */
export const MAX_HOLD_SECONDS = 86_400;
/** A hold lasts the step's estimated time plus this (s) unless the body says otherwise. */
export const HOLD_MARGIN_SECONDS = 60;

/** The body of `POST /api/v1/plans/{id}/apply`. */
export const ApplyStepSchema = z
  .strictObject({
    step: z.number().int().min(1).optional().describe('the step the caller means to apply: refused (409) unless it is the next one (guards against applying a step twice)'),
    holdSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_HOLD_SECONDS)
      .optional()
      .describe(`how long what the move frees stays held for it (default: the step's estimated time plus ${HOLD_MARGIN_SECONDS} s; 0: not held)`),
  })
  .describe('applies the next step of a plan; every field is optional');

/** The JSON Schema of the apply body (for the OpenAPI document). */
export function applyStepJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(ApplyStepSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

/** The apply body, read: errors name the field (400). */
export function readApplyBody(body: unknown): { step: number | null; holdSeconds: number | null } {
  const b = parseBody(ApplyStepSchema, body);
  return { step: b.step ?? null, holdSeconds: b.holdSeconds ?? null };
}

/** How long a step's hold lasts by default (s). */
export function defaultHoldSeconds(move: Move): number {
  return Math.min(MAX_HOLD_SECONDS, Math.ceil(move.cost.seconds) + HOLD_MARGIN_SECONDS);
}

/** A plan as the API shows it: its record, the plan, and the next step with the host commands that carry it out. */
export function planView(rec: PlanRecord): Record<string, unknown> {
  const plan = rec.document as Plan;
  const next = plan.moves[rec.nextStep - 1];
  const live = rec.status === 'proposed' || rec.status === 'applying';
  return {
    id: rec.id,
    host: rec.host,
    status: rec.status,
    version: rec.version,
    steps: plan.moves.length,
    nextStep: live && next ? rec.nextStep : null,
    next: live && next ? { step: next.step, kind: next.kind, reason: next.reason, vms: next.vms.map((v) => v.vm), commands: moveCommands(next) } : null,
    progress: rec.progress,
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    plan,
  };
}

function spot(a: Pick<Allocation, 'cpus' | 'heldCpus' | 'emulatorCpus' | 'memory' | 'devices'>): string {
  const mem = [...a.memory].sort((p, q) => p.node - q.node || p.pageSize - q.pageSize).map((m) => `${m.node}:${m.pageSize}:${m.bytes}`);
  return `${a.cpus.join(',')}|${a.heldCpus.join(',')}|${a.emulatorCpus.join(',')}|${a.devices.join(',')}|${mem.join(',')}`;
}

/**
 * The placement document of a VM after a move (what `emit` builds the VM's configuration from): the
 * kernel's decision for the VM's own request pinned to where the step put it (its CPUs and nodes as
 * escape hatches, its page size), made on `ledger` (the host after the step, without the VM). When
 * that decision lands anywhere else (its memory split can), the moved resources are written over it,
 * so the document never disagrees with the allocation.
 */
export function movedPlacement(ledger: HostLedger, after: Allocation, plan: string, step: number): Placement {
  const pageSize = after.memory[0]?.pageSize ?? 4096;
  const { maxNodes: _bound, ...asked } = after.request;
  const request: VmRequest = { ...asked, cpus: [...after.cpus], nodes: [...after.nodes], pageSize };
  let d = decide(getPolicy(after.policy), request, ledger);
  if (!d.ok) {
    // Pinned to explicit CPUs, the kernel splits the VM's memory over the nodes in proportion to its
    // vCPUs there, while the plan's target is the kernel's own choice, whose memory follows what each
    // node had free: on a node short of memory the split can ask for more than the step put there
    // and be refused, though the step fits (applyMove judged its memory as the step lays it out, with
    // every other VM). So the document is then decided with the other VMs' memory left out (their
    // CPUs and devices still count), and the step's memory is written over it below.
    const { allocations, ...rest } = ledger.state;
    d = decide(getPolicy(after.policy), request, ledgerOf({ ...rest, allocations: allocations.map((a) => ({ ...a, memory: [] })) }));
  }
  let placement: Placement;
  if (d.ok) {
    const full = detailed(d);
    placement = buildPlacement(full, assignmentOf(full), {});
  } else {
    throw new Error(`internal: ${after.name} does not fit where step ${step} of plan ${plan} put it: ${d.reasons().map((r) => r.detail).join('; ')}`);
  }
  const memoryByNode: Record<string, number> = {};
  for (const m of after.memory) memoryByNode[String(m.node)] = (memoryByNode[String(m.node)] ?? 0) + m.bytes;
  const same = spot({ ...placement, devices: placement.devices.map((x) => x.address) }) === spot(after);
  const fixed: Placement = same
    ? placement
    : { ...placement, cpus: [...after.cpus], heldCpus: [...after.heldCpus], emulatorCpus: [...after.emulatorCpus], memory: after.memory.map((m) => ({ ...m })), memoryByNode, nodes: [...after.nodes] };
  return {
    ...fixed,
    explanation: { ...fixed.explanation, summary: `moved by step ${step} of rebalancing plan ${plan}: ${fixed.explanation.summary}` },
  };
}
