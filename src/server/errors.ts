/**
 * API errors: `{ error: { code, field, message } }` with a stable code and a 4xx status for
 * anything the client can fix. `toApiError` maps the library's errors (RequestError, TopologyError,
 * StateError, EmitError: all carry an ERR_ code and a path) onto that shape; anything else is the
 * service's own fault (500 ERR_INTERNAL, message withheld).
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** An error the API answers with. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly field: string | null,
    message: string,
    /** More of the answer beside `error` (e.g. the reasons a host update is refused). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The JSON body. */
  body(): { error: { code: string; field: string | null; message: string } } & Record<string, unknown> {
    return { ...this.extra, error: { code: this.code, field: this.field, message: this.message } };
  }
}

const STATE_STATUS: Record<string, [ContentfulStatusCode, string]> = {
  ERR_NAME_TAKEN: [409, 'ERR_NAME_TAKEN'],
  ERR_UNKNOWN_VM: [404, 'ERR_UNKNOWN_VM'],
  ERR_CLAIM_EXPIRED: [409, 'ERR_CLAIM_EXPIRED'],
  ERR_RESERVE: [400, 'ERR_FIELD'],
};

/**
 * Maps any thrown value to an ApiError. `prefix` is prepended to library field paths (e.g. "vm"
 * for errors about the VM request inside the body).
 */
export function toApiError(err: unknown, prefix = ''): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: unknown; path?: unknown; name?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : null;
  if (err instanceof Error && code !== null && code.startsWith('ERR_')) {
    const path = typeof e?.path === 'string' && e.path !== '' ? e.path : null;
    const field = prefix === '' ? path : path === null ? prefix : `${prefix}.${path}`;
    const message = stripPath(err.message, typeof e?.path === 'string' ? e.path : '');
    const mapped = STATE_STATUS[code];
    if (mapped) return new ApiError(mapped[0], mapped[1], field, message);
    if (err.name === 'TopologyError') return new ApiError(400, 'ERR_TOPOLOGY', field, message);
    if (err.name === 'EmitError') return new ApiError(400, 'ERR_EMIT', field, message);
    if (code === 'ERR_REQUEST') return new ApiError(400, 'ERR_REQUEST', field, message);
    return new ApiError(400, 'ERR_FIELD', field, message);
  }
  return new ApiError(500, 'ERR_INTERNAL', null, 'internal error (logged by the service)');
}

/** The answer to an error a route threw (toApiError); an internal one is logged with its stack, not told. */
export function errorAnswer(err: unknown, method: string, path: string, log: (message: string) => void): ApiError {
  const api = toApiError(err);
  if (api.status === 500) log(`numaplan serve: internal error on ${method} ${path}: ${(err as Error).stack ?? String(err)}`);
  return api;
}

function stripPath(message: string, path: string): string {
  return path !== '' && message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
}

/** The client went away before its request was read: not the client's fault to answer, nor the service's. */
export class ClientAbortError extends Error {
  constructor() {
    super('the client closed the connection before its request was read');
    this.name = 'ClientAbortError';
  }
}

/** True for what reading from a connection the client closed throws (Node's "aborted", ECONNRESET, AbortError). */
export function isClientAbort(err: unknown): boolean {
  if (err instanceof ClientAbortError) return true;
  const e = err as { code?: unknown; message?: unknown; name?: unknown } | null;
  return e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted' || e?.name === 'AbortError';
}
