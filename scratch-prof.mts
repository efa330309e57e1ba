import { openUdpTransport } from './src/rdma/transport/udp.ts';
import { perfEndpoint, localInfo } from './src/rdma/perf.ts';
import { bringUp } from './src/rdma/verbs/connect.ts';
const s = perfEndpoint(await openUdpTransport({ address: '::1', port: 0, io: 'native' }), 1 << 20, 16);
const c = perfEndpoint(await openUdpTransport({ address: '::1', port: 0, io: 'native' }), 1 << 20, 16);
bringUp(s.qp, 1, localInfo(c, 2), { pathMtu: 4096 });
bringUp(c.qp, 2, localInfo(s, 1), { pathMtu: 4096 });
async function burst() {
  for (let i = 0; i < 16; i++) c.qp.postSend({ wrId: i, opcode: 'rdma-write', sgList: [{ addr: c.mr.addr + i * 65536, length: 65536, lkey: c.mr.lkey }], remoteAddr: s.mr.addr + i * 65536, rkey: s.mr.rkey });
  let done = 0; while (done < 16) { await c.cq.wait(); done += c.cq.poll(64).length; }
}
for (let i = 0; i < 50; i++) await burst();
const times: number[] = [];
for (let i = 0; i < 400; i++) { const t = performance.now(); await burst(); times.push(performance.now() - t); }
times.sort((a, b) => a - b);
console.log('median ms', times[200].toFixed(3), 'p10', times[40].toFixed(3));
await c.dev.close(); await s.dev.close();
