/**
 * `numaplan agent`: reads this host's topology (live sysfs, or any --from source) and registers it
 * with a fleet service, once or every --interval seconds. The service ignores a post that changes
 * nothing, so a short interval costs one small write-free request.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { SOURCE_HELP, loadTopology } from '../../adapters/source.js';
import { withCalibration } from '../../core/topology/calibration.js';
import { topologyToJson } from '../../core/topology/json-out.js';
import { readCalibrationFile } from '../calibration-file.js';
import { TOKEN_ENV, readTokenFile } from '../../server/auth.js';
import { sanitize } from '../../server/demo.js';
import type { Io } from '../io.js';

interface AgentCli {
  server: string;
  token?: string;
  tokenFile?: string;
  displace?: boolean;
  interval?: string;
  name?: string;
  from: string;
  once?: boolean;
  calibration?: string;
}

/** The result of one post. */
export interface AgentPost {
  status: number;
  body: unknown;
}

/** Posts a host's topology to a service; throws for transport errors. */
export async function postTopology(
  server: string,
  token: string,
  name: string,
  topologyJson: string,
  options: { displace?: boolean; reserve?: { cpus?: number[]; memory?: number } } = {},
): Promise<AgentPost> {
  const url = `${server.replace(/\/+$/, '')}/api/v1/hosts/${encodeURIComponent(name)}${options.displace ? '?accept=displace' : ''}`;
  const res = await fetch(url, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ format: 'json', topology: topologyJson, ...(options.reserve ? { reserve: options.reserve } : {}) }),
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
    .option('--token-file <file>', "file holding the service's bearer token (first line); or set NUMAPLAN_TOKEN")
    .option('--token <t>', 'the bearer token itself (shows in the process list: prefer --token-file or NUMAPLAN_TOKEN)')
    .option('--displace', 'accept updates that break VMs on this host: the service marks them displaced instead of refusing (409)')
    .option('--interval <s>', 'seconds between posts (default: post once)')
    .option('--once', 'post once and exit (the default without --interval)')
    .option('--name <host>', 'host name in the fleet (default: this machine\'s hostname)')
    .option('--from <source>', `topology source: ${SOURCE_HELP.join(', ')}`, 'sysfs')
    .option('--calibration <file>', "a probe result (numaplan probe -o FILE) posted with the topology: the service's predictions for this host come from its measured matrix")
    .addHelpText(
      'after',
      `
The token comes from --token-file, NUMAPLAN_TOKEN or --token (in that order of preference: the
last shows in the process list). A post the service refuses because the host no longer holds what
its VMs hold (409 ERR_HOST_IN_USE) lists those VMs; --displace accepts such updates.

Examples:
  numaplan agent --server http://fleet.example:8080 --token-file /etc/numaplan/token --interval 60
  NUMAPLAN_TOKEN=... numaplan agent --server http://fleet.example:8080 --once
  numaplan probe -o /var/lib/numaplan/probe.json && numaplan agent --server http://fleet.example:8080 --calibration /var/lib/numaplan/probe.json --interval 60`,
    )
    .action(async (opts: AgentCli) => {
      if (!/^https?:\/\//.test(opts.server)) throw usage('--server', `expected http://HOST:PORT, got "${opts.server}"`);
      const token = agentToken(opts, io);
      let interval = 0;
      if (opts.interval !== undefined && !opts.once) {
        if (!/^\d+(\.\d+)?$/.test(opts.interval) || Number(opts.interval) < 1 || Number(opts.interval) > 86_400) {
          throw usage('--interval', `expected seconds between 1 and 86400, got "${opts.interval}"`);
        }
        interval = Number(opts.interval) * 1000;
      }
      const calibration = opts.calibration !== undefined ? readCalibrationFile(opts.calibration) : null;
      for (;;) {
        const read = await loadTopology(opts.from);
        const topo = calibration ? withCalibration(read, calibration) : read;
        const name = sanitize(opts.name ?? topo.hostname ?? hostname());
        let ok = false;
        try {
          const r = await postTopology(opts.server, token, name, topologyToJson(topo), { displace: opts.displace === true });
          const b = r.body as { created?: boolean; changed?: boolean; displaced?: string[]; restored?: string[]; error?: { code: string; message: string } } | null;
          if (r.status === 200 || r.status === 201) {
            ok = true;
            const marks = [
              ...(b?.displaced?.length ? [`displaced ${b.displaced.join(', ')}`] : []),
              ...(b?.restored?.length ? [`restored ${b.restored.join(', ')}`] : []),
            ];
            io.out(`${name}: ${b?.created ? 'registered' : b?.changed ? 'updated' : 'unchanged'} on ${opts.server}${marks.length ? ` (${marks.join('; ')})` : ''}\n`);
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

/** The token: --token-file, then NUMAPLAN_TOKEN, then --token (with a warning: it shows in `ps`). */
export function agentToken(opts: { tokenFile?: string; token?: string }, io: Io): string {
  if (opts.tokenFile !== undefined) return readTokenFile(opts.tokenFile);
  const env = process.env[TOKEN_ENV];
  if (env !== undefined && env.trim() !== '') return env.trim();
  if (opts.token !== undefined && opts.token !== '') {
    io.err('numaplan agent: warning: --token shows in the process list; prefer --token-file or NUMAPLAN_TOKEN\n');
    return opts.token;
  }
  throw usage('--token-file', `no token: give --token-file FILE or set ${TOKEN_ENV} (the token of \`numaplan serve\`, kept in its data directory)`);
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
