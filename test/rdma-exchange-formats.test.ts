/**
 * The out-of-band messages of ibv_rc_pingpong and perftest, byte for byte: a C program compiled
 * here produces them with the C library's own printf and byte-order functions, using the formats
 * and conventions of rdma-core's libibverbs/examples (rc_pingpong.c, pingpong.c) and perftest's
 * perftest_communication.c; numaplan's encoders must produce the same bytes and its decoders must
 * read the C ones back. The tools themselves need an RDMA device to start, so the exchange with the
 * real programs is part of the guest interop suite.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cformat } from '../src/rdma/tools/cformat.js';
import { KEY_MSG_BYTES, PERFTEST_VERSION, decodeDest, encodeDest } from '../src/rdma/tools/perftest-wire.js';
import { PINGPONG_MSG_BYTES, decodePingpongDest, encodePingpongDest } from '../src/rdma/tools/pingpong.js';
import { tool } from './support/tools.js';

const C = `
#define _GNU_SOURCE
#include <byteswap.h>
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void hex(const char *what, const void *p, size_t n) {
  printf("%s ", what);
  for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
  printf("\\n");
}

int main(void) {
  /* rc_pingpong: gid_to_wire_gid, then "%04x:%06x:%06x:%s" into sizeof "0000:000000:000000:" + 32 + NUL. */
  unsigned char gid[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
  uint32_t words[4];
  char wgid[33];
  memcpy(words, gid, 16);
  for (int i = 0; i < 4; i++) sprintf(&wgid[i * 8], "%08x", htobe32(words[i]));
  char msg[sizeof "0000:000000:000000:00000000000000000000000000000000"];
  memset(msg, 0, sizeof msg);
  sprintf(msg, "%04x:%06x:%06x:%s", 0, 0x11, 0xabcdef, wgid);
  hex("pingpong", msg, sizeof msg);

  /* perftest: KEY_PRINT_FMT_GID into KEY_MSG_SIZE_GID (108) bytes. */
  unsigned char g4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 169, 254, 7, 2};
  char key[108];
  memset(key, 0, sizeof key);
  sprintf(key, "%04x:%04x:%06x:%06x:%08x:%016llx:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x:%08x:",
          0, 16, 0x12, 0x3456, 0xdead01u, 0x7f3a5c001000ull, g4[0], g4[1], g4[2], g4[3], g4[4], g4[5], g4[6], g4[7], g4[8], g4[9], g4[10], g4[11], g4[12], g4[13],
          g4[14], g4[15], 0);
  hex("key", key, sizeof key);

  /* perftest: the version block (strncpy into char[16]) and the MTU block (sprintf "%d", 2 bytes sent). */
  char version[16];
  memset(version, 0, sizeof version);
  strncpy(version, "${PERFTEST_VERSION}", sizeof version);
  hex("version", version, sizeof version);
  char cur[sizeof(int)];
  sprintf(cur, "%d", 3);
  hex("mtu", cur, 2);

  /* perftest: a bandwidth report (hton_long = bswap_64, hton_double = byte-swapped double). */
  unsigned long size = bswap_64(65536ul);
  uint64_t iters = bswap_64(5000);
  double vals[3] = {1096.63, 1096.19, 0.017539};
  hex("size", &size, 8);
  hex("iters", &iters, 8);
  for (int i = 0; i < 3; i++) {
    uint64_t u;
    memcpy(&u, &vals[i], 8);
    u = bswap_64(u);
    hex("double", &u, 8);
  }
  /* printf of the report line and the address line, as perftest prints them. */
  printf("line %s\\n", "");
  printf(" %-7lu    %-10lu       %-7.2lf            %-7.2lf\\t\\t   %-7.6lf\\n", 65536ul, 5000ul, 1096.63, 1096.19, 0.017539);
  printf(" %s address: LID %#04x QPN %#06x PSN %#06x RKey %#08x VAddr %#016llx\\n", "local", 0, 0x11, 0x3c2d1e, 0x1a2b3c, 0x7f3a5c001000ull);
  printf("  local address:  LID 0x%04x, QPN 0x%06x, PSN 0x%06x, GID %s\\n", 0, 0x11, 0xabcdef, "fd00::2");
  return 0;
}
`;

function referee(): Record<string, string[]> & { text: string } {
  const dir = mkdtempSync(join(tmpdir(), 'numaplan-cref-'));
  writeFileSync(join(dir, 'ref.c'), C);
  const cc = spawnSync('gcc', ['-O0', '-o', join(dir, 'ref'), join(dir, 'ref.c')], { encoding: 'utf8' });
  expect(cc.status, cc.stderr).toBe(0);
  const r = spawnSync(join(dir, 'ref'), [], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  const out: Record<string, string[]> = {};
  const [hexPart, text = ''] = r.stdout.split('line \n');
  for (const l of (hexPart as string).trim().split('\n')) {
    const [k, v] = l.split(' ') as [string, string];
    (out[k] ??= []).push(v);
  }
  return Object.assign(out, { text });
}

describe.runIf(tool('gcc'))('exchange messages against the C library', () => {
  const ref = referee();

  it("ibv_rc_pingpong's 52-byte address message", () => {
    const d = { lid: 0, qpn: 0x11, psn: 0xabcdef, gid: Buffer.from('fd000000000000000000000000000002', 'hex') };
    const mine = encodePingpongDest(d);
    expect(mine.length).toBe(PINGPONG_MSG_BYTES);
    expect(mine.toString('hex')).toBe(ref.pingpong?.[0]);
    expect(decodePingpongDest(Buffer.from(ref.pingpong?.[0] as string, 'hex'))).toEqual(d);
  });

  it("perftest's 108-byte key message", () => {
    const d = { lid: 0, outReads: 16, qpn: 0x12, psn: 0x3456, rkey: 0xdead01, vaddr: 0x7f3a5c001000n, gid: Buffer.from('00000000000000000000ffffa9fe0702', 'hex'), srqn: 0 };
    const mine = encodeDest(d);
    expect(mine.length).toBe(KEY_MSG_BYTES);
    expect(mine.toString('hex')).toBe(ref.key?.[0]);
    expect(decodeDest(Buffer.from(ref.key?.[0] as string, 'hex'))).toEqual(d);
  });

  it("perftest's version, MTU and report blocks", () => {
    const v = Buffer.alloc(16);
    v.write(PERFTEST_VERSION, 'latin1');
    expect(v.toString('hex')).toBe(ref.version?.[0]);
    const m = Buffer.alloc(2);
    m.write('3', 'latin1');
    expect(m.toString('hex')).toBe(ref.mtu?.[0]);
    const u = Buffer.alloc(8);
    u.writeBigUInt64BE(65536n);
    expect(u.toString('hex')).toBe(ref.size?.[0]);
    u.writeBigUInt64BE(5000n);
    expect(u.toString('hex')).toBe(ref.iters?.[0]);
    [1096.63, 1096.19, 0.017539].forEach((x, i) => {
      u.writeDoubleBE(x);
      expect(u.toString('hex')).toBe(ref.double?.[i]);
    });
  });

  it("the report and address lines, as perftest's and rc_pingpong's printf write them", () => {
    const lines = ref.text.split('\n');
    expect(cformat(' %-7lu    %-10lu       %-7.2lf            %-7.2lf\t\t   %-7.6lf\n', 65536, 5000, 1096.63, 1096.19, 0.017539)).toBe(`${lines[0]}\n`);
    expect(cformat(' %s address: LID %#04x QPN %#06x PSN %#06x RKey %#08x VAddr %#016llx\n', 'local', 0, 0x11, 0x3c2d1e, 0x1a2b3c, 0x7f3a5c001000n)).toBe(`${lines[1]}\n`);
    expect(cformat('  local address:  LID 0x%04x, QPN 0x%06x, PSN 0x%06x, GID %s\n', 0, 0x11, 0xabcdef, 'fd00::2')).toBe(`${lines[2]}\n`);
  });
});
