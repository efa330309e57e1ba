/**
 * Starting the service: open the store (migrations run), resolve the token, build the app, listen,
 * and sweep lapsed claims every few seconds. `runService` is what `numaplan serve` calls; tests and
 * benchmarks start it in-process or through `process-main.ts`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, statSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { type Durability, openStore } from '../store/open.js';
import type { FleetStore } from '../store/types.js';
import { createApp, placeFront } from './app.js';
import { type TokenInfo, resolveToken } from './auth.js';
import { registerDemoHosts } from './demo.js';
import { FleetService } from './fleet-service.js';

/** Options of `numaplan serve`. */
export interface ServeOptions {
  data?: string;
  db?: string;
  port?: number;
  host?: string;
  token?: string;
  /** A file holding the token (first line). */
  tokenFile?: string;
  openReads?: boolean;
  demo?: boolean;
  /** Seconds between sweeps of lapsed claims (default 5; 0 = none). */
  sweepSeconds?: number;
  /** When a write is answered (default disk; see Durability). */
  durability?: Durability;
}

/** A running service. */
export interface RunningService {
  url: string;
  token: string;
  tokenGenerated: boolean;
  tokenFile: string | null;
  tokenSource: TokenInfo['source'];
  store: FleetStore;
  service: FleetService;
  demoHosts: string[];
  warnings: string[];
  close(): Promise<void>;
}

/** The default data directory: $XDG_DATA_HOME/numaplan, else ~/.local/share/numaplan. */
export function defaultDataDir(): string {
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg && xdg !== '' ? xdg : join(homedir(), '.local', 'share'), 'numaplan');
}

/** Starts the service and resolves once it listens. */
export async function runService(options: ServeOptions = {}): Promise<RunningService> {
  const dataDir = options.data ?? defaultDataDir();
  const warnings: string[] = [];
  // The data directory holds the database and the token: private to the service's user.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const dirMode = statSync(dataDir).mode & 0o777;
  if ((dirMode & 0o077) !== 0) {
    warnings.push(`the data directory ${dataDir} is readable by other users (mode ${dirMode.toString(8)}); chmod 700 it: it holds the database and the token`);
  }
  const tok = resolveToken(options.token, dataDir, { file: options.tokenFile });
  const store = await openStore(options.db, dataDir, options.durability ? { durability: options.durability } : {});
  const instance = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const service = new FleetService({ store, instance });
  let demoHosts: string[] = [];
  if (options.demo) {
    const d = await registerDemoHosts(service);
    demoHosts = d.hosts;
    warnings.push(...d.warnings);
  }
  const appOptions = { service, token: tok.token, openReads: options.openReads === true };
  const app = createApp(appOptions);
  // Placements take the fast path in front of the app (fast-place.ts); everything else the app.
  const front = placeFront(appOptions);
  const host = options.host ?? '127.0.0.1';
  const listener = getRequestListener(app.fetch, { hostname: host });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer((req, res) => {
      if (!front(req, res)) void listener(req, res);
    });
    s.listen(options.port ?? 8080, host, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const sweepMs = (options.sweepSeconds ?? 5) * 1000;
  let sweeping = false;
  const timer =
    sweepMs > 0
      ? setInterval(() => {
          if (sweeping) return;
          sweeping = true;
          service
            .sweepExpired()
            .catch((err: unknown) => console.error(`numaplan serve: claim sweep failed: ${(err as Error).message}`))
            .finally(() => {
              sweeping = false;
            });
        }, sweepMs)
      : null;
  timer?.unref();
  return {
    url: `http://${shown}:${port}`,
    token: tok.token,
    tokenGenerated: tok.generated,
    tokenFile: tok.file,
    tokenSource: tok.source,
    store,
    service,
    demoHosts,
    warnings,
    close: async () => {
      if (timer) clearInterval(timer);
      // Stop accepting; idle keep-alive connections go now, requests in flight get a moment to finish.
      const closed = new Promise<void>((r) => server.close(() => r()));
      const http = server as unknown as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
      http.closeIdleConnections?.();
      const grace = setTimeout(() => http.closeAllConnections?.(), 2000);
      grace.unref();
      await closed;
      clearTimeout(grace);
      await service.close();
      await store.close();
    },
  };
}
