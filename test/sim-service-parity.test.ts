/**
 * The simulator predicts the service: the same request stream, replayed by the simulator's fleet mode
 * (`replayFleet`) and sent to the fleet service through its HTTP API (hosts registered in the same
 * order, every placement committed, every departure a DELETE), gets the same choice for every
 * request: the same host and the same CPUs and nodes, or a refusal in both.
 *
 * The stream is a slice of the Huawei trace (arrivals and departures in trace order), on a mixed
 * fleet of presets as the trace comes (auto VMs) and on two-node servers with the published
 * benchmark's split rule (VMs above 10 GB span both nodes, the others stay on one), each long enough
 * that the fleet fills up and refuses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readTrace } from '../src/adapters/trace/read-trace.js';
import { allocationOfDecision } from '../src/core/placement/decide.js';
import { traceEvents } from '../src/core/sim/events.js';
import { fleetPolicy } from '../src/core/sim/fleet/policies.js';
import { type FleetGroup, buildFleet, fleetHostName, replayFleet } from '../src/core/sim/fleet/replay.js';
import { splitAbove, toVmRequest } from '../src/core/sim/fleet/request-map.js';
import { CREATE, type Trace } from '../src/core/sim/trace.js';
import { topologyToJson } from '../src/core/topology/json.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { createApp } from '../src/server/app.js';
import { FleetService } from '../src/server/fleet-service.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { FleetStore } from '../src/store/types.js';
import { dataSet } from './support/data.js';

const GIB = 1024 ** 3;
const TOKEN = 'parity-token-0123456789';
const path = dataSet('traces/huawei-east-1-lt.from-SPANE.csv');

/** One request's choice: the host and the CPUs and nodes it got, or null for a refusal. */
type Choice = { host: string; cpus: number[]; nodes: number[] } | null;

function slice(trace: Trace, arrivals: number): Trace {
  return { ...trace, requests: trace.requests.slice(0, arrivals) };
}

function simulated(trace: Trace, groups: readonly FleetGroup[], policy: string): Choice[] {
  const p = fleetPolicy(policy);
  if (!p) throw new Error(`no fleet policy ${policy}`);
  const out: Choice[] = new Array<Choice>(trace.requests.length).fill(null);
  replayFleet(trace, buildFleet(groups), p, {
    onChoice: (id, c) => {
      if (!c.ok) return;
      const a = allocationOfDecision(c.decision, 'committed', null);
      out[id] = { host: c.host.name, cpus: [...a.cpus], nodes: [...a.nodes] };
    },
  });
  return out;
}

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

async function served(trace: Trace, groups: readonly FleetGroup[], policy: string): Promise<Choice[]> {
  const dir = mkdtempSync(join(tmpdir(), 'numaplan-parity-'));
  const store: FleetStore = await openSqliteStore(join(dir, 'fleet.db'));
  const service = new FleetService({ store, instance: 'parity', clock: () => 1_000_000 });
  const app = createApp({ service, token: TOKEN, web: false });
  cleanup = async () => {
    await service.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const call = async (method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await app.request(url, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: await res.json() };
  };
  let i = 0;
  for (const g of groups) {
    const body = { format: 'json', topology: JSON.parse(topologyToJson(g.topology)) };
    for (let k = 0; k < g.count; k++) {
      const r = await call('PUT', `/api/v1/hosts/${fleetHostName(i++)}`, body);
      expect(r.status, JSON.stringify(r.json)).toBe(201);
    }
  }
  const events = traceEvents(trace);
  const out: Choice[] = new Array<Choice>(trace.requests.length).fill(null);
  for (let t = 0; t < events.kind.length; t++) {
    const id = events.req[t] as number;
    const req = toVmRequest(trace.requests[id] as Trace['requests'][number], id);
    if (events.kind[t] !== CREATE) {
      if (out[id]) expect((await call('DELETE', `/api/v1/vms/${req.name}`)).status).toBe(200);
      continue;
    }
    const r = await call('POST', '/api/v1/vms', { vm: req, policy });
    expect([200, 201], JSON.stringify(r.json)).toContain(r.status);
    if (r.json.ok) out[id] = { host: r.json.host, cpus: r.json.placement.cpus, nodes: r.json.placement.nodes };
  }
  return out;
}

function compare(sim: readonly Choice[], svc: readonly Choice[]): { placed: number; refused: number; differ: string[] } {
  const differ: string[] = [];
  let placed = 0;
  let refused = 0;
  for (let id = 0; id < sim.length; id++) {
    const a = sim[id] ?? null;
    const b = svc[id] ?? null;
    if (a) placed++;
    else refused++;
    if (JSON.stringify(a) !== JSON.stringify(b)) differ.push(`vm${id}: simulator ${JSON.stringify(a)}, service ${JSON.stringify(b)}`);
  }
  return { placed, refused, differ };
}

describe.skipIf(path === null)('the simulator and the service make the same choices for the same request stream', () => {
  const preset = (name: string, count: number): FleetGroup => {
    const p = getPreset(name);
    if (!p) throw new Error(`no preset ${name}`);
    return { spec: `preset:${name}`, count, topology: p.build() };
  };

  it.each(['numaplan', 'first-fit', 'libxl'])('Huawei trace on epyc-2s-nps4 and broadwell-2s hosts, policy %s', async (policy) => {
    const trace = slice(readTrace(path as string), 1200);
    const groups = [preset('epyc-2s-nps4', 3), preset('broadwell-2s', 2)];
    const sim = simulated(trace, groups, policy);
    const svc = await served(trace, groups, policy);
    const { placed, refused, differ } = compare(sim, svc);
    expect(differ.slice(0, 5)).toEqual([]);
    expect(placed).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(0);
  }, 120_000);

  it.each(['numaplan', 'first-fit'])('Huawei batch with VMs that must span both nodes of two-node servers, policy %s', async (policy) => {
    const server = syntheticTopology({ source: 'two-node-server', packages: 2, nodesPerPackage: 1, coresPerNode: 40, threadsPerCore: 1, memoryPerNode: 90 * GIB });
    const trace = slice(splitAbove(readTrace(path as string), 10 * GIB), 1500);
    const groups = [{ spec: 'server', count: 4, topology: server }];
    const sim = simulated(trace, groups, policy);
    const svc = await served(trace, groups, policy);
    const { placed, refused, differ } = compare(sim, svc);
    expect(differ.slice(0, 5)).toEqual([]);
    expect(sim.some((c, id) => c !== null && c.nodes.length === 2 && (trace.requests[id]?.memory ?? 0) > 10 * GIB)).toBe(true);
    expect(placed).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(0);
  }, 120_000);
});
