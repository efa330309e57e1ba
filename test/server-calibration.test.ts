/**
 * The service with a calibrated host: a registration body carrying a probe result (`calibration`),
 * as `numaplan agent --calibration` sends it, makes the predictions of VMs placed on that host come
 * from the measured matrix; a calibration of other nodes is a 400 naming the field. In process, over
 * a SQLite store.
 */
import { describe, expect, it } from 'vitest';
import { useService } from './support/service-app.js';

const TOKEN = 'test-token-calibration';
const svc = useService('api-cal', TOKEN, { clock: () => 1_000_000 });
const { call } = svc;

const probe = {
  schema: 'numaplan.probe/v1',
  hostname: 'bw',
  measuredAt: '2025-02-03T04:05:06.000Z',
  method: 'test matrix',
  nodes: [0, 1],
  latency: [
    [92, 151],
    [149, 90],
  ],
  bandwidth: [
    [10000, 6000],
    [6000, 10000],
  ],
  verified: true,
};

describe('fleet API with a calibrated host', () => {
  it("predicts from the host's measured matrix; the host detail carries it", async () => {
    expect((await call('PUT', '/api/v1/hosts/bw', { format: 'preset', topology: 'broadwell-2s', calibration: probe })).status).toBe(201);
    const placed = await call('POST', '/api/v1/vms', { vm: 'name=wide,vcpus=12,memory=32G', host: 'bw' });
    expect(placed.status, JSON.stringify(placed.json)).toBe(201);
    const cost = placed.json.placement.explanation.cost;
    expect(cost.calibration).toEqual({ source: 'measured', label: 'measured by numaplan probe on bw at 2025-02-03T04:05:06.000Z' });
    expect(cost.expectedLatencyNs).toBe(Math.round(((92 + 151 + 149 + 90) / 4) * 10) / 10);
    const detail = await call('GET', '/api/v1/hosts/bw');
    expect(detail.json.topology.calibration.latency).toEqual(probe.latency);
  });

  it('refuses a calibration measured on other nodes, or malformed, with 400 naming the field', async () => {
    const other = await call('PUT', '/api/v1/hosts/snc', { format: 'preset', topology: 'xeon-2s-snc2', calibration: probe });
    expect(other.status).toBe(400);
    expect(other.json.error).toMatchObject({ code: 'ERR_CALIBRATION', field: 'calibration.nodes' });
    const bad = await call('PUT', '/api/v1/hosts/bw2', { format: 'preset', topology: 'broadwell-2s', calibration: { ...probe, latency: [[92, 'x'], [149, 90]] } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'ERR_CALIBRATION', field: 'calibration.latency[0][1]' });
  });
});
