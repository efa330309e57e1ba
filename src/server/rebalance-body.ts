/**
 * `POST /api/v1/hosts/{host}/rebalance`: the body (every field optional, the same settings as
 * `numaplan rebalance`'s options and with the same defaults), as a zod schema; its JSON Schema is
 * the OpenAPI document's `RebalanceRequest`. The answer is the planner's plan (`numaplan.plan/v1`,
 * what `numaplan rebalance --json` prints and `apply-plan` reads) for the host's VMs as the service
 * holds them: a dry run, nothing is changed or recorded.
 */
import { z } from 'zod';
import { RequestError } from '../core/placement/request.js';
import { type PlanOptions, parseDuration, parseRate } from '../core/rebalance/index.js';
import { parseSize } from '../core/topology/sizes.js';
import { ApiError } from './errors.js';

const duration = z.union([z.string().max(32), z.number().int().min(0)]).describe('a duration: "30s", "10m", "1h", or milliseconds');

/** The body. */
export const RebalanceRequestSchema = z
  .strictObject({
    cooldown: duration.optional().describe('a VM moved within this long is not moved again (default 10m)'),
    rate: z.union([z.string().max(32), z.number().positive()]).optional().describe('memory migration rate: "1G/s", "500M/s", or bytes per second (default 1G/s)'),
    threshold: z.number().min(0).optional().describe("a move's gain must be at least this many times its cost (default 4)"),
    minGain: z.number().min(0).optional().describe('smallest improvement of relative latency a move may claim (default 0.02)'),
    horizon: duration.optional().describe('how long a latency gain is counted for (default 10m; more than 0)'),
    maxBytes: z.union([z.string().max(32), z.number().int().min(0)]).optional().describe('bytes one plan may migrate: "64G" or bytes (default 64G)'),
    maxMoves: z.number().int().min(0).max(1024).optional().describe('steps one plan may hold (default 32)'),
    now: z.number().int().min(0).optional().describe("the time of planning (ms since the epoch) as the cool-down reads it (default: the service's clock)"),
    waiting: z
      .array(z.unknown())
      .max(64)
      .optional()
      .describe('VMs waiting for room (VmRequest objects or compact strings): a move that makes one fit counts as much as one VM going from x2 to x1 latency'),
  })
  .describe('settings of the rebalancing planner; every field is optional');

/** A body read with a zod schema; the first problem is a 400 naming its field (an unknown key names itself). */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : issue?.code === 'unrecognized_keys' ? String((issue as { keys?: string[] }).keys?.[0] ?? '') || null : null;
  throw new ApiError(400, 'ERR_FIELD', field, issue?.message ?? 'invalid body');
}

/** The JSON Schema of the body (for the OpenAPI document). */
export function rebalanceRequestJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(RebalanceRequestSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

/** The body as planner options, and the waiting requests (still raw); errors name the field (400). */
export function readRebalanceBody(body: unknown, serviceNow: number): { options: Partial<PlanOptions>; waiting: unknown[] } {
  const b = parseBody(RebalanceRequestSchema, body);
  const ms = (field: string, v: string | number | undefined): number | undefined => {
    if (v === undefined || typeof v === 'number') return v;
    const d = parseDuration(v);
    if (d === null) throw new ApiError(400, 'ERR_FIELD', field, `expected a duration like 30s, 10m or 1h, got "${v}"`);
    return d;
  };
  const options: Partial<PlanOptions> = { now: b.now ?? serviceNow };
  const cooldown = ms('cooldown', b.cooldown);
  if (cooldown !== undefined) options.cooldownMs = cooldown;
  const horizon = ms('horizon', b.horizon);
  if (horizon !== undefined) {
    if (horizon <= 0) throw new ApiError(400, 'ERR_FIELD', 'horizon', 'must be longer than 0');
    options.horizonSec = horizon / 1000;
  }
  if (b.rate !== undefined) {
    const rate = typeof b.rate === 'number' ? b.rate : parseRate(b.rate);
    if (rate === null) throw new ApiError(400, 'ERR_FIELD', 'rate', `expected a rate like 1G/s or 500M/s, got "${b.rate}"`);
    options.rateBytesPerSec = rate;
  }
  if (b.maxBytes !== undefined) {
    try {
      options.maxBytes = typeof b.maxBytes === 'number' ? b.maxBytes : parseSize(b.maxBytes);
    } catch (err) {
      throw new ApiError(400, 'ERR_FIELD', 'maxBytes', err instanceof RequestError || err instanceof Error ? err.message : 'expected a size');
    }
  }
  if (b.threshold !== undefined) options.threshold = b.threshold;
  if (b.minGain !== undefined) options.minGain = b.minGain;
  if (b.maxMoves !== undefined) options.maxMoves = b.maxMoves;
  return { options, waiting: b.waiting ?? [] };
}
