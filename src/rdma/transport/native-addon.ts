/**
 * Loads the optional native addon for batched UDP and raw IPv4 I/O (native/*.cc, built by node-gyp
 * into build/Release/roce_udp.node at the package root). The same relative path works from src/
 * (tests) and dist/ (the CLI): both sit three directories below the root. NUMAPLAN_ROCE_ADDON
 * names another build of it (the AddressSanitizer build CI runs the RDMA suites against).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Options of `open`. */
export interface AddonOpenOptions {
  v6: boolean;
  addr: Buffer;
  port: number;
  bufBytes: number;
  batch: number;
  slot: number;
  /** Raw IPv4 I/O: whole IPv4 headers written and read (needs root or CAP_NET_RAW). */
  raw: boolean;
  /** Mark outgoing packets ECT(0). */
  ecn: boolean;
  /** Generate and verify ICRCs. */
  icrc: boolean;
  /** Send runs of equal packets as UDP GSO messages (IPv6 UDP I/O; default true). */
  gso?: boolean;
  /** Receive with UDP GRO where the kernel offers it (UDP I/O; default true): the addon splits coalesced receives. */
  gro?: boolean;
  onRecv: (count: number) => Buffer | undefined;
  onWritable: (txId: number) => void;
}

/** The addon's functions (see native/addon.cc for the contract). */
export interface RoceUdpAddon {
  open(o: AddonOpenOptions): { handle: object; port: number; rcvbuf: number; sndbuf: number; slab: Buffer; meta: Buffer; raw: boolean; gro: boolean };
  /** A sender with UDP source port `srcPort` (connected to `peerName` when `connect`); id 0 is the receiving socket. */
  txOpen(handle: object, srcPort: number, peerName: Buffer, connect: boolean): { id: number; port: number };
  txClose(handle: object, id: number): void;
  /** Sends packets[start..start+count) from sender `id` to names[...] (sockaddr bytes; one Buffer: all to it); returns how many were consumed. */
  send(handle: object, id: number, names: readonly Buffer[] | Buffer, packets: readonly (Buffer | readonly Buffer[])[], start: number, count: number): number;
  watchWritable(handle: object, id: number, on: boolean): void;
  setSlab(handle: object, slab: Buffer): void;
  sendErrors(handle: object): number;
  /** Receive counters: receives (recvmmsg messages), those that carried several datagrams (UDP GRO), datagrams. */
  rxStats(handle: object): { gro: boolean; messages: number; coalesced: number; packets: number };
  /** Whether this process may open raw IPv4 sockets (root or CAP_NET_RAW). */
  rawPermitted(): boolean;
  ntop(bytes: Buffer): string;
  /** zlib-compatible CRC-32 (PCLMULQDQ folding where the CPU has it). */
  crc32(data: Buffer, init?: number): number;
  /** The ICRC the UDP send path writes for `roce` (BTH .. ICRC slot) from src:srcPort to dst:dstPort. */
  icrc(src: Buffer, dst: Buffer, srcPort: number, dstPort: number, roce: Buffer, ipv4Id: number, ipv4FlagsFrag: number): number;
  /** The ICRC of an IP packet (IPv4 with any IHL, or IPv6; UDP; RoCE) over its real header, or null when it is not one. */
  icrcIp(ip: Buffer): number | null;
  /** Direct data placement: registers (or replaces) a region RDMA WRITEs may be placed into. */
  ddpMr(handle: object, rkey: number, bytes: Uint8Array, va: number, pd: number, access: number): void;
  /** Direct data placement: nothing is placed into the region from now on. */
  ddpMrDrop(handle: object, rkey: number): void;
  /** Direct data placement: the responder state of a queue pair (see native/placement.h). */
  ddpQp(
    handle: object,
    qpn: number,
    enabled: boolean,
    ePsn: number,
    mtu: number,
    pd: number,
    remoteWrite: boolean,
    peerAddr: Buffer,
    cur: 0 | 1 | 2,
    curRkey: number,
    curOffset: number,
    curRemaining: number,
  ): void;
  /** Direct data placement: every packet of the queue pair goes to JS from now on. */
  ddpQpDrop(handle: object, qpn: number): void;
  /** The placement unit on its own: each packet's check name ("ok" when placed into the regions' bytes). */
  placeSim(
    regions: readonly { rkey: number; pd: number; access: number; va: number; bytes: Uint8Array }[],
    qps: readonly (readonly [number, boolean, number, number, number, boolean, Buffer, 0 | 1 | 2, number, number, number])[],
    packets: readonly Buffer[],
    src: Buffer,
  ): string[];
  /** Receives what is queued on the receiving socket now (one onRecv call per batch); a no-op inside onRecv and once closed. */
  drain(handle: object): void;
  close(handle: object): void;
}

/** Where the addon is expected (absolute path). */
export const ADDON_PATH = fileURLToPath(new URL('../../../build/Release/roce_udp.node', import.meta.url));

let cached: { addon: RoceUdpAddon | null; reason: string; path: string } | null = null;

/** The addon, or null with the reason it is unavailable (not built, not Linux, failed to load). */
export function loadRoceUdpAddon(): { addon: RoceUdpAddon | null; reason: string; path: string } {
  if (cached) return cached;
  const override = process.env.NUMAPLAN_ROCE_ADDON;
  const path = override ? resolve(override) : ADDON_PATH;
  if (process.platform !== 'linux') cached = { addon: null, reason: `native socket I/O needs Linux (this is ${process.platform})`, path };
  else if (!existsSync(path))
    cached = { addon: null, reason: `the native addon is not built (${path} is missing; run npm ci or npm run build:native)`, path };
  else {
    try {
      const req = createRequire(import.meta.url);
      cached = { addon: req(path) as RoceUdpAddon, reason: 'loaded', path };
    } catch (e) {
      cached = { addon: null, reason: `the native addon failed to load: ${(e as Error).message}`, path };
    }
  }
  return cached;
}
