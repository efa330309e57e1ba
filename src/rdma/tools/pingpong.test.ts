/**
 * numaplan rdma pingpong's -c (ibv_rc_pingpong's --chk), both roles in one process over IPv6
 * loopback: with it on both sides every message carries the client's 0 at each page start and the
 * server's check of the last message passes; with it on one side only, numaplan flags the messages
 * (and the server names the pages), as the tool's server would.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type PingpongResult, runPingpong } from './pingpong.js';

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp6');
  await new Promise<void>((r) => s.bind(0, '::1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '::1', () => r()));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof a === 'object' && a ? a.port : 0;
}

async function pair(serverChk: boolean, clientChk: boolean, size: number): Promise<{ s: PingpongResult; c: PingpongResult; lines: string[] }> {
  const [tcp, rs, rc] = [await freeTcpPort(), await freeUdpPort(), await freeUdpPort()];
  const lines: string[] = [];
  const common = { size, iters: 20, rxDepth: 4, tcpPort: tcp, local: '::1' };
  const server = runPingpong({ ...common, rocePort: rs, peerRocePort: rc, validate: serverChk, out: (l) => lines.push(l) });
  // The server listens before the client connects: retry the connection until it does.
  let client: PingpongResult | null = null;
  for (let i = 0; client === null; i++) {
    try {
      client = await runPingpong({ ...common, server: '::1', rocePort: rc, peerRocePort: rs, validate: clientChk });
    } catch (e) {
      if (i > 200 || !/cannot connect/.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return { s: await server, c: client, lines };
}

describe('pingpong -c', () => {
  it('both sides: every message is the tool\'s pattern and the server\'s check passes', async () => {
    const { s, c, lines } = await pair(true, true, 10000);
    expect([s.corrupt, c.corrupt, s.invalidPages, c.invalidPages]).toEqual([0, 0, [], []]);
    expect(lines.some((l) => l.startsWith('invalid data'))).toBe(false);
  });

  it('only the client: numaplan\'s server flags every message (0 where it expects 0x7b)', async () => {
    const { s, c } = await pair(false, true, 10000);
    expect([s.corrupt, c.corrupt, s.invalidPages]).toEqual([20, 0, []]);
  });

  it('only the server: it flags every message and names each page, as the tool prints them', async () => {
    const { s, c, lines } = await pair(true, false, 10000);
    expect([s.corrupt, c.corrupt, s.invalidPages]).toEqual([20, 0, [0, 1, 2]]);
    expect(lines.filter((l) => l.startsWith('invalid data'))).toEqual(['invalid data in page 0\n', 'invalid data in page 1\n', 'invalid data in page 2\n']);
  });
});
