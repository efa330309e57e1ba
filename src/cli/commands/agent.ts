/**
 * `numaplan agent`: reads this host's topology (live sysfs, or any --from source) and registers it
 * with a fleet service, once or every --interval seconds. The service ignores a post that changes
 * nothing, so a short interval costs one small write-free request.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { SOURCE_HELP, loadTopology } from '../../adapters/source.js';
import { topologyToJson } from '../../core/topology/json.js';
import { sanitize } from '../../server/demo.js';
import type { Io } from '../io.js';

interface AgentCli {
  server: string;
  token: string;
  interval?: string;
  name?: string;
  from: string;
  once?: boolean;
}

/** The result of one post. */
export interface AgentPost {
  status: number;
  body: unknown;
}

/** Posts a host's topology to a service; throws for transport errors. */
export async function postTopology(server: string, token: string, name: string, topologyJson: string): Promise<AgentPost> {
  const url = `${server.replace(/\/+$/, '')}/api/v1/hosts/${encodeURIComponent(name)}`;
  const res = await fetch(url, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ format: 'json', topology: topologyJson }),
  });
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

function usage(path: string, message: string): Error {
  const e = new Error(message) as Error & { code: string; path: string };
  e.code = 'ERR_USAGE';
  e.path = path;
  return e;
}

/** Registers `numaplan agent`. */
export function registerAgent(program: Command, io: Io, sleep: (ms: number) => Promise<boolean> = sleepUnlessSignal): void {
  program
    .command('agent')
    .description("post this host's topology to a fleet service (once, or every --interval seconds)")
    .requiredOption('--server <url>', 'the service, e.g. http://fleet.example:8080')
    .requiredOption('--token <t>', 'the bearer token printed by `numaplan serve`')
    .option('--interval <s>', 'seconds between posts (default: post once)')
    .option('--once', 'post once and exit (the default without --interval)')
    .option('--name <host>', 'host name in the fleet (default: this machine\'s hostname)')
    .option('--from <source>', `topology source: ${SOURCE_HELP.join(', ')}`, 'sysfs')
    .action(async (opts: AgentCli) => {
      if (!/^https?:\/\//.test(opts.server)) throw usage('--server', `expected http://HOST:PORT, got "${opts.server}"`);
      let interval = 0;
      if (opts.interval !== undefined && !opts.once) {
        if (!/^\d+(\.\d+)?$/.test(opts.interval) || Number(opts.interval) < 1 || Number(opts.interval) > 86_400) {
          throw usage('--interval', `expected seconds between 1 and 86400, got "${opts.interval}"`);
        }
        interval = Number(opts.interval) * 1000;
      }
      for (;;) {
        const topo = await loadTopology(opts.from);
        const name = sanitize(opts.name ?? topo.hostname ?? hostname());
        let ok = false;
        try {
          const r = await postTopology(opts.server, opts.token, name, topologyToJson(topo));
          const b = r.body as { created?: boolean; changed?: boolean; error?: { code: string; message: string } } | null;
          if (r.status === 200 || r.status === 201) {
            ok = true;
            io.out(`${name}: ${b?.created ? 'registered' : b?.changed ? 'updated' : 'unchanged'} on ${opts.server}\n`);
          } else {
            io.err(`numaplan agent: ${r.status} ${b?.error?.code ?? ''} ${b?.error?.message ?? ''}\n`);
          }
        } catch (err) {
          io.err(`numaplan agent: cannot reach ${opts.server} (${(err as Error).message})\n`);
        }
        if (interval === 0) {
          io.setExitCode(ok ? 0 : 2);
          return;
        }
        if (!(await sleep(interval))) return;
      }
    });
}

/** Sleeps; resolves false if SIGINT/SIGTERM arrives first. */
function sleepUnlessSignal(ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const stop = (): void => {
      clearTimeout(t);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(false);
    };
    const t = setTimeout(() => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(true);
    }, ms);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
