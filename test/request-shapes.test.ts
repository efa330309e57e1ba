/**
 * The compact request's memo of shapes (parseVmSpec converts and validates the fields but the name
 * once per shape): whatever the spec, valid or not, a parse through the memo gives what the whole
 * parse gives, the same value in the same field order or the same error, the first time a shape is
 * seen and every time after, under any name; and no two answers share a nested value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RequestBounds, ANY_HOST, parseVmSpec, parseVmSpecWhole } from '../src/core/placement/request.js';

/** The answer of a parse as text: the value's JSON (field order included), or the error's class and message. */
function outcome(parse: () => unknown): string {
  try {
    return `ok ${JSON.stringify(parse())}`;
  } catch (err) {
    const e = err as Error & { path?: string };
    return `${e.name} ${e.path ?? ''} ${e.message}`;
  }
}

const value = (options: readonly string[]): fc.Arbitrary<string> => fc.oneof(fc.constantFrom(...options), fc.string({ maxLength: 6 }));

/** One `key=value` part: known fields with values that are often valid, sometimes not; now and then an unknown key or a bare word. */
const part: fc.Arbitrary<string> = fc.oneof(
  value(['1', '2', '4', '16', '0', '9000', 'x']).map((v) => `vcpus=${v}`),
  value(['1G', '512M', '2G', '1000', '0', '3M', '1.5G']).map((v) => `${['memory', 'mem'][v.length % 2]}=${v}`),
  value(['4K', '2M', '1G', 'auto', '3M']).map((v) => `pages=${v}`),
  value(['dedicated', 'shared']).map((v) => `cpu=${v}`),
  value(['auto', 'prefer', 'isolate', 'require']).map((v) => `smt=${v}`),
  value(['auto', 'strict', 'preferred', 'interleave']).map((v) => `numa=${v}`),
  value(['1', '2', '3']).map((v) => `maxnodes=${v}`),
  value(['share', '1', '2']).map((v) => `emulator=${v}`),
  value(['dram', 'hbm', 'cxl']).map((v) => `tier=${v}`),
  value(['gpu', 'rdma:1:required', 'nic:2+gpu:1', 'pci:3b:00.0']).map((v) => `devices=${v}`),
  value(['0-1', '0,1', '2', '0-3']).map((v) => `cpus=${v}`),
  value(['0', '0-1', '1']).map((v) => `nodes=${v}`),
  value(['1:1G/1:1G', '2:2G', '1:1G']).map((v) => `layout=${v}`),
  value(['0', '1', '2']).map((v) => `${['iothreads', 'disks', 'nets', 'queues'][v.length % 4]}=${v}`),
  value(['share', 'siblings', '1']).map((v) => `iocpus=${v}`),
  value(['on', 'off']).map((v) => `vhost=${v}`),
  fc.constantFrom('colour=red', 'bare', ''),
);

const name = fc.oneof(fc.constantFrom('vm1', 'db-2', 'a.b_c', 'x'.repeat(64)), fc.string({ maxLength: 8 }));

const BOUNDS: readonly RequestBounds[] = [ANY_HOST, { maxCpu: 3, maxNode: 1 }, { maxCpu: 63, maxNode: 7 }];
const bounds: fc.Arbitrary<RequestBounds> = fc.constantFrom(...BOUNDS);

/** Each name put among the parts at `at`: the memoised parse gives what the whole parse gives. */
function sameAsWhole(parts: readonly string[], names: readonly string[], at: number, b: Parameters<typeof parseVmSpec>[1]): void {
  for (const n of names) {
    const list = [...parts];
    list.splice(Math.min(at, list.length), 0, `name=${n}`);
    const spec = list.join(',');
    expect(outcome(() => parseVmSpec(spec, b))).toBe(outcome(() => parseVmSpecWhole(spec, b)));
  }
}

describe('compact request memo', () => {
  it('gives what the whole parse gives, for any spec and name, first and later, under any bounds', () => {
    // Mostly valid shapes (vCPUs and memory that pass, a few more fields), some not; each is parsed
    // under several names and bounds in turn, so shapes are met again with other names and bounds.
    const shape = fc.tuple(fc.constantFrom('1', '2', '4', 'x'), fc.constantFrom('1G', '2G', '4G', '3M'), fc.array(part, { maxLength: 4 }));
    const known = fc.constantFrom('0-3', '60-63', '0,1', '2').map((v) => `cpus=${v}`);
    const nodes = fc.constantFrom('0', '1', '7', '0-1').map((v) => `nodes=${v}`);
    fc.assert(
      fc.property(shape, fc.option(known), fc.option(nodes), fc.array(name, { minLength: 1, maxLength: 3 }), fc.nat(6), ([vcpus, memory, more], cpus, node, names, at) => {
        const parts = [`vcpus=${vcpus}`, `memory=${memory}`, ...more, ...(cpus ? [cpus] : []), ...(node ? [node] : [])];
        for (const b of BOUNDS) sameAsWhole(parts, names, at, b);
      }),
      { numRuns: 300 },
    );
  });

  it('gives what the whole parse gives for arbitrary parts', () => {
    fc.assert(
      fc.property(fc.array(part, { maxLength: 6 }), fc.array(name, { minLength: 1, maxLength: 3 }), fc.nat(6), bounds, (parts, names, at, b) => {
        sameAsWhole(parts, names, at, b);
      }),
      { numRuns: 300 },
    );
  });

  it('hands out values that share nothing', () => {
    const spec = (n: string): string => `name=${n},vcpus=4,memory=4G,devices=gpu:2+nic,layout=2:2G/2:2G,cpus=0-3`;
    const a = parseVmSpec(spec('a'));
    const b = parseVmSpec(spec('b'));
    expect(b).toEqual(parseVmSpecWhole(spec('b')));
    expect(a.name).toBe('a');
    expect(b.devices).not.toBe(a.devices);
    expect(b.devices[0]).not.toBe(a.devices[0]);
    expect(b.layout?.[0]).not.toBe(a.layout?.[0]);
    expect(b.cpus).not.toBe(a.cpus);
    (a.devices[0] as { count: number }).count = 7;
    expect(parseVmSpec(spec('c')).devices[0]?.count).toBe(2);
  });
});
