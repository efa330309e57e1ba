/**
 * `numaplan serve`: the fleet service (HTTP API, web page, metrics) on SQLite under a data directory
 * by default, or PostgreSQL. Prints the URL and the token, then runs until SIGINT/SIGTERM.
 */
import type { Command } from 'commander';
import { runService } from '../../server/start.js';
import type { Io } from '../io.js';

interface ServeCli {
  data?: string;
  db?: string;
  port: string;
  host: string;
  token?: string;
  openReads?: boolean;
  demo?: boolean;
  json?: boolean;
}

function port(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    const e = new Error(`--port: expected 0..65535, got "${value}"`) as Error & { code: string; path: string };
    e.code = 'ERR_USAGE';
    e.path = '--port';
    throw e;
  }
  return Number(value);
}

/** Registers `numaplan serve`. `wait` resolves when the service should stop (default: a signal). */
export function registerServe(program: Command, io: Io, wait: () => Promise<void> = untilSignal): void {
  program
    .command('serve')
    .description('run the fleet service: HTTP API, web page and Prometheus metrics over a SQLite file or PostgreSQL')
    .option('--data <dir>', 'data directory (SQLite file, token); default $XDG_DATA_HOME/numaplan or ~/.local/share/numaplan')
    .option('--db <url>', 'sqlite:FILE or postgres://USER@HOST/DB (default: sqlite under --data)')
    .option('--port <n>', 'TCP port (0 = any free port)', '8080')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--token <t>', 'bearer token for writes (default: generated on first start, kept in the data directory)')
    .option('--open-reads', 'let GET requests through without the token')
    .option('--demo', 'register this machine (live sysfs) and a few presets as demo hosts; implies --open-reads')
    .option('--json', 'print the URL and token as one JSON line')
    .addHelpText(
      'after',
      `
Examples:
  numaplan serve --demo
  numaplan serve --db postgres://numaplan@db.example/fleet --host 0.0.0.0 --port 8080
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/summary`,
    )
    .action(async (opts: ServeCli) => {
      const running = await runService({
        ...(opts.data !== undefined ? { data: opts.data } : {}),
        ...(opts.db !== undefined ? { db: opts.db } : {}),
        ...(opts.token !== undefined ? { token: opts.token } : {}),
        port: port(opts.port),
        host: opts.host,
        openReads: opts.openReads === true || opts.demo === true,
        demo: opts.demo === true,
      });
      if (opts.json) {
        io.out(`${JSON.stringify({ url: running.url, token: running.token, store: running.store.kind, demoHosts: running.demoHosts })}\n`);
      } else {
        io.out(`numaplan fleet service on ${running.url}  (store: ${running.store.kind} ${running.store.location})\n`);
        io.out(`  web page:  ${running.url}/#token=${running.token}  (the token stays in the browser)\n  API:       ${running.url}/openapi.json\n  metrics:   ${running.url}/metrics\n`);
        const where = running.tokenFile ? ` (kept in ${running.tokenFile})` : '';
        io.out(`  token:     ${running.token}${running.tokenGenerated ? ' (new)' : ''}${where}\n`);
        if (running.demoHosts.length > 0) io.out(`  demo hosts: ${running.demoHosts.join(', ')}\n`);
        for (const w of running.warnings) io.err(`numaplan serve: warning: ${w}\n`);
        io.out(`  try: curl -H "Authorization: Bearer ${running.token}" ${running.url}/api/v1/summary\n`);
      }
      await wait();
      await running.close();
    });
}

/**
 * Resolves on SIGINT, SIGTERM or SIGHUP, or when the process that started the service goes away
 * (it is re-parented): a service started by `npm start` or a wrapper script stops with it instead of
 * staying behind on its port.
 */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid !== parent) done();
    }, 1000);
    watch.unref();
    const done = (): void => {
      clearInterval(watch);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      process.off('SIGHUP', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    process.on('SIGHUP', done);
  });
}
