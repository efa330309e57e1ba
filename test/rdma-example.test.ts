/**
 * The README's RDMA example, kept runnable: two devices on IPv6 loopback, register, connect,
 * WRITE, READ, SEND. (Over IPv4 too, where the ICRC assumptions of transport/udp.ts apply.)
 */
import { describe, expect, it } from 'vitest';
import { ACCESS, RdmaDevice, connectPair, openUdpTransport } from '../src/rdma/index.js';

async function example(address: string) {
  // Two endpoints (two processes would use listenExchange/connectExchange to trade QPN, PSN, address, rkey).
  const a = new RdmaDevice(await openUdpTransport({ address, port: 0 }));
  const b = new RdmaDevice(await openUdpTransport({ address, port: 0 }));
  const pdA = a.allocPd();
  const pdB = b.allocPd();
  const cqA = a.createCq();
  const cqB = b.createCq();
  const qpA = a.createQp(pdA, { sendCq: cqA, recvCq: cqA });
  const qpB = b.createQp(pdB, { sendCq: cqB, recvCq: cqB });

  // Register memory: A's local buffer, B's buffer open to remote reads and writes.
  const bufA = Buffer.alloc(4096);
  const bufB = Buffer.alloc(4096);
  const mrA = pdA.regMr(bufA, ACCESS.LOCAL_WRITE);
  const mrB = pdB.regMr(bufB, ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ);

  // RESET -> INIT -> RTR -> RTS on both sides.
  connectPair(qpA, qpB, { pathMtu: 1024 });

  // RDMA WRITE: "hello" lands in B's memory; B's CPU is not involved.
  bufA.write('hello');
  qpA.postSend({ wrId: 1, opcode: 'rdma-write', sgList: [{ addr: mrA.addr, length: 5, lkey: mrA.lkey }], remoteAddr: mrB.addr, rkey: mrB.rkey });
  const w = await cqA.next();

  // RDMA READ: pull it back into A's buffer at offset 100.
  qpA.postSend({ wrId: 2, opcode: 'rdma-read', sgList: [{ addr: mrA.addr + 100, length: 5, lkey: mrA.lkey }], remoteAddr: mrB.addr, rkey: mrB.rkey });
  const r = await cqA.next();

  // SEND/RECV: B posts a receive first, then A sends.
  qpB.postRecv({ wrId: 3, sgList: [{ addr: mrB.addr + 1000, length: 64, lkey: mrB.lkey }] });
  bufA.write('ping', 200);
  qpA.postSend({ wrId: 4, opcode: 'send', sgList: [{ addr: mrA.addr + 200, length: 4, lkey: mrA.lkey }] });
  const s = await cqA.next();
  const recv = await cqB.next();

  await a.close();
  await b.close();
  return { w, r, s, recv, bufA, bufB };
}

describe('README example', () => {
  it.each(['::1', '127.0.0.1'])('register, connect, WRITE, READ, SEND over %s', async (address) => {
    const { w, r, s, recv, bufA, bufB } = await example(address);
    expect(w).toMatchObject({ wrId: 1, status: 'success', opcode: 'rdma-write' });
    expect(bufB.toString('utf8', 0, 5)).toBe('hello');
    expect(r).toMatchObject({ wrId: 2, status: 'success', opcode: 'rdma-read', byteLen: 5 });
    expect(bufA.toString('utf8', 100, 105)).toBe('hello');
    expect(s).toMatchObject({ wrId: 4, status: 'success', opcode: 'send' });
    expect(recv).toMatchObject({ wrId: 3, status: 'success', opcode: 'recv', byteLen: 4 });
    expect(bufB.toString('utf8', 1000, 1004)).toBe('ping');
  });
});
