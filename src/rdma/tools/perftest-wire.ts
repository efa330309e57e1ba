/**
 * perftest's out-of-band exchange (perftest_communication.c, "Ethernet" data exchange, as in
 * perftest 4.5-0.17, which calls itself version 6.06), byte for byte:
 *
 * - every exchange of a block is symmetric: the client writes its block then reads the server's; the
 *   server reads then writes;
 * - versions: a 16-byte NUL-padded text ("6.06"); a peer below 5.70 is refused, as perftest does;
 * - system data (peer 5.32 and later): the cycle buffer (page size) and cache line size, 4-byte
 *   big-endian integers, each side taking the larger;
 * - MTU (peer 5.1 and later): the ibv_mtu enum (1 = 256 .. 5 = 4096) as decimal text in 2 bytes (4
 *   before 5.31), each side taking the smaller valid one;
 * - keys, once per QP and again at several synchronisation points: the 107-character text
 *   "%04x:%04x:%06x:%06x:%08x:%016llx:" (LID, outstanding reads, QPN, PSN, rkey, vaddr), the 16 GID
 *   bytes as "%02x:" each, "%08x:" (SRQ number), and a NUL: 108 bytes;
 * - bandwidth reports (the server prints the client's): message size and iterations as 8-byte
 *   big-endian integers (iterations 4 bytes for peers before 5.33), peak and average bandwidth and
 *   message rate as big-endian IEEE-754 doubles;
 * - closing: a last key exchange, then "done" and its NUL.
 */
import { RdmaError } from '../errors.js';
import { cformat } from './cformat.js';
import type { MessageSocket } from './tcp.js';

/** The perftest version numaplan's exchange matches (the one the exchange reports). */
export const PERFTEST_VERSION = '6.06';
/** The oldest peer perftest (and numaplan) accept. */
export const PERFTEST_MIN_VERSION = 5.7;
/** Bytes of a key message with a GID (KEY_MSG_SIZE_GID). */
export const KEY_MSG_BYTES = 108;

/** One QP's keys as perftest exchanges them (struct pingpong_dest). */
export interface PerftestDest {
  lid: number;
  outReads: number;
  qpn: number;
  psn: number;
  rkey: number;
  vaddr: bigint;
  gid: Buffer;
  srqn: number;
}

/** The key message of a QP (KEY_PRINT_FMT_GID, NUL-terminated, 108 bytes). */
export function encodeDest(d: PerftestDest): Buffer {
  let text = cformat('%04x:%04x:%06x:%06x:%08x:%016llx:', d.lid, d.outReads, d.qpn, d.psn, d.rkey >>> 0, d.vaddr);
  for (const b of d.gid) text += cformat('%02x:', b);
  text += cformat('%08x:', d.srqn >>> 0);
  const out = Buffer.alloc(KEY_MSG_BYTES);
  if (text.length !== KEY_MSG_BYTES - 1) throw new RangeError(`key message of ${text.length} characters`);
  out.write(text, 'latin1');
  return out;
}

/** Parses a peer's key message. */
export function decodeDest(b: Buffer): PerftestDest {
  const text = b.toString('latin1').split('\0')[0] ?? '';
  const f = text.split(':');
  const hex = (s: string | undefined, what: string): string => {
    if (s === undefined || !/^[0-9a-fA-F]+$/.test(s)) throw new RdmaError('exchange', `bad ${what} in a perftest key message: "${text}"`, 'ERR_RDMA_EXCHANGE');
    return s;
  };
  const n = (i: number, what: string) => Number.parseInt(hex(f[i], what), 16);
  const gid = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) gid[i] = n(6 + i, 'GID');
  return { lid: n(0, 'LID'), outReads: n(1, 'outstanding reads'), qpn: n(2, 'QPN'), psn: n(3, 'PSN'), rkey: n(4, 'rkey') >>> 0, vaddr: BigInt(`0x${hex(f[5], 'vaddr')}`), gid, srqn: n(22, 'SRQ number') };
}

/** One side's bandwidth report (struct bw_report_data, the fields exchanged). */
export interface BwReport {
  size: number;
  iters: number;
  bwPeak: number;
  bwAvg: number;
  msgRateAvg: number;
}

/** The ibv_mtu enum of a path MTU. */
export function mtuEnum(mtu: number): number {
  return Math.log2(mtu) - 7;
}

/** A perftest exchange on an established TCP connection. */
export class PerftestWire {
  /** The peer's version, once exchanged. */
  remoteVersion = '';

  constructor(
    private readonly sock: MessageSocket,
    /** The client writes first. */
    private readonly client: boolean,
  ) {}

  /** ctx_xchg_data: one block each way. */
  async xchg(mine: Buffer, what: string): Promise<Buffer> {
    if (this.client) {
      await this.sock.write(mine);
      return this.sock.read(mine.length, what);
    }
    const theirs = await this.sock.read(mine.length, what);
    await this.sock.write(mine);
    return theirs;
  }

  private get remote(): number {
    return Number.parseFloat(this.remoteVersion) || 0;
  }

  /** exchange_versions and check_version_compatibility. */
  async versions(): Promise<string> {
    const mine = Buffer.alloc(16);
    mine.write(PERFTEST_VERSION, 'latin1');
    const theirs = await this.xchg(mine, 'the version');
    this.remoteVersion = theirs.toString('latin1').split('\0')[0] ?? '';
    if (!(this.remote >= PERFTEST_MIN_VERSION))
      throw new RdmaError('exchange', `the peer's perftest version "${this.remoteVersion}" is older than ${PERFTEST_MIN_VERSION} (perftest refuses it too)`, 'ERR_RDMA_EXCHANGE');
    return this.remoteVersion;
  }

  /** check_sys_data: the larger cycle buffer and cache line size of the two. */
  async sysData(cycleBuffer: number, cacheLine: number): Promise<{ cycleBuffer: number; cacheLine: number }> {
    if (!(this.remote >= 5.32)) return { cycleBuffer, cacheLine };
    const int = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(v);
      return b;
    };
    const rc = (await this.xchg(int(cycleBuffer), 'the page size')).readInt32BE(0);
    const rl = (await this.xchg(int(cacheLine), 'the cache line size')).readInt32BE(0);
    return { cycleBuffer: Math.max(rc, cycleBuffer), cacheLine: Math.max(rl, cacheLine) };
  }

  /** check_mtu: the smaller valid MTU (as an ibv_mtu enum) of the two. */
  async mtu(mine: number): Promise<number> {
    if (!(this.remote >= 5.1)) return mine;
    const size = this.remote >= 5.31 ? 2 : 4;
    const b = Buffer.alloc(size);
    b.write(String(mine), 'latin1');
    const theirs = Number.parseInt((await this.xchg(b, 'the MTU')).toString('latin1').split('\0')[0] ?? '', 10);
    return Number.isInteger(theirs) && theirs >= 1 && theirs <= 5 && mine > theirs ? theirs : mine;
  }

  /** ctx_hand_shake: one QP's keys each way. */
  async keys(mine: PerftestDest): Promise<PerftestDest> {
    return decodeDest(await this.xchg(encodeDest(mine), 'the QP keys'));
  }

  /** xchg_bw_reports. */
  async bwReport(mine: BwReport): Promise<BwReport> {
    const u64 = (v: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(Math.max(0, Math.trunc(v))));
      return b;
    };
    const dbl = (v: number) => {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v);
      return b;
    };
    const size = Number((await this.xchg(u64(mine.size), 'the report')).readBigUInt64BE(0));
    let iters: number;
    if (this.remote >= 5.33) iters = Number((await this.xchg(u64(mine.iters), 'the report')).readBigUInt64BE(0));
    else {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(mine.iters >>> 0);
      iters = (await this.xchg(b, 'the report')).readUInt32BE(0);
    }
    const bwPeak = (await this.xchg(dbl(mine.bwPeak), 'the report')).readDoubleBE(0);
    const bwAvg = (await this.xchg(dbl(mine.bwAvg), 'the report')).readDoubleBE(0);
    const msgRateAvg = (await this.xchg(dbl(mine.msgRateAvg), 'the report')).readDoubleBE(0);
    return { size, iters, bwPeak, bwAvg, msgRateAvg };
  }

  /** ctx_close_connection: a last key exchange, then "done". */
  async close(mine: PerftestDest): Promise<void> {
    await this.keys(mine);
    await this.sock.write(Buffer.from('done\0', 'latin1'));
  }
}
