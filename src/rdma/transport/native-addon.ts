/**
 * Loads the optional native addon for batched UDP I/O (native/roce-udp.cc, built by node-gyp into
 * build/Release/roce_udp.node at the package root). The same relative path works from src/ (tests)
 * and dist/ (the CLI): both sit three directories below the root.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's functions (see native/roce-udp.cc for the contract). */
export interface RoceUdpAddon {
  open(
    v6: boolean,
    addr: Buffer,
    port: number,
    bufBytes: number,
    batch: number,
    slotBytes: number,
    onRecv: (count: number) => Buffer | undefined,
    onWritable: () => void,
    icrc: boolean,
  ): { handle: object; port: number; rcvbuf: number; sndbuf: number; slab: Buffer; meta: Buffer };
  /** Sends packets[start..start+count) to names[...] (sockaddr bytes; one Buffer: all to it); returns how many were consumed. */
  send(handle: object, names: readonly Buffer[] | Buffer, packets: readonly (Buffer | readonly Buffer[])[], start: number, count: number): number;
  watchWritable(handle: object, on: boolean): void;
  setSlab(handle: object, slab: Buffer): void;
  sendErrors(handle: object): number;
  ntop(bytes: Buffer): string;
  /** zlib-compatible CRC-32 (PCLMULQDQ folding where the CPU has it). */
  crc32(data: Buffer, init?: number): number;
  /** The ICRC the send path writes for `roce` (BTH .. ICRC slot) from src:srcPort to dst:dstPort. */
  icrc(src: Buffer, dst: Buffer, srcPort: number, dstPort: number, roce: Buffer, ipv4Id: number, ipv4FlagsFrag: number): number;
  /** Direct data placement: registers (or replaces) a region RDMA WRITEs may be placed into. */
  ddpMr(handle: object, rkey: number, bytes: Uint8Array, va: number, pd: number, access: number): void;
  /** Direct data placement: nothing is placed into the region from now on. */
  ddpMrDrop(handle: object, rkey: number): void;
  /** Direct data placement: the responder state of a queue pair (see native/roce-udp.cc). */
  ddpQp(
    handle: object,
    qpn: number,
    enabled: boolean,
    ePsn: number,
    mtu: number,
    pd: number,
    remoteWrite: boolean,
    peerAddr: Buffer,
    peerPort: number,
    cur: 0 | 1 | 2,
    curRkey: number,
    curOffset: number,
    curRemaining: number,
  ): void;
  /** Direct data placement: every packet of the queue pair goes to JS from now on. */
  ddpQpDrop(handle: object, qpn: number): void;
  /** connect(2)s the socket to one peer (sockaddr bytes; empty: disconnect); true when done. */
  connectPeer(handle: object, name: Buffer): boolean;
  close(handle: object): void;
}

/** Where the addon is expected (absolute path). */
export const ADDON_PATH = fileURLToPath(new URL('../../../build/Release/roce_udp.node', import.meta.url));

let cached: { addon: RoceUdpAddon | null; reason: string } | null = null;

/** The addon, or null with the reason it is unavailable (not built, not Linux, failed to load). */
export function loadRoceUdpAddon(): { addon: RoceUdpAddon | null; reason: string } {
  if (cached) return cached;
  if (process.platform !== 'linux') cached = { addon: null, reason: `batched UDP I/O needs Linux (this is ${process.platform})` };
  else if (!existsSync(ADDON_PATH)) cached = { addon: null, reason: `the native addon is not built (${ADDON_PATH} is missing; run npm ci or npx node-gyp rebuild)` };
  else {
    try {
      const req = createRequire(import.meta.url);
      cached = { addon: req(ADDON_PATH) as RoceUdpAddon, reason: 'loaded' };
    } catch (e) {
      cached = { addon: null, reason: `the native addon failed to load: ${(e as Error).message}` };
    }
  }
  return cached;
}
