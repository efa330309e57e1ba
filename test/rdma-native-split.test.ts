/**
 * The native addon's units stay in step with the TypeScript rules: its opcode table is generated
 * from src/rdma/wire/opcodes.ts (this test fails when native/opcodes.gen.h is stale: run
 * `npm run gen:opcodes`), and its placement unit names the check each packet stopped at.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRoceUdpAddon } from '../src/rdma/transport/native-addon.js';
import { nativeIoAvailable } from '../src/rdma/transport/udp.js';
import { renderOpcodeHeader } from '../src/rdma/wire/opcodes-header.js';
import { OP, knownOpcodes, opcodeLayout } from '../src/rdma/wire/opcodes.js';
import { REPO_ROOT } from './support/data.js';

describe('generated opcode table', () => {
  it('native/opcodes.gen.h is what opcodes.ts renders (npm run gen:opcodes)', () => {
    expect(readFileSync(join(REPO_ROOT, 'native', 'opcodes.gen.h'), 'utf8')).toBe(renderOpcodeHeader());
  });

  it('lists every known opcode with its extended-header length and position', () => {
    const text = renderOpcodeHeader();
    // Every RC, UC and UD opcode IBA defines, and CNP: 38.
    expect(knownOpcodes()).toHaveLength(38);
    for (const op of knownOpcodes()) {
      const l = opcodeLayout(op);
      expect(text).toContain(`/* 0x${op.toString(16).padStart(2, '0')} */ {OPF_KNOWN`);
      expect(text).toContain(`, ${l?.extLength}, "${l?.name}"}`);
    }
    expect(text).toContain('/* 0x15 */ {0, OPK_NONE');
    expect(opcodeLayout(OP.RDMA_WRITE_FIRST)).toMatchObject({ kind: 'write', position: 'first', request: true, transport: 'RC' });
    expect(opcodeLayout(OP.ACKNOWLEDGE)).toMatchObject({ kind: 'ack', position: null, request: false });
    expect(opcodeLayout(0x2a)).toMatchObject({ kind: 'write', position: 'only', transport: 'UC' });
  });
});

const RUN = nativeIoAvailable().available || process.env.CI === 'true';

describe.runIf(RUN)('placement unit (native/placement.cc)', () => {
  const addon = loadRoceUdpAddon().addon;
  const peer = Buffer.from('fd000000000000000000000000000002', 'hex');
  const va = 0x10000;
  const write = (op: number, psn: number, payload: Buffer, reth?: { va: number; rkey: number; len: number }, tweak?: (b: Buffer) => void): Buffer => {
    const b = Buffer.alloc(12 + (reth ? 16 : 0) + payload.length + 4);
    b[0] = op;
    b.writeUInt16BE(0xffff, 2);
    b.writeUIntBE(0x11, 5, 3);
    b.writeUIntBE(psn, 9, 3);
    if (reth) {
      b.writeBigUInt64BE(BigInt(reth.va), 12);
      b.writeUInt32BE(reth.rkey, 20);
      b.writeUInt32BE(reth.len, 24);
    }
    payload.copy(b, reth ? 28 : 12);
    tweak?.(b);
    return b;
  };
  const qp = (epsn: number) => [0x11, true, epsn, 256, 1, true, peer, 0, 0, 0, 0] as const;

  it('names the check each packet stops at, and places only what passes them all', () => {
    if (!addon) throw new Error('addon missing');
    const bytes = new Uint8Array(1024);
    const region = { rkey: 0x105, pd: 1, access: 2 | 1, va, bytes };
    const p = Buffer.alloc(64, 7);
    const checks = addon.placeSim(
      [region],
      [qp(5)],
      [
        write(OP.RDMA_WRITE_ONLY, 5, p, { va, rkey: 0x105, len: 64 }, (b) => (b[1] = 1)), // TVer 1
        write(OP.RDMA_WRITE_ONLY, 5, p, { va, rkey: 0x105, len: 64 }, (b) => b.writeUInt16BE(0x1234, 2)), // P_Key
        write(0x2a, 5, p, { va, rkey: 0x105, len: 64 }), // UC opcode
        write(OP.RDMA_WRITE_ONLY, 5, p, { va, rkey: 0x105, len: 64 }, (b) => b.writeUIntBE(0x12, 5, 3)), // no such QP
        write(OP.RDMA_WRITE_ONLY, 6, p, { va, rkey: 0x105, len: 64 }), // PSN
        write(OP.RDMA_WRITE_ONLY, 5, p, { va, rkey: 0x106, len: 64 }), // rkey (QP now deferred)
        write(OP.RDMA_WRITE_ONLY, 5, p, { va, rkey: 0x105, len: 64 }), // deferred until JS syncs
      ],
      peer,
    );
    expect(checks).toEqual(['bad-header', 'bad-header', 'not-rc', 'no-qp', 'psn', 'qp-deferred', 'qp-deferred']);
    expect(bytes.every((b) => b === 0)).toBe(true);
    const more = addon.placeSim(
      [region],
      [qp(5)],
      [
        write(OP.RDMA_WRITE_ONLY, 5, p, { va: va + 1000, rkey: 0x105, len: 64 }), // bounds
      ],
      peer,
    );
    expect(more).toEqual(['bounds']);
    const ok = addon.placeSim([region], [qp(5)], [write(OP.RDMA_WRITE_ONLY, 5, p, { va: va + 8, rkey: 0x105, len: 64 })], peer);
    expect(ok).toEqual(['ok']);
    expect(Buffer.from(bytes.subarray(8, 72)).equals(p)).toBe(true);
    const other = addon.placeSim([region], [qp(5)], [write(OP.RDMA_WRITE_ONLY, 5, p, { va, rkey: 0x105, len: 64 })], Buffer.from('fd000000000000000000000000000003', 'hex'));
    expect(other).toEqual(['peer']);
  });
});
