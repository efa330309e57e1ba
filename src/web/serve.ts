/**
 * Mounts the fleet page on the service's hono app: `serveWeb(app)`.
 *
 * Routes (all open, GET only; the page calls the API with the bearer token itself):
 * - `/` and `/index.html`: the page (static/index-html.ts);
 * - `/web/style.css`: the stylesheet (static/style-css.ts);
 * - `/web/client/*.js`, `/web/draw/*.js`: the client, compiled by `npm run build` (tsc, rootDir src)
 *   from src/web/client and src/web/draw into dist/web/.
 *
 * Where the assets come from: HTML and CSS are embedded as TypeScript string modules, so nothing has
 * to be copied next to the build output. The scripts are read from the compiled web directory: the
 * directory of this module when it runs from dist/web, else (running from src/ under tsx or vitest)
 * dist/web of the same checkout. Without a build the scripts answer 503 with that advice. Script
 * names are checked against a strict pattern, so no other file can be read through these routes.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Env, Hono } from 'hono';
import { INDEX_HTML } from './static/index-html.js';
import { STYLE_CSS } from './static/style-css.js';

/** Script directories the page loads from. */
const SCRIPT_DIRS = new Set(['client', 'draw']);
const SCRIPT_NAME = /^[a-z0-9][a-z0-9-]*\.js$/;

/** Content Security Policy of the page: nothing from outside the service; inline style attributes only. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The directory holding the compiled client (client/ and draw/), or null when there is none. */
export function compiledWebDir(moduleUrl: string = import.meta.url): string | null {
  const here = dirname(fileURLToPath(moduleUrl));
  const candidates = [here, resolve(here, '../../dist/web')];
  for (const dir of candidates) if (existsSync(join(dir, 'client', 'main.js'))) return dir;
  return null;
}

function page(c: Context, body: string, type: string): Response {
  c.header('content-type', type);
  c.header('content-security-policy', PAGE_CSP);
  c.header('x-content-type-options', 'nosniff');
  c.header('referrer-policy', 'no-referrer');
  c.header('cache-control', 'no-cache');
  return c.body(body);
}

/** Mounts the page and its assets on `app`. */
export function serveWeb<E extends Env>(app: Hono<E>, options: { webDir?: string | null } = {}): void {
  const webDir = options.webDir === undefined ? compiledWebDir() : options.webDir;
  const cache = new Map<string, string>();
  app.get('/', (c) => page(c, INDEX_HTML, 'text/html; charset=utf-8'));
  app.get('/index.html', (c) => page(c, INDEX_HTML, 'text/html; charset=utf-8'));
  app.get('/web/style.css', (c) => page(c, STYLE_CSS, 'text/css; charset=utf-8'));
  app.get('/web/:dir/:file', async (c) => {
    const dir = c.req.param('dir');
    const file = c.req.param('file');
    if (!SCRIPT_DIRS.has(dir) || !SCRIPT_NAME.test(file)) {
      return c.json({ error: { code: 'ERR_NOT_FOUND', field: null, message: `no page asset /web/${dir}/${file}` } }, 404);
    }
    if (webDir === null) {
      return c.json({ error: { code: 'ERR_NOT_BUILT', field: null, message: 'the page scripts are not built: run `npm run build`' } }, 503);
    }
    const key = `${dir}/${file}`;
    let text = cache.get(key);
    if (text === undefined) {
      try {
        text = await readFile(join(webDir, dir, file), 'utf8');
      } catch {
        return c.json({ error: { code: 'ERR_NOT_FOUND', field: null, message: `no page asset /web/${key}` } }, 404);
      }
      cache.set(key, text);
    }
    return page(c, text, 'text/javascript; charset=utf-8');
  });
}
