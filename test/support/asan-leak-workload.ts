/**
 * A workload for LeakSanitizer (run by test/rdma-asan.test.ts in a child process, against the
 * AddressSanitizer build of the addon): every error path of the addon's send, senders opened and
 * closed, regions registered and dropped, placed and unplaced traffic, then close. LeakSanitizer
 * reports any allocation of the addon still unreachable at exit.
 */
import { openUdpTransport } from '../../src/rdma/transport/udp.js';
import { loadRoceUdpAddon } from '../../src/rdma/transport/native-addon.js';
import { connectPair } from '../../src/rdma/verbs/connect.js';
import { RdmaDevice } from '../../src/rdma/verbs/device.js';
import { ACCESS } from '../../src/rdma/verbs/types.js';

const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;
const { addon, path } = loadRoceUdpAddon();
if (!addon) throw new Error('addon missing');
process.stdout.write(`addon ${path}\n`);

const ta = await openUdpTransport({ address: '::1', port: 0, io: 'native' });
const tb = await openUdpTransport({ address: '::1', port: 0, io: 'native' });
const handle = (ta as unknown as { handle: object }).handle;
const name = Buffer.alloc(28);
name.writeUInt16LE(10, 0);
name.writeUInt16BE(tb.local.port, 2);
name[23] = 1;
let errors = 0;
const bad: unknown[] = [[Buffer.alloc(20), 'not a buffer'], 42, [Buffer.alloc(20), null]];
for (let i = 0; i < 300; i++) {
  for (const pkt of bad) {
    try {
      addon.send(handle, 0, name, [Buffer.alloc(32), pkt] as never, 0, 2);
    } catch {
      errors++;
    }
  }
  try {
    addon.send(handle, 0, [name, 'x'] as never, [Buffer.alloc(32), Buffer.alloc(32)], 0, 2);
  } catch {
    errors++;
  }
}
for (let i = 0; i < 50; i++) {
  const t = addon.txOpen(handle, 50000 + i, name, true);
  addon.txClose(handle, t.id);
}
const a = new RdmaDevice(ta);
const b = new RdmaDevice(tb);
const pa = a.allocPd();
const pb = b.allocPd();
const ma = pa.regMr(Buffer.alloc(1 << 20), ALL);
const cq = a.createCq();
const qa = a.createQp(pa, { sendCq: cq, recvCq: a.createCq() });
const qb = b.createQp(pb, { sendCq: b.createCq(), recvCq: b.createCq() });
const regions = Array.from({ length: 20 }, () => pb.regMr(Buffer.alloc(1 << 16), ALL));
connectPair(qa, qb, { pathMtu: 4096 });
for (let i = 0; i < 200; i++) {
  const r = regions[i % regions.length];
  if (!r) continue;
  qa.postSend({ wrId: i, opcode: 'rdma-write', sgList: [{ addr: ma.addr, length: 60000, lkey: ma.lkey }], remoteAddr: r.addr, rkey: r.rkey });
  if (i % 7 === 6) pb.reregMr(r);
}
let done = 0;
while (done < 200) {
  await cq.wait();
  done += cq.poll(256).length;
}
for (const r of regions) pb.deregMr(r);
await a.close();
await b.close();
process.stdout.write(`errors ${errors}, completions ${done}\n`);
