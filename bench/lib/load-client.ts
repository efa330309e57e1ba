/**
 * A load generator for the service benchmark, run as its own process (so that the service does not
 * share its event loop with the client): N closed-loop clients, each on a keep-alive connection of
 * its own (undici's HTTP/1.1 client), sending its next request when the last was answered. Every
 * answer is read whole and its status checked.
 *
 *   node --import tsx bench/lib/load-client.ts --url U[,U2...] --token T --clients N --seconds S
 *        [--warmup S] [--prefix P] [--vm SPEC] [--mode place|explain|register] [--hosts N] [--body FILE]
 *
 * place:    POST /api/v1/vms {vm: "name=<prefix><k>,<vm spec>"}, unique names; 201 expected
 * explain:  POST /api/v1/explain with the same body; 200 expected
 * register: PUT /api/v1/hosts/host-<i> for i in [0, --hosts) with the body of --body, each once
 * Clients are spread over the URLs round robin. Prints one JSON line: requests answered in the
 * measured window (`answered`) and in all (`total`, with the warm-up), the window's length, latency
 * percentiles, the first unexpected answer if any, and the client's own CPU time over the measured
 * window (`cpuUs`, µs).
 */
import { readFileSync } from 'node:fs';
import { Client } from 'undici';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`missing ${name}`);
  return v;
}

const urls = arg('--url').split(',').map((u) => new URL(u));
const token = arg('--token');
const clients = Number(arg('--clients', '1'));
const seconds = Number(arg('--seconds', '3'));
const warmup = Number(arg('--warmup', '0.5'));
const prefix = arg('--prefix', `b${process.pid}-`);
const vm = arg('--vm', 'vcpus=1,memory=1G');
const mode = arg('--mode', 'place');
const hosts = Number(arg('--hosts', '0'));
const hostBody = mode === 'register' ? readFileSync(arg('--body'), 'utf8') : '';

// One keep-alive connection per client (a closed loop: one request at a time on it), through
// undici's HTTP/1.1 client: the load generator spends less of the shared CPU per request than with
// node:http's agent, so more of it is left to the service measured.
const connections = Array.from({ length: clients }, (_, k) => new Client(urls[k % urls.length] as URL, { pipelining: 1, keepAliveTimeout: 60_000 }));
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

async function request(k: number, method: 'POST' | 'PUT', path: string, body: string): Promise<{ status: number; text: string }> {
  const r = await (connections[k] as Client).request({ method, path, headers, body });
  return { status: r.statusCode, text: await r.body.text() };
}

let seq = 0;
let nextHost = 0;
const latencies: number[] = [];
let answered = 0;
let total = 0;
let unexpected: string | null = null;
let measuring = false;
let stop = false;

async function client(k: number): Promise<void> {
  while (!stop) {
    let method: 'POST' | 'PUT' = 'POST';
    let path = '/api/v1/vms';
    let body: string;
    let want = 201;
    if (mode === 'register') {
      const i = nextHost++;
      if (i >= hosts) return;
      method = 'PUT';
      path = `/api/v1/hosts/host-${String(i).padStart(5, '0')}`;
      body = hostBody;
    } else {
      body = JSON.stringify({ vm: `name=${prefix}${seq++},${vm}` });
      if (mode === 'explain') {
        path = '/api/v1/explain';
        want = 200;
      }
    }
    const t0 = performance.now();
    const r = await request(k, method, path, body);
    const ms = performance.now() - t0;
    if (r.status !== want && !(mode === 'register' && r.status === 200)) unexpected ??= `${r.status} ${r.text.slice(0, 300)}`;
    total++;
    if (measuring || mode === 'register') {
      answered++;
      latencies.push(ms);
    }
  }
}

const running = Array.from({ length: clients }, (_, k) => client(k));
let start = performance.now();
let cpu0 = process.cpuUsage();
if (mode !== 'register') {
  await new Promise((r) => setTimeout(r, warmup * 1000));
  measuring = true;
  start = performance.now();
  cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
}
const end = performance.now();
const used = process.cpuUsage(cpu0);
measuring = false;
await Promise.all(running);
const elapsed = (mode === 'register' ? performance.now() : end) - start;
latencies.sort((a, b) => a - b);
const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
process.stdout.write(`${JSON.stringify({ answered, total, elapsedMs: elapsed, p50: q(0.5), p99: q(0.99), unexpected, cpuUs: used.user + used.system })}\n`);
await Promise.all(connections.map((c) => c.close()));
