/** JSON-friendly views of decoded RoCE packets (64-bit values as 0x-prefixed hex strings). */
import type { DecodedRoce } from './decode-capture.js';
import { aethSyndrome } from './wire/aeth.js';
import type { RocePacket } from './wire/packet.js';

const hex64 = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;

/** The headers of a packet as plain JSON. */
export function packetToJson(p: RocePacket): Record<string, unknown> {
  const out: Record<string, unknown> = { bth: { ...p.bth } };
  if (p.deth) out.deth = { ...p.deth };
  if (p.reth) out.reth = { va: hex64(p.reth.va), rkey: p.reth.rkey, dmaLength: p.reth.dmaLength };
  if (p.aeth) out.aeth = { syndrome: aethSyndrome(p.aeth), ...p.aeth };
  if (p.atomicEth)
    out.atomicEth = { va: hex64(p.atomicEth.va), rkey: p.atomicEth.rkey, swapAdd: hex64(p.atomicEth.swapAdd), compare: hex64(p.atomicEth.compare) };
  if (p.atomicAckData !== undefined) out.atomicAckEth = { origData: hex64(p.atomicAckData) };
  if (p.immDt !== undefined) out.immDt = p.immDt;
  if (p.ieth !== undefined) out.ieth = p.ieth;
  out.payloadLength = p.payload.length;
  return out;
}

/** One decoded capture packet as plain JSON: opcode, destQp, psn, icrcOk first, then the headers. */
export function decodedToJson(d: DecodedRoce): Record<string, unknown> {
  const { packet, ...rest } = d;
  return {
    frame: rest.frame,
    opcode: rest.opcode,
    opcodeName: rest.opcodeName,
    destQp: rest.destQp,
    psn: rest.psn,
    icrc: `0x${rest.icrc.toString(16).padStart(8, '0')}`,
    icrcOk: rest.icrcOk,
    time: rest.time,
    ipVersion: rest.ipVersion,
    src: rest.src,
    dst: rest.dst,
    srcPort: rest.srcPort,
    dstPort: rest.dstPort,
    ...(rest.vlans.length > 0 ? { vlans: rest.vlans } : {}),
    ...(packet ? packetToJson(packet) : {}),
    ...(rest.error !== undefined ? { error: rest.error } : {}),
  };
}
