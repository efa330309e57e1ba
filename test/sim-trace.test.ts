/** Trace readers: every format, bad rows (line and field named, or skipped and counted), speed. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTrace } from '../src/adapters/trace/read-trace.js';
import { traceEvents } from '../src/core/sim/events.js';
import { CREATE, DELETE, TraceError } from '../src/core/sim/trace.js';
import { TraceParser, parseTrace } from '../src/core/sim/trace-parser.js';
import { dataSet } from './support/data.js';

const GiB = 1024 ** 3;
const parse = (text: string, skipBad = false) => parseTrace(text, { path: 't.csv', skipBad });

function errorOf(fn: () => unknown): TraceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TraceError) return err;
    throw err;
  }
  throw new Error('expected a TraceError');
}

describe('trace formats', () => {
  it('Huawei lifetime form: cores, GB (as GiB), arrival and lifetime', () => {
    const t = parse('vmid,cpu,mem,at,lt\n0,4,16,0.0,194.0\n1,1,2,2.5,10\n');
    expect(t.format).toBe('huawei-lifetime');
    expect(t.requests[0]).toMatchObject({ id: '0', vcpus: 4, memory: 16 * GiB, arrival: 0, lifetime: 194 });
    const ev = traceEvents(t);
    // 0 arrives at 0, 1 at 2.5, 1 leaves at 12.5, 0 leaves at 194.
    expect([...ev.kind]).toEqual([CREATE, CREATE, DELETE, DELETE]);
    expect([...ev.req]).toEqual([0, 1, 1, 0]);
  });

  it('Huawei event log: creates and deletes in file order, lifetimes derived, unknown deletes ignored', () => {
    const t = parse('vmid,cpu,memory,time,type\n7,4,16,0,0\n9,1,1,1,1\n8,2,4,2,0\n7,4,16,5,1\n');
    expect(t.format).toBe('huawei-events');
    expect(t.requests.map((r) => [r.id, r.lifetime])).toEqual([
      ['7', 5],
      ['8', null],
    ]);
    expect([...(t.events?.kind ?? [])]).toEqual([CREATE, CREATE, DELETE]);
  });

  it('generic CSV: sizes, optional lifetime, devices and NUMA policy', () => {
    const t = parse('id,arrival,lifetime,vcpus,memory,pageSize,devices,numaPolicy\nvm-a,0,,8,16G,2M,rdma:required;gpu,local\nvm-b,1,60,2,4096M,,,\n');
    expect(t.format).toBe('csv');
    expect(t.requests[0]).toMatchObject({
      id: 'vm-a',
      lifetime: null,
      vcpus: 8,
      memory: 16 * GiB,
      pageSize: 2 * 1024 ** 2,
      devices: [
        { class: 'rdma', locality: 'required' },
        { class: 'gpu', locality: 'preferred' },
      ],
      numaPolicy: 'local',
    });
    expect(t.requests[1]).toMatchObject({ lifetime: 60, memory: 4 * GiB, pageSize: null, devices: [], numaPolicy: 'auto' });
  });

  it('JSONL with the same fields; out-of-order arrivals are sorted (stable)', () => {
    const t = parse('{"id":"x","arrival":5,"vcpus":2,"memory":"4G"}\n{"id":"y","arrival":1,"vcpus":1,"memory":1073741824,"devices":[{"class":"nic","locality":"required"}]}\n');
    expect(t.format).toBe('jsonl');
    expect(t.requests.map((r) => r.id)).toEqual(['y', 'x']);
    expect(t.requests[0]?.devices).toEqual([{ class: 'nic', locality: 'required' }]);
  });

  it('streams: chunks split anywhere give the same trace', () => {
    const text = 'vmid,cpu,mem,at,lt\r\n0,4,16,0.0,194.0\r\n1,1,2,2.5,10\r\n';
    const p = new TraceParser({ path: 't' });
    for (const ch of text) p.push(ch);
    expect(p.finish().requests).toEqual(parse(text).requests);
  });
});

describe('bad rows', () => {
  it('names the line and the field', () => {
    const e = errorOf(() => parse('vmid,cpu,mem,at,lt\n0,4,16,0,1\n1,four,16,0,1\n'));
    expect(e.code).toBe('ERR_TRACE');
    expect(e.line).toBe(3);
    expect(e.field).toBe('cpu');
    expect(e.message).toBe('t.csv:3: cpu: "four" is not a number');
    expect(errorOf(() => parse('vmid,cpu,mem,at,lt\n0,4,16,0\n')).message).toMatch(/t\.csv:2: row: expected 5 fields, found 4/);
    expect(errorOf(() => parse('vmid,cpu,mem,at,lt\n0,4,16,0,-1\n')).field).toBe('lt');
    expect(errorOf(() => parse('vmid,cpu,memory,time,type\n0,4,16,0,2\n')).field).toBe('type');
    expect(errorOf(() => parse('arrival,vcpus,memory\n0,2,lots\n')).field).toBe('memory');
    expect(errorOf(() => parse('arrival,vcpus,memory,numaPolicy\n0,2,4G,closest\n')).field).toBe('numaPolicy');
    expect(errorOf(() => parse('arrival,vcpus,colour\n')).field).toBe('header');
    expect(errorOf(() => parse('{"arrival":0,"vcpus":2,"memory":"4G"}\n{oops\n')).line).toBe(2);
  });

  it('--skip-bad skips and counts', () => {
    const t = parse('vmid,cpu,mem,at,lt\n0,4,16,0,1\n1,four,16,0,1\n2,1,1\n3,1,1,2,3\n', true);
    expect(t.requests.map((r) => r.id)).toEqual(['0', '3']);
    expect(t.skipped).toBe(2);
  });

  it('a missing file is an input error', () => {
    const e = errorOf(() => readTrace(join(tmpdir(), 'no-such-trace.csv')));
    expect(e.code).toBe('ERR_TRACE');
  });
});

describe('the Huawei trace (data set)', () => {
  const dir = dataSet('traces');
  // Its reading speed is a benchmark row (npm run bench -- --filter sim), not a test.
  it.skipIf(dir === null)('reads all 116,313 requests, and the first rows of the event log', () => {
    const t = readTrace(join(dir as string, 'huawei-east-1-lt.from-SPANE.csv'));
    expect(t.requests.length).toBe(116313);
    expect(traceEvents(t).kind.length).toBe(2 * 116313);
    const e = readTrace(join(dir as string, 'huawei-east-1.original-format.first5rows.csv'));
    expect(e.format).toBe('huawei-events');
    expect(e.requests.slice(0, 3).map((r) => r.vcpus)).toEqual([4, 8, 16]);
  });
});

describe('readTrace on a file', () => {
  it('reads a file larger than one chunk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'numaplan-trace-'));
    const rows = Array.from({ length: 60000 }, (_, i) => `${i},2,4,${i},${i % 97}`);
    const path = join(dir, 'big.csv');
    writeFileSync(path, `vmid,cpu,mem,at,lt\n${rows.join('\n')}\n`);
    const t = readTrace(path);
    expect(t.requests.length).toBe(60000);
    expect(t.requests[59999]?.arrival).toBe(59999);
  });
});
