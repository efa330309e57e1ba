/**
 * numaplan's software RoCE v2 endpoint: a verbs-style API (device, protection domains, memory
 * regions, completion queues, RC queue pairs) over real RoCE v2 packets on UDP, plus the wire
 * format, capture decoding and the perftest-like measurement.
 */
export { RdmaDevice } from './verbs/device.js';
export { ProtectionDomain } from './verbs/pd.js';
export { CompletionQueue } from './verbs/cq.js';
export { QueuePair, type QpInit } from './verbs/qp.js';
export { ACCESS } from './verbs/types.js';
export type { PathMtu, PeerAddress, QpAttr, QpState, RecvWr, SendWr, Sge, WcOpcode, WcStatus, WorkCompletion } from './verbs/types.js';
export { type ConnectOptions, type PeerInfo, bringUp, connectPair } from './verbs/connect.js';
export { openUdpTransport, type UdpTransportOptions } from './transport/udp.js';
export { Fabric, type FabricOptions } from './transport/fabric.js';
export type { PacketTransport, TransportStats } from './transport/transport.js';
export { connectExchange, listenExchange } from './transport/exchange.js';
export { type RocePacket, decodePacket, encodePacket } from './wire/packet.js';
export { OP, opcodeName } from './wire/opcodes.js';
export { icrcForUdp, icrcOfIpPacket } from './wire/icrc.js';
export { decodeCapture, type DecodedRoce } from './decode-capture.js';
export { readCapture } from './pcap.js';
export { writePcap } from './pcap-writer.js';
export { perfLocal, type PerfOptions, type PerfResult } from './perf.js';
export { runPingpong, type PingpongOptions, type PingpongResult } from './tools/pingpong.js';
export { runPerftest, PERFTEST_TESTS, type PerftestOptions, type PerftestResult, type PerftestTest } from './tools/perftest.js';
export { roceSourcePort } from './wire/flow.js';
export { rawIoAvailable, nativeIoAvailable, IPV4_UDP_NOTICE } from './transport/udp.js';
export type { MemoryRegion, RegMrOptions } from './verbs/mr.js';
