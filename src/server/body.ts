/**
 * Reading a JSON body defensively: content type, size (enforced while streaming by hono's
 * body-limit middleware, and again here), nesting depth (checked on the text before parsing, so a
 * 100,000-deep array never reaches JSON.parse), and numbers (every number must be finite and a safe
 * integer in magnitude; fields then check their own ranges).
 */
import type { Context } from 'hono';
import { ApiError, ClientAbortError, isClientAbort } from './errors.js';

/** Limits on request bodies. */
export interface BodyLimits {
  /** Bytes for host registration (topology text). */
  hostBytes: number;
  /** Bytes for every other body. */
  bytes: number;
  /** Nesting depth of objects and arrays. */
  depth: number;
}

/** Defaults: 8 MiB of topology (a large host's hwloc XML), 64 KiB otherwise, depth 32. */
export const DEFAULT_LIMITS: BodyLimits = { hostBytes: 8 * 1024 * 1024, bytes: 64 * 1024, depth: 32 };

/** Depth of the deepest object/array in JSON text (strings skipped); stops counting past `max`. */
export function jsonDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92) i++;
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (ch === 125 || ch === 93) depth--;
  }
  return deepest;
}

/** Throws ERR_RANGE naming the first number that is not finite or beyond 2^53. */
export function checkNumbers(value: unknown, path = ''): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      throw new ApiError(400, 'ERR_RANGE', path || null, `number ${String(value)} is out of range (at most 2^53 - 1 in magnitude)`);
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkNumbers(v, `${path}[${i}]`));
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) checkNumbers(v, path === '' ? k : `${path}.${k}`);
  }
}

/** Throws ERR_MEDIA_TYPE unless the Content-Type header says JSON. */
export function checkJsonType(type: string | undefined): void {
  if (!/^application\/json\b/i.test((type ?? '').trim())) {
    throw new ApiError(415, 'ERR_MEDIA_TYPE', null, `send the body as application/json (got "${type || 'nothing'}")`);
  }
}

/** Reads a JSON body's text: content type and size checked, nothing parsed. */
export async function readBodyText(c: Context, maxBytes: number): Promise<string> {
  checkJsonType(c.req.header('content-type'));
  let text: string;
  try {
    text = await c.req.text();
  } catch (err) {
    // The only way reading a body fails is the client going away mid-body (limits are checked apart).
    if (isClientAbort(err) || c.req.raw.signal?.aborted) throw new ClientAbortError();
    throw new ApiError(400, 'ERR_BAD_JSON', null, 'could not read the body');
  }
  checkBodySize(text, maxBytes);
  return text;
}

/** Throws ERR_BODY_TOO_LARGE when the body's text is over `maxBytes` in UTF-8 (bad bytes read as U+FFFD take three). */
export function checkBodySize(text: string, maxBytes: number): void {
  if (Buffer.byteLength(text) > maxBytes) throw new ApiError(413, 'ERR_BODY_TOO_LARGE', null, `body larger than ${maxBytes} bytes`);
}

/** Parses and validates JSON text that must be an object (depth checked before parsing, numbers after). */
export function parseJsonObject(text: string, maxDepth: number): Record<string, unknown> {
  if (jsonDepth(text, maxDepth) > maxDepth) throw new ApiError(400, 'ERR_JSON_DEPTH', null, `JSON nested deeper than ${maxDepth} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'ERR_BAD_JSON', null, `not valid JSON (${(err as Error).message.slice(0, 200)})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(400, 'ERR_BAD_JSON', null, 'the body must be a JSON object');
  }
  checkNumbers(value);
  return value as Record<string, unknown>;
}

/** Reads and validates a JSON object body. */
export async function readJsonObject(c: Context, maxBytes: number, maxDepth: number): Promise<Record<string, unknown>> {
  return parseJsonObject(await readBodyText(c, maxBytes), maxDepth);
}

/** An optional integer query parameter within [min, max]. */
export function queryInt(c: Context, name: string, min: number, max: number, fallback: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,16}$/.test(raw)) throw new ApiError(400, 'ERR_FIELD', name, `expected a whole number, got "${raw.slice(0, 40)}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ApiError(400, 'ERR_RANGE', name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}
