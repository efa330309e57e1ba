/**
 * The fleet service in process for a test file: a SQLite store in a fresh folder, the service and its
 * HTTP app, opened before the file's (or describe block's) tests and closed after them, and `call`, a
 * JSON request through hono's app.request with the write token (`callApp`: the same to another app).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createApp } from '../../src/server/app.js';
import { FleetService, type FleetServiceOptions } from '../../src/server/fleet-service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { FleetStore } from '../../src/store/types.js';

/** An answer: its status, its body parsed as JSON (null when it is not JSON), and its text. */
export interface ApiReply {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

/** A request to `app` with `body` as JSON (a string is sent as it is) and `token` as the bearer token (null: none). */
export async function callApp(app: ReturnType<typeof createApp>, method: string, path: string, body: unknown, token: string | null): Promise<ApiReply> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** The service a test file talks to; its fields are set once `beforeAll` has run. */
export interface ServiceUnderTest {
  dir: string;
  store: FleetStore;
  service: FleetService;
  app: ReturnType<typeof createApp>;
  /** A request with `body` as JSON (a string is sent as it is) and the write token (null: none). */
  call(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiReply>;
}

/** Opens the service before the tests of the enclosing file or describe block and closes it after them. */
export function useService(name: string, token: string, options: Omit<FleetServiceOptions, 'store' | 'instance'> = {}): ServiceUnderTest {
  const t = {
    dir: '',
    call(method: string, path: string, body?: unknown, tok: string | null = token): Promise<ApiReply> {
      return callApp(t.app, method, path, body, tok);
    },
  } as ServiceUnderTest;
  beforeAll(async () => {
    t.dir = mkdtempSync(join(tmpdir(), `numaplan-${name}-`));
    t.store = await openSqliteStore(join(t.dir, 'fleet.db'));
    t.service = new FleetService({ ...options, store: t.store, instance: name });
    t.app = createApp({ service: t.service, token, web: false });
  });
  afterAll(async () => {
    await t.service?.close();
    await t.store?.close();
    if (t.dir) rmSync(t.dir, { recursive: true, force: true });
  });
  return t;
}
