/**
 * Native UDP I/O connects its socket when every queue pair of the device talks to one peer (no
 * route lookup per datagram) and disconnects as soon as a queue pair towards another peer reaches
 * RTR, so traffic with several peers keeps working.
 */
import { describe, expect, it } from 'vitest';
import type { NativeUdpTransport } from '../src/rdma/transport/native-udp.js';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { connectPair } from '../src/rdma/verbs/connect.js';
import { RdmaDevice } from '../src/rdma/verbs/device.js';
import { ACCESS } from '../src/rdma/verbs/types.js';

const RUN = nativeIoAvailable().available || process.env.CI === 'true';
const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;

async function endpoint() {
  const t = (await openUdpTransport({ address: '::1', port: 0, io: 'native' })) as NativeUdpTransport;
  const dev = new RdmaDevice(t);
  const pd = dev.allocPd();
  const mem = Buffer.alloc(1 << 16);
  const mr = pd.regMr(mem, ALL);
  const cq = dev.createCq();
  return { t, dev, pd, mem, mr, cq, qp: () => dev.createQp(pd, { sendCq: cq, recvCq: dev.createCq() }) };
}

type Ep = Awaited<ReturnType<typeof endpoint>>;

async function writeAndWait(from: Ep, qp: ReturnType<Ep['qp']>, to: Ep, off: number, fill: number): Promise<void> {
  from.mem.fill(fill, off, off + 10000);
  qp.postSend({ wrId: fill, opcode: 'rdma-write', sgList: [{ addr: from.mr.addr + off, length: 10000, lkey: from.mr.lkey }], remoteAddr: to.mr.addr + off, rkey: to.mr.rkey });
  const wc = await from.cq.next();
  expect(wc.status).toBe('success');
  expect(to.mem.subarray(off, off + 10000).every((b) => b === fill)).toBe(true);
}

describe.runIf(RUN)('native UDP I/O with one peer or several', () => {
  it('connects to a sole peer, disconnects when a second peer appears, and both peers are served', async () => {
    const s = await endpoint();
    const a = await endpoint();
    const b = await endpoint();
    const sa = s.qp();
    const qa = a.qp();
    connectPair(sa, qa, { pathMtu: 1024 });
    expect(s.t.connectedTo).toBe(`::1|${a.t.local.port}`);
    expect(a.t.connectedTo).toBe(`::1|${s.t.local.port}`);
    await writeAndWait(a, qa, s, 0, 1);
    const sb = s.qp();
    const qb = b.qp();
    connectPair(sb, qb, { pathMtu: 1024 });
    expect(s.t.connectedTo).toBeNull();
    await writeAndWait(b, qb, s, 20000, 2);
    await writeAndWait(a, qa, s, 40000, 3);
    s.dev.destroyQp(sb);
    expect(s.t.connectedTo).toBe(`::1|${a.t.local.port}`);
    await writeAndWait(a, qa, s, 0, 4);
    for (const e of [s, a, b]) await e.dev.close();
  });
});
