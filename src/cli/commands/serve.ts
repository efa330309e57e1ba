/**
 * `numaplan serve`: the fleet service (HTTP API, web page, metrics) on SQLite under a data directory
 * by default, or PostgreSQL. Prints the URL and the token, then runs until SIGINT/SIGTERM.
 */
import { parseDurability } from '../../store/types.js';
import type { Command } from 'commander';
import { runService } from '../../server/start.js';
import type { Io } from '../io.js';

interface ServeCli {
  data?: string;
  db?: string;
  port: string;
  host: string;
  token?: string;
  tokenFile?: string;
  openReads?: boolean;
  demo?: boolean;
  durability: string;
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
    .option('--token-file <file>', 'file holding the bearer token (first line); or set NUMAPLAN_TOKEN')
    .option('--token <t>', 'the bearer token itself (shows in the process list: prefer --token-file or NUMAPLAN_TOKEN); default: generated on first start, kept in the data directory (0600)')
    .option('--open-reads', 'let GET requests through without the token')
    .option('--demo', 'register this machine (live sysfs) and a few presets as demo hosts; implies --open-reads')
    .option('--durability <when>', 'answer a write once it is on disk (disk: survives a crash of the machine) or once it committed (commit: survives a crash of the service; a crash of the machine can lose the last answers)', 'disk')
    .option('--json', 'print the URL and token as one JSON line')
    .addHelpText(
      'after',
      `
The token is printed only when it is generated (first start); later starts say where it is kept.
The data directory is created private (0700), and the SQLite database and the token in it 0600.

Examples:
  numaplan serve --demo
  NUMAPLAN_TOKEN=$(cat /etc/numaplan/token) numaplan serve --data /var/lib/numaplan
  numaplan serve --db postgres://numaplan@db.example/fleet --host 0.0.0.0 --port 8080
  numaplan serve --durability commit      # answers without waiting for the disk (see README, Fleet service)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/summary`,
    )
    .action(async (opts: ServeCli) => {
      const running = await runService({
        ...(opts.data !== undefined ? { data: opts.data } : {}),
        ...(opts.db !== undefined ? { db: opts.db } : {}),
        ...(opts.token !== undefined ? { token: opts.token } : {}),
        ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : {}),
        port: port(opts.port),
        host: opts.host,
        durability: parseDurability(opts.durability),
        openReads: opts.openReads === true || opts.demo === true,
        demo: opts.demo === true,
      });
      const shown = running.tokenGenerated;
      const kept =
        running.tokenSource === 'env' ? 'from NUMAPLAN_TOKEN' : running.tokenSource === 'option' ? 'from --token' : `kept in ${running.tokenFile ?? '?'}`;
      if (opts.token !== undefined) running.warnings.push('--token shows in the process list; prefer --token-file or NUMAPLAN_TOKEN');
      if (opts.json) {
        io.out(
          `${JSON.stringify({
            url: running.url,
            ...(shown ? { token: running.token } : {}),
            tokenGenerated: running.tokenGenerated,
            tokenSource: running.tokenSource,
            tokenFile: running.tokenFile,
            store: running.store.kind,
            durability: running.store.durability,
            demoHosts: running.demoHosts,
          })}\n`,
        );
        for (const w of running.warnings) io.err(`numaplan serve: warning: ${w}\n`);
      } else {
        io.out(`numaplan fleet service on ${running.url}  (store: ${running.store.kind} ${running.store.location}, durability: ${running.store.durability})\n`);
        if (shown) {
          io.out(`  web page:  ${running.url}/#token=${running.token}  (the token stays in the browser)\n`);
        } else {
          io.out(`  web page:  ${running.url}/  (add #token=TOKEN to the address, or enter it on the page)\n`);
        }
        io.out(`  API:       ${running.url}/openapi.json\n  metrics:   ${running.url}/metrics\n`);
        if (shown) io.out(`  token:     ${running.token} (new, kept in ${running.tokenFile ?? '?'}; printed this once)\n`);
        else io.out(`  token:     ${kept} (not printed)\n`);
        if (running.demoHosts.length > 0) io.out(`  demo hosts: ${running.demoHosts.join(', ')}\n`);
        for (const w of running.warnings) io.err(`numaplan serve: warning: ${w}\n`);
        io.out(`  try: curl -H "Authorization: Bearer ${shown ? running.token : '$TOKEN'}" ${running.url}/api/v1/summary\n`);
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
