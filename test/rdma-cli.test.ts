/** `numaplan rdma decode` on real captures and on generated ones (through the command's registration). */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './support/cli.js';
import { writePcap } from '../src/rdma/pcap-writer.js';
import { buildRoceFrame } from '../src/rdma/wire/frame.js';
import { parseIp } from '../src/rdma/wire/ip-address.js';
import { OP } from '../src/rdma/wire/opcodes.js';
import { encodePacket } from '../src/rdma/wire/packet.js';
import { dataSet } from './support/data.js';

const run = (argv: string[]): Promise<CliResult> => runCli(argv);

const dir = dataSet('rdma/pcaps');

/** `--json` prints JSON Lines: one object per packet and line. */
function jsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);
}

describe.skipIf(!dir)('rdma decode on real captures', () => {
  it('emits one JSON object per RoCE packet with opcode, destQp, psn, icrcOk', async () => {
    let total = 0;
    for (const f of readdirSync(dir as string).filter((x) => x.endsWith('.pcap'))) {
      const r = await run(['rdma', 'decode', join(dir as string, f), '--json']);
      expect(r.code).toBe(0);
      const arr = jsonLines(r.out) as { opcode: number; destQp: number; psn: number; icrcOk: boolean }[];
      for (const p of arr) {
        expect(typeof p.opcode).toBe('number');
        expect(typeof p.destQp).toBe('number');
        expect(typeof p.psn).toBe('number');
        expect(p.icrcOk).toBe(true);
      }
      total += arr.length;
    }
    expect(total).toBe(281);
  });

  it('prints a table by default', async () => {
    const r = await run(['rdma', 'decode', join(dir as string, 'rdma_read_bw.pcap')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('RC_RDMA_READ_REQUEST (12)');
    expect(r.out).toContain('20 RoCE v2 packets, 20 with a valid ICRC');
  });
});

describe('rdma decode on generated captures', () => {
  it('flags a corrupted ICRC with exit code 1, and bad input with 2', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'numaplan-rdma-'));
    const roce = encodePacket({
      bth: { opcode: OP.SEND_ONLY, se: false, migReq: false, padCount: 0, tver: 0, pKey: 0xffff, fecn: false, becn: false, destQp: 0x12, ackReq: true, psn: 7 },
      payload: Buffer.from('hello'),
    });
    const good = buildRoceFrame({ srcAddr: parseIp('::1') as Buffer, dstAddr: parseIp('::1') as Buffer, srcPort: 50000 }, roce);
    const bad = Buffer.from(good);
    bad.writeUInt8((bad[bad.length - 6] ?? 0) ^ 1, bad.length - 6);
    writeFileSync(join(tmp, 'x.pcap'), writePcap([good, bad]));
    const r = await run(['rdma', 'decode', join(tmp, 'x.pcap'), '--json']);
    expect(r.code).toBe(1);
    const arr = jsonLines(r.out) as { icrcOk: boolean; ipVersion: number; psn: number }[];
    expect(arr.map((p) => p.icrcOk)).toEqual([true, false]);
    expect(arr[0]?.ipVersion).toBe(6);
    writeFileSync(join(tmp, 'junk.pcap'), 'not a capture at all');
    const j = await run(['rdma', 'decode', join(tmp, 'junk.pcap'), '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.out).error.code).toBe('ERR_RDMA_PCAP');
  });
});
