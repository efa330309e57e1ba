/**
 * The HTTP API (hono): thin routes over FleetService. Every route answers JSON; errors are
 * `{ error: { code, field, message } }` (see errors.ts), bad input is always 4xx. Writes need the
 * bearer token, reads too unless `openReads`. The web page is mounted by `serveWeb` (src/web).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { serveWeb } from '../web/serve.js';
import { checkBearer } from './auth.js';
import { type BodyLimits, DEFAULT_LIMITS, queryInt, readBodyText, readJsonObject } from './body.js';
import { ApiError, errorAnswer, isClientAbort } from './errors.js';
import { fastPlace } from './fast-place.js';
import type { FleetService } from './fleet-service.js';
import { OPENAPI_DOCUMENT } from './openapi.js';

/** Options of the app. */
export interface AppOptions {
  service: FleetService;
  token: string;
  /** Let GET requests through without the token. */
  openReads?: boolean;
  limits?: Partial<BodyLimits>;
  /** Where internal errors are reported (default console.error). */
  log?: (message: string) => void;
  /** Mount the web page (default true). */
  web?: boolean;
}

/** The body limits and the error log the options give (defaults filled in). */
function resolved(options: AppOptions): { limits: BodyLimits; log: (message: string) => void } {
  return { limits: { ...DEFAULT_LIMITS, ...options.limits }, log: options.log ?? ((m: string) => console.error(m)) };
}

/**
 * The front of the app's Node request listener: takes the placements it can answer on Node's own
 * request (fast-place.ts), with the app's token, limits and log; the rest goes to the app.
 */
export function placeFront(options: AppOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return fastPlace({ service: options.service, token: options.token, ...resolved(options) });
}

/** Builds the app. */
export function createApp(options: AppOptions): Hono {
  const { service } = options;
  const { limits, log } = resolved(options);
  const app = new Hono();

  // Requests whose client went away mid-body: counted as aborts, not as answers.
  const aborted = new WeakSet<Request>();
  app.onError((err, c) => {
    if (isClientAbort(err) || c.req.raw.signal?.aborted) {
      aborted.add(c.req.raw);
      return new Response(null, { status: 499 });
    }
    const api = errorAnswer(err, c.req.method, c.req.path, log);
    return c.json(api.body(), api.status);
  });
  app.notFound((c) => c.json(new ApiError(404, 'ERR_NOT_FOUND', null, `no route ${c.req.method} ${c.req.path}`).body(), 404));

  app.use('*', async (c, next) => {
    await next();
    if (aborted.has(c.req.raw)) service.metrics.clientAbort();
    else service.metrics.request(c.res.status);
  });

  app.use('/api/*', async (c, next) => {
    const read = c.req.method === 'GET' || c.req.method === 'HEAD';
    if (!(read && options.openReads)) checkBearer(c.req.header('authorization'), options.token);
    await next();
  });
  app.use('/metrics', async (c, next) => {
    if (!options.openReads) checkBearer(c.req.header('authorization'), options.token);
    await next();
  });
  // The rest of the body is not read: close the connection so that no client reuses it.
  // An optional JSON body: none at all (no content type, nothing sent) is every setting's default.
  const optionalBody = async (c: Context): Promise<Record<string, unknown>> =>
    c.req.header('content-type') === undefined && (await c.req.text()) === '' ? {} : readJsonObject(c, limits.bytes, limits.depth);
  const tooLarge = (c: Context): Response => {
    c.header('connection', 'close');
    return c.json(new ApiError(413, 'ERR_BODY_TOO_LARGE', null, 'body too large').body(), 413);
  };
  // A body with a Content-Length is judged by it (Node's parser reads no more than it says), and read
  // on the adapter's fast path; a chunked body is counted while it streams (hono's body limit).
  const limit = (maxSize: number): MiddlewareHandler => {
    const streamed = bodyLimit({ maxSize, onError: tooLarge });
    return async (c, next) => {
      const length = c.req.header('content-length');
      if (length === undefined || c.req.header('transfer-encoding') !== undefined) return streamed(c, next);
      if (!/^\d{1,15}$/.test(length.trim()) || Number(length) > maxSize) return tooLarge(c);
      await next();
    };
  };
  app.use('/api/v1/hosts/*', limit(limits.hostBytes));
  app.use('/api/v1/vms', limit(limits.bytes));
  app.use('/api/v1/vms/*', limit(limits.bytes));
  app.use('/api/v1/explain', limit(limits.bytes));
  app.use('/api/v1/plans/*', limit(limits.bytes));

  app.get('/health', (c) => c.json({ ok: true, store: service.store.kind, durability: service.store.durability, instance: service.instance }));
  app.get('/openapi.json', (c) => c.json(OPENAPI_DOCUMENT));
  app.get('/metrics', async (c) => {
    const text = service.metrics.render(await service.gauges());
    return c.text(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  app.get('/api/v1/summary', async (c) => c.json(await service.summary()));
  app.get('/api/v1/policies', (c) => c.json({ policies: service.policies() }));
  app.get('/api/v1/events', async (c) => {
    const afterRaw = c.req.query('after');
    const after = afterRaw === undefined ? undefined : queryInt(c, 'after', 0, Number.MAX_SAFE_INTEGER, 0);
    return c.json({ events: await service.events(after, queryInt(c, 'limit', 1, 10_000, 100)) });
  });

  app.get('/api/v1/hosts', async (c) => {
    const limit = queryInt(c, 'limit', 1, 10_000, 1000);
    const after = c.req.query('after');
    if (after !== undefined && after.length > 128) throw new ApiError(400, 'ERR_FIELD', 'after', 'too long');
    const rows = await service.store.listHosts({ ...(after !== undefined ? { after } : {}), limit });
    const hosts = rows.map((r) => ({
      name: r.name,
      source: r.source,
      generation: r.generation,
      nodes: r.nodes,
      cpus: { total: r.totalCpus, free: r.freeCpus },
      memory: { total: r.totalMemory, free: r.freeMemory },
      vms: r.vms,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    }));
    return c.json({ hosts, next: rows.length === limit ? (rows[rows.length - 1]?.name ?? null) : null });
  });
  app.get('/api/v1/hosts/:host', async (c) => c.json(await service.hostDetail(c.req.param('host'))));
  app.put('/api/v1/hosts/:host', async (c) => {
    // Parsed (and its topology read) in the service's worker thread, not here.
    const text = await readBodyText(c, limits.hostBytes);
    const r = await service.registerHost(c.req.param('host'), text, { accept: c.req.query('accept') });
    return c.json({ created: r.created, changed: r.changed, host: r.row, displaced: r.displaced, restored: r.restored }, r.created ? 201 : 200);
  });
  app.post('/api/v1/hosts/:host/rebalance', async (c) => {
    // The body is optional: none at all (no content type, nothing sent) is every setting's default.
    return c.json(await service.rebalance(c.req.param('host'), await optionalBody(c)));
  });
  // Rebalancing plans kept as resources (plans.ts): made, read, applied a step at a time, steps reported done, cancelled.
  app.post('/api/v1/hosts/:host/plans', async (c) => c.json(await service.createPlan(c.req.param('host'), await optionalBody(c)), 201));
  app.get('/api/v1/plans', async (c) => c.json({ plans: await service.listPlans(c.req.query('host'), queryInt(c, 'limit', 1, 1000, 100)) }));
  app.get('/api/v1/plans/:plan', async (c) => c.json(await service.plan(c.req.param('plan'))));
  app.post('/api/v1/plans/:plan/apply', async (c) => c.json(await service.applyPlanStep(c.req.param('plan'), await optionalBody(c))));
  app.post('/api/v1/plans/:plan/steps/:step/done', async (c) => c.json(await service.finishPlanStep(c.req.param('plan'), c.req.param('step'))));
  app.post('/api/v1/plans/:plan/cancel', async (c) => c.json(await service.cancelPlan(c.req.param('plan'))));
  app.delete('/api/v1/hosts/:host', async (c) => {
    await service.removeHost(c.req.param('host'));
    return c.json({ ok: true, removed: c.req.param('host') });
  });

  app.get('/api/v1/vms', async (c) => {
    const host = c.req.query('host');
    const displaced = c.req.query('displaced');
    if (displaced !== undefined && displaced !== 'true' && displaced !== 'false') throw new ApiError(400, 'ERR_FIELD', 'displaced', 'expected true or false');
    return c.json({ vms: await service.listVms(host, queryInt(c, 'limit', 1, 10_000, 1000), displaced === 'true') });
  });
  app.post('/api/v1/vms', async (c) => {
    const body = await readJsonObject(c, limits.bytes, limits.depth);
    const r = await service.placeAnswer(body);
    return c.body(r.json, r.value.ok === true ? 201 : 200, { 'content-type': 'application/json' });
  });
  app.get('/api/v1/vms/:vm', async (c) => c.json(await service.vm(c.req.param('vm'))));
  app.delete('/api/v1/vms/:vm', async (c) => c.json(await service.release(c.req.param('vm'))));
  app.post('/api/v1/vms/:vm/commit', async (c) => c.json(await service.commit(c.req.param('vm'))));
  app.get('/api/v1/vms/:vm/emit', async (c) => c.json(await service.emit(c.req.param('vm'), c.req.query('format'), c.req.query('mode'))));
  app.post('/api/v1/explain', async (c) => {
    const body = await readJsonObject(c, limits.bytes, limits.depth);
    return c.json(await service.explain(body));
  });
  app.all('/api/*', (c) => c.json(new ApiError(405, 'ERR_METHOD', null, `${c.req.method} is not supported on ${c.req.path}`).body(), 405));

  if (options.web !== false) serveWeb(app);
  return app;
}
