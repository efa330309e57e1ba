/**
 * A throwaway PostgreSQL server for tests: `initdb` into a fresh temporary directory, `pg_ctl start`
 * listening on a free loopback port (and a unix socket in the same directory), trust authentication,
 * stopped and removed by `stop()`. As root, initdb refuses to run, so the server runs as the
 * `postgres` system user (runuser) with the directory handed to it.
 *
 * `startPostgres()` returns null (and says why) when the server binaries are missing outside CI;
 * under CI=true that is a failure, because .ci/run installs them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_CI } from './data.js';

/** A running server. */
export interface PgServer {
  /** postgres://USER@127.0.0.1:PORT/postgres */
  url: string;
  /** A fresh database on it (created empty), as a URL. */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

/** The directory of initdb/pg_ctl: $PG_BIN, else the newest /usr/lib/postgresql/N/bin, else PATH. */
export function postgresBin(): string | null {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  return which.status === 0 ? join(which.stdout.trim(), '..') : null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts a server, or returns null when PostgreSQL is not installed (outside CI). */
export async function startPostgres(): Promise<PgServer | null> {
  const bin = postgresBin();
  if (!bin) {
    const why = 'PostgreSQL server binaries (initdb, pg_ctl) are not installed (.ci/run installs Debian\'s postgresql)';
    if (IN_CI) throw new Error(`${why}; CI=true requires them`);
    console.warn(`SKIPPED: ${why}`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'numaplan-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  let user = process.env.USER ?? 'postgres';
  const run = (cmd: string, args: string[]): string => {
    const argv = asRoot ? ['-u', 'postgres', '--', join(bin, cmd), ...args] : args;
    return execFileSync(asRoot ? 'runuser' : join(bin, cmd), argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  };
  if (asRoot) {
    const pw = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(pw), Number(gid));
    chmodSync(dir, 0o700);
    user = 'postgres';
  }
  run('initdb', ['-D', data, '-U', user, '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100 -c shared_buffers=64MB`;
  run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  const url = `postgres://${user}@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    url,
    async createDatabase(name: string): Promise<string> {
      const pg = (await import('pg')).default;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`create database "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      return `postgres://${user}@127.0.0.1:${port}/${name}`;
    },
    stop(): void {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
