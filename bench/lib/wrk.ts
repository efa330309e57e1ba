/**
 * Closed-loop HTTP load through wrk (https://github.com/wg/wrk, Debian's `wrk`): N keep-alive
 * connections on one wrk thread, each sending its next request when the last was answered, each
 * request a placement (or an explanation) of a VM with a name never sent before (wrk-burst.lua).
 * wrk is C: it spends a sixth of the CPU per request that a Node client does, or less (measured in the
 * same runs on this machine: 17-18 µs against 100-217 µs for undici), and on a two-core machine
 * shared with the service what the load generator spends is taken from the service measured.
 */
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./wrk-burst.lua', import.meta.url));

/** Why wrk cannot run here, or null when it can. */
export function wrkUnavailable(): string | null {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (r.error) return 'wrk is not installed (Debian: apt-get install wrk)';
  return /wrk/.test(`${r.stdout}${r.stderr}`) ? null : `wrk --version printed nothing recognisable (exit ${r.status})`;
}

export interface WrkBurst {
  /** Requests answered in the burst (every one with a 2xx: any other answer fails the burst). */
  requests: number;
  elapsedMs: number;
  p50Ms: number;
  p99Ms: number;
  /** wrk's own CPU time over the burst, µs. */
  cpuUs: number;
}

interface WrkReport {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  status: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  cpuSeconds: number;
}

/**
 * One burst of `seconds` against `url`: `connections` closed-loop clients POSTing `body` specs to
 * `path` (names `<prefix>1`, `<prefix>2`, ...). Rejects when wrk fails or any answer was not 2xx.
 */
export function wrkBurst(o: { url: string; path: string; token: string; connections: number; seconds: number; prefix: string; vm: string }): Promise<WrkBurst> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '30s', '-s', SCRIPT, o.url];
  const env = { ...process.env, WRK_PREFIX: o.prefix, WRK_VM: o.vm, WRK_PATH: o.path, WRK_TOKEN: o.token };
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { env, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`wrk ${args.join(' ')}: ${err.message} ${stderr}`));
        return;
      }
      const line = stdout.trim().split('\n').pop() ?? '';
      let r: WrkReport;
      try {
        r = JSON.parse(line) as WrkReport;
      } catch {
        reject(new Error(`wrk printed no report: ${stdout.slice(-500)}`));
        return;
      }
      const errors = r.status + r.connect + r.read + r.write + r.timeout;
      if (errors > 0) {
        reject(new Error(`wrk: ${r.status} answers outside 2xx, ${r.connect} connect, ${r.read} read, ${r.write} write errors, ${r.timeout} timeouts in ${r.requests} requests`));
        return;
      }
      resolve({ requests: r.requests, elapsedMs: r.durationUs / 1000, p50Ms: r.p50Us / 1000, p99Ms: r.p99Us / 1000, cpuUs: r.cpuSeconds * 1e6 });
    });
  });
}
