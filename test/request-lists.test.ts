/**
 * Lists in requests and topology inputs are parsed against bounds before they are expanded: a few
 * bytes ("cpus=0-4194304") must be refused as too long or beyond the host, never turned into
 * millions of entries; and the compact `cpus=` keeps the order the user wrote (one host CPU per vCPU),
 * as the JSON form does.
 */
import { describe, expect, it } from 'vitest';
import { createHostState } from '../src/core/placement/state.js';
import { place } from '../src/core/placement/place.js';
import { RequestError, parseVmRequest, parseVmSpec, requestBounds } from '../src/core/placement/request.js';
import { CpuListError, parseCpuList, parseCpuListInOrder, parseCpuMask } from '../src/core/topology/cpulist.js';
import { MAX_CPU_ID, MAX_NODE_ID } from '../src/core/topology/limits.js';
import { topologyFromNumactl } from '../src/adapters/numactl-text.js';
import { getPreset } from '../src/core/topology/presets/index.js';

const broadwell = getPreset('broadwell-2s')?.build();
if (!broadwell) throw new Error('preset');

function error(fn: () => unknown): Error & { path?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { path?: string };
  }
  throw new Error('expected an error');
}

describe('bounded lists', () => {
  it('refuses an index beyond the bound and a list longer than the bound, before expanding', () => {
    expect(() => parseCpuList('0-4194304')).toThrow(CpuListError);
    expect(error(() => parseCpuList('0-4194304')).message).toMatch(/beyond the largest there is \(65535\)/);
    expect(error(() => parseCpuList('0-10', { maxId: 7, what: 'CPU' })).message).toMatch(/CPU 10 is beyond the largest there is \(7\)/);
    expect(error(() => parseCpuList('0-7,0-7', { maxId: 7, what: 'CPU' })).message).toMatch(/more than 8 CPUs/);
    // Many copies of the widest range: refused on the count, not after expanding each.
    const many = Array.from({ length: 1000 }, () => `0-${MAX_CPU_ID}`).join(',');
    expect(error(() => parseCpuList(many)).message).toMatch(/lists more than 65536 entries/);
    expect(parseCpuList(`0-${MAX_CPU_ID}`)).toHaveLength(MAX_CPU_ID + 1);
    expect(() => parseCpuMask(Array.from({ length: 2049 }, () => 'ffffffff').join(','))).toThrow(/longer than the largest there is/);
  });

  it('keeps the written order when asked', () => {
    expect(parseCpuListInOrder('350,183,74')).toEqual([350, 183, 74]);
    expect(parseCpuListInOrder('8-9,2,0-1')).toEqual([8, 9, 2, 0, 1]);
    expect(parseCpuListInOrder('3,3')).toEqual([3, 3]);
  });

  it('bounds the compact cpus= by the vCPUs and the host, nodes= by the host', () => {
    let e = error(() => parseVmSpec('name=a,vcpus=1,memory=1G,cpus=0-4194304'));
    expect(e).toBeInstanceOf(RequestError);
    expect(e.path).toBe('cpus');
    e = error(() => parseVmSpec('name=a,vcpus=2,memory=1G,cpus=0-40000'));
    expect(e.message).toMatch(/more than 2 CPUs/);
    e = error(() => parseVmSpec('name=a,vcpus=1,memory=1G,nodes=0-4194304'));
    expect(e.path).toBe('nodes');
    expect(e.message).toMatch(/beyond the largest there is \(1023\)/);
    const host = requestBounds(broadwell);
    expect(host).toEqual({ maxCpu: 39, maxNode: 1 });
    e = error(() => parseVmSpec('name=a,vcpus=1,memory=1G,cpus=40', host));
    expect(e.message).toMatch(/CPU 40 is beyond the largest there is \(39\)/);
    e = error(() => parseVmSpec('name=a,vcpus=1,memory=1G,nodes=0-2', host));
    expect(e.message).toMatch(/node 2 is beyond/);
    e = error(() => parseVmRequest({ name: 'a', vcpus: 1, memory: '1G', cpus: [99] }, host));
    expect(e.path).toBe('cpus[0]');
    e = error(() => parseVmRequest({ name: 'a', vcpus: 1, memory: '1G', nodes: [MAX_NODE_ID + 1] }));
    expect(e.path).toBe('nodes[0]');
  });

  it('bounds the device list', () => {
    const wishes = Array.from({ length: 65 }, () => 'gpu').join('+');
    expect(error(() => parseVmSpec(`name=a,vcpus=1,memory=1G,devices=${wishes}`)).message).toMatch(/at most 64/);
    const many = Array.from({ length: 5 }, () => 'rdma-vf:64').join('+');
    expect(error(() => parseVmSpec(`name=a,vcpus=1,memory=1G,devices=${many}`)).message).toMatch(/asks for 320 devices; at most 256/);
  });

  it('bounds numactl text: no line or document expands past the largest host', () => {
    const one = ['available: 1 nodes (0)', 'node 0 cpus: 0-4194303', 'node 0 size: 1024 MB', 'node 0 free: 1024 MB', ''].join('\n');
    expect(error(() => topologyFromNumactl(one, 'huge.txt')).message).toMatch(/beyond the largest there is \(65535\)/);
    const lines = ['available: 64 nodes (0-63)'];
    for (let i = 0; i < 64; i++) lines.push(`node ${i} cpus: 0-65535`, `node ${i} size: 1024 MB`, `node ${i} free: 1024 MB`);
    expect(error(() => topologyFromNumactl(`${lines.join('\n')}\n`, 'many.txt')).message).toMatch(/more entries than the largest host has/);
  });
});

describe('compact cpus= keeps the order written', () => {
  it('pins vCPU i to the i-th CPU listed, as the JSON form does', () => {
    const compact = parseVmSpec('name=p,vcpus=3,memory=3G,cpus=35,18,7');
    const json = parseVmRequest({ name: 'p', vcpus: 3, memory: '3G', cpus: [35, 18, 7] });
    expect(compact.cpus).toEqual([35, 18, 7]);
    expect(compact).toEqual(json);
    const r = place(compact, createHostState(broadwell));
    if (!r.ok) throw new Error(JSON.stringify(r.reasons));
    expect(r.placement.cpus).toEqual([35, 18, 7]);
  });

  it('refuses a CPU listed twice for a dedicated VM, in either form', () => {
    expect(error(() => parseVmSpec('name=p,vcpus=2,memory=2G,cpus=5,5')).message).toMatch(/cannot list a host CPU twice/);
    expect(error(() => parseVmSpec('name=p,vcpus=3,memory=3G,cpus=4-5,5')).message).toMatch(/cannot list a host CPU twice/);
  });
});
