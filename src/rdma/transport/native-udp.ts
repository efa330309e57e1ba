/**
 * RoCE v2 over sockets driven by the native addon (Linux): batched system calls, same packets.
 *
 * Receive: one socket bound to the transport's address and RoCE port (4791 unless told
 * otherwise). libuv watches it; on readable the addon drains it with recvmmsg(2) into a slab,
 * verifies each ICRC, places in-order RDMA WRITEs (below) and calls back once per batch; short,
 * oversized and ICRC-failing datagrams are counted and skipped as udp.ts does. Handed-out packets
 * are views of the slab, so a fresh slab is given to the addon after a batch that delivered any.
 * With UDP I/O the socket asks for UDP GRO (`gro`, where the kernel offers it): one receive may
 * then carry a run of datagrams of one flow (over loopback a whole UDP GSO send), and the addon
 * splits it at the segment length the kernel reports, each datagram checked, verified and placed
 * as if it had arrived alone, so far fewer receives (and no segmenting by the kernel) per MiB.
 *
 * Send: every packet leaves from its queue pair's UDP source port (its flow, wire/flow.ts), so
 * each source port is a sender: with UDP I/O a socket of its own bound to that port (or to any free
 * port when another socket holds it: the flow keeps one port either way), marked ECT(0), over IPv6
 * connected to the peer (sendmmsg without addresses, no route lookup per datagram). Packets handed
 * to `send`/`sendFramed` are queued per sender and leave in ONE sendmmsg(2) per batch: when the
 * queue reaches `batch` packets, and at the end of the current JS run (a microtask, so a lone
 * packet waits for no timer), runs of equal-length packets to one peer as UDP GSO messages over
 * IPv6 (the kernel cuts each into datagrams, so its IP layer runs once per up to 15 full-MTU
 * packets). The addon fills each packet's ICRC just before the call (the packet
 * buffers are the transport's from `send` on, as with node:dgram). When the socket buffer is full
 * the kernel takes what fits; the rest stays queued, in order, until the socket is writable again
 * (libuv poll), so nothing is dropped on the sending side. A datagram the kernel refuses for
 * another reason (unreachable destination, too long) is a loss, as with node:dgram.
 *
 * Raw IPv4 I/O (`raw`): a raw socket receives the UDP datagrams to the RoCE port with their IPv4
 * headers and sends datagrams whose IPv4 and UDP headers the addon writes (Identification from a
 * counter, DF, ECT(0), the flow's source port), so the ICRC is computed over the real header at both
 * ends, as an RNIC does; a UDP socket that drops everything keeps the port claimed.
 *
 * Direct data placement (`ddp`, on unless `ddp: false`): the device registers its regions and
 * each QP's responder state with the addon, which then places in-order RDMA WRITE packets
 * straight into registered memory (re-checking on every packet that the memory is still there)
 * and reports them as PlacedWrite summaries in the batch, in order with the packets it hands over;
 * everything else (and every packet of a QP after one of its packets went to JS, until the
 * responder re-syncs) goes to the TS responder unchanged.
 *
 * Outgoing frames (`frame()`) are carved from slabs recycled once the kernel took all their frames.
 *
 * The ICRC rules (what is generated and verified over IPv6 and IPv4) are those of udp.ts; the
 * addon's CRC is checked against zlib, the TS routine and real captures (test/rdma-native.test.ts).
 */
import { endianness } from 'node:os';
import { parseIp } from '../wire/ip-address.js';
import type { PeerAddress } from '../verbs/types.js';
import type { RoceUdpAddon } from './native-addon.js';
import { type DirectPlacement, type PacketTransport, type PlacedWrite, type PlacementQpState, type TransportStats, newStats } from './transport.js';

/** Tuning of the native transport. */
export interface NativeUdpOptions {
  /** Datagrams per sendmmsg/recvmmsg call (default 64). */
  batch?: number;
  /** Socket send and receive buffer size in bytes (default 8 MiB; forced past the sysctl limit when permitted). */
  socketBuffer?: number;
  /** Offer direct data placement of RDMA WRITEs (default true; see DirectPlacement). */
  ddp?: boolean;
  /** Raw IPv4 I/O (IPv4 only; needs root or CAP_NET_RAW). */
  raw?: boolean;
  /** Mark outgoing packets ECT(0) (default true). */
  ecn?: boolean;
  /** UDP GSO for runs of equal-length packets to one peer (IPv6 UDP I/O; default true). */
  gso?: boolean;
  /** UDP GRO on the receiving socket where the kernel offers it (UDP I/O; default true). */
  gro?: boolean;
}

/**
 * Receive slot size. The longest RoCE v2 packet at the largest path MTU (4096) is 4096 bytes of
 * payload plus at most 36 of headers and ICRC (plus up to 68 of IPv4 and UDP headers with raw
 * I/O); a longer datagram is not RoCE and counts as malformed.
 */
const SLOT = 4096 + 256;
const META = 32;
const LE = endianness() === 'LE';
const EMPTY = Buffer.alloc(0);

/** Bytes of one frame slab, and how many slabs a transport keeps for reuse. */
const FRAME_SLAB = 256 * 1024;
const MAX_SLABS = 32;

/** A slab outgoing frames are carved from; `out` counts frames carved and not yet taken by the kernel. */
interface FrameSlab {
  buf: Buffer;
  used: number;
  out: number;
}

/** One UDP source port: its socket (or the raw one) and the packets waiting for it. */
interface Sender {
  id: number;
  /** The port it really sends from. */
  port: number;
  refs: number;
  names: Buffer[];
  pkts: (Buffer | Buffer[])[];
  /** Per queued packet: the frame slab it was carved from (see frame()), or null. */
  slabs: (FrameSlab | null)[];
  /** The name every queued packet goes to, or null when they go to several. */
  name: Buffer | null;
  head: number;
  blocked: boolean;
  flushQueued: boolean;
  /** No flow uses it any more: it closes once its queue is empty. */
  closing: boolean;
  flushTask: () => void;
}

/** Counters of the batching itself (for tests and the benchmark). */
export interface NativeIoStats {
  /** sendmmsg calls made. */
  sendCalls: number;
  /** Times a socket was full and packets waited for it to drain. */
  blocked: number;
  /** recvmmsg batches delivered. */
  recvBatches: number;
  /** RDMA WRITE packets placed by the addon (direct data placement). */
  placed: number;
}

/** Builds the native transport on an already loaded addon. */
export function openNativeUdpTransport(addon: RoceUdpAddon, address: string, localBytes: Buffer, port: number, noIcrc: boolean, opts: NativeUdpOptions = {}): NativeUdpTransport {
  return new NativeUdpTransport(addon, address, localBytes, port, noIcrc, opts);
}

/** See the module comment. */
export class NativeUdpTransport implements PacketTransport {
  readonly local: PeerAddress;
  readonly stats: TransportStats = newStats();
  readonly io: 'native' | 'raw';
  readonly ecn: boolean;
  /** Whether the receiving socket has UDP GRO (coalesced receives, split by the addon). */
  readonly gro: boolean;
  readonly ioStats: NativeIoStats = { sendCalls: 0, blocked: 0, recvBatches: 0, placed: 0 };
  readonly ddp?: DirectPlacement;
  private placedHandler: ((w: PlacedWrite) => void) | null = null;
  /** The one summary object handed to the placed handler (rewritten for every placed packet). */
  private readonly placedWrite: PlacedWrite = { qpn: 0, psn: 0, opcode: 0, ackReq: false, bytes: 0, rkey: 0, offset: 0, remaining: 0 };
  /** No headroom: the addon builds the headers itself; sendFramed just skips the copy into parts. */
  readonly headroom = 0;
  /** Effective socket buffer sizes the kernel granted. */
  readonly socketBuffers: { rcvbuf: number; sndbuf: number };
  private readonly handle: object;
  private readonly batch: number;
  private readonly v6: boolean;
  private handler: ((roce: Buffer, from: PeerAddress) => void) | null = null;
  private slab: Buffer;
  private readonly meta: Buffer;
  private readonly lens: Int32Array;
  /** Senders by the source port asked for, and by addon id. */
  private readonly senders = new Map<number, Sender>();
  private readonly byId = new Map<number, Sender>();
  private lastSender: Sender;
  private lastSrcPort: number;
  /** Frame slabs: reused once every frame carved from them has been taken by the kernel. */
  private readonly slabs: FrameSlab[] = [];
  private curSlab: FrameSlab | null = null;
  private unsendable = 0;
  private closed = false;
  private readonly names = new Map<string, Buffer>();
  private lastParsed = '';
  private lastParsedBytes: Buffer | null = null;
  /** Meta words 1..5 (port, family, address) of the last sender seen. */
  private readonly lastFrom = new Int32Array(5);
  private lastTo: PeerAddress | null = null;
  private lastPort = 0;
  private lastAddress = '';
  private lastName: Buffer | null = null;
  private lastPeer: PeerAddress | null = null;

  constructor(
    private readonly addon: RoceUdpAddon,
    address: string,
    private readonly localBytes: Buffer,
    port: number,
    noIcrc: boolean,
    opts: NativeUdpOptions,
  ) {
    this.v6 = localBytes.length === 16;
    this.batch = Math.max(1, Math.min(1024, opts.batch ?? 64));
    this.ecn = opts.ecn !== false;
    const r = addon.open({
      v6: this.v6,
      addr: localBytes,
      port,
      bufBytes: opts.socketBuffer ?? 8 << 20,
      batch: this.batch,
      slot: SLOT,
      raw: opts.raw === true,
      ecn: this.ecn,
      icrc: !noIcrc,
      gso: opts.gso !== false,
      gro: opts.gro !== false,
      onRecv: (n) => this.receiveBatch(n),
      onWritable: (id) => this.writable(id),
    });
    this.io = r.raw ? 'raw' : 'native';
    this.gro = r.gro;
    this.handle = r.handle;
    this.slab = r.slab;
    this.meta = r.meta;
    this.lens = new Int32Array(r.meta.buffer, r.meta.byteOffset, r.meta.length >> 2);
    this.socketBuffers = { rcvbuf: r.rcvbuf, sndbuf: r.sndbuf };
    this.local = { address, port: r.port };
    this.lastSrcPort = r.port;
    this.lastSender = this.newSender(0, r.port);
    this.lastSender.refs = 1;
    this.senders.set(r.port, this.lastSender);
    if (opts.ddp !== false) this.ddp = this.placement();
  }

  private newSender(id: number, port: number): Sender {
    const s: Sender = { id, port, refs: 0, names: [], pkts: [], slabs: [], name: null, head: 0, blocked: false, flushQueued: false, closing: false, flushTask: () => {} };
    s.flushTask = () => {
      s.flushQueued = false;
      this.flush(s);
    };
    this.byId.set(id, s);
    return s;
  }

  /** parseIp, remembered for the last address (queue pairs sync with the same peer again and again). */
  private addressBytes(address: string): Buffer | null {
    if (address !== this.lastParsed) {
      this.lastParsed = address;
      this.lastParsedBytes = parseIp(address);
    }
    return this.lastParsedBytes;
  }

  private placement(): DirectPlacement {
    const addon = this.addon;
    const handle = this.handle;
    const live = (): boolean => !this.closed;
    return {
      setRegion: (rkey, bytes, va, pd, access) => {
        if (live()) addon.ddpMr(handle, rkey >>> 0, bytes, va, pd >>> 0, access >>> 0);
      },
      dropRegion: (rkey) => {
        if (live()) addon.ddpMrDrop(handle, rkey >>> 0);
      },
      setQp: (qpn, st: PlacementQpState) => {
        if (!live()) return;
        const peer = st.peer;
        const bytes = peer ? this.addressBytes(peer.address) : null;
        const ok = st.enabled && peer !== null && bytes !== null && bytes.length === this.localBytes.length;
        const c = st.current;
        addon.ddpQp(
          handle,
          qpn,
          ok,
          st.ePsn & 0xffffff,
          st.mtu,
          st.pd >>> 0,
          st.remoteWrite,
          ok && bytes ? bytes : EMPTY,
          c.kind === 'none' ? 0 : c.kind === 'write' ? 1 : 2,
          c.kind === 'write' ? c.rkey >>> 0 : 0,
          c.kind === 'write' ? c.offset : 0,
          c.kind === 'write' ? c.remaining : 0,
        );
      },
      dropQp: (qpn) => {
        if (live()) addon.ddpQpDrop(handle, qpn);
      },
      onPlaced: (handler) => {
        this.placedHandler = handler;
      },
    };
  }

  /** The sender for source port `srcPort`, opened on first use. */
  private sender(srcPort: number, to: PeerAddress | null): Sender | null {
    let s = this.senders.get(srcPort);
    if (s) {
      s.closing = false;
      return s;
    }
    if (!Number.isInteger(srcPort) || srcPort < 1 || srcPort > 65535) return null;
    const name = to ? this.nameOf(to) : null;
    // Connected senders over IPv6 only: over IPv4 a connected socket numbers its packets (the
    // Identification), and the UDP I/O's ICRC assumes Identification 0.
    const t = this.addon.txOpen(this.handle, srcPort, name ?? EMPTY, this.v6 && name !== null);
    s = this.newSender(t.id, t.port);
    this.senders.set(srcPort, s);
    return s;
  }

  openFlow(srcPort: number, to: PeerAddress): void {
    if (this.closed) return;
    const s = this.sender(srcPort, to);
    if (s) s.refs++;
  }

  closeFlow(srcPort: number): void {
    const s = this.senders.get(srcPort);
    if (!s || this.closed || --s.refs > 0 || s.id === 0) return;
    s.closing = true;
    if (s.head >= s.pkts.length) this.retire(srcPort, s);
  }

  /** Closes a sender no flow uses any more (after its last packet left). */
  private retire(srcPort: number, s: Sender): void {
    this.senders.delete(srcPort);
    this.byId.delete(s.id);
    if (this.lastSender === s) {
      this.lastSender = this.senders.get(this.local.port) as Sender;
      this.lastSrcPort = this.local.port;
    }
    this.addon.txClose(this.handle, s.id);
  }

  /** Source ports in use and the ports they really send from (for tests and tools). */
  get flows(): { srcPort: number; port: number }[] {
    return [...this.senders].map(([srcPort, s]) => ({ srcPort, port: s.port }));
  }

  /** Packets queued and not yet taken by the kernel. */
  get pending(): number {
    let n = 0;
    for (const s of this.senders.values()) n += s.pkts.length - s.head;
    return n;
  }

  /** Datagrams refused for good (bad destination, or the kernel said no): losses, as with node:dgram. */
  /** The addon's receive counters: receives, those that carried several datagrams (UDP GRO), datagrams (zeros once closed). */
  get rxStats(): { messages: number; coalesced: number; packets: number } {
    if (this.closed) return { messages: 0, coalesced: 0, packets: 0 };
    const r = this.addon.rxStats(this.handle);
    return { messages: r.messages, coalesced: r.coalesced, packets: r.packets };
  }

  get sendErrors(): number {
    return this.unsendable + (this.closed ? 0 : this.addon.sendErrors(this.handle));
  }

  send(to: PeerAddress, roce: Buffer | readonly Buffer[], srcPort?: number): void {
    if (this.closed) return;
    this.stats.sent++;
    this.enqueue(to, Buffer.isBuffer(roce) ? roce : roce.length === 1 ? (roce[0] as Buffer) : [...roce], null, srcPort ?? this.local.port);
  }

  sendFramed(to: PeerAddress, frame: Buffer, srcPort?: number): void {
    if (this.closed) return;
    this.stats.sent++;
    const c = this.curSlab;
    this.enqueue(to, frame, c !== null && frame.buffer === c.buf.buffer ? c : this.slabOf(frame), srcPort ?? this.local.port);
  }

  /**
   * A buffer of `n` bytes for one outgoing frame (for sendFramed). Carved from slabs this
   * transport recycles: a slab is written again only once the kernel has taken (copied) every
   * frame carved from it, so no allocation, and no fresh memory to fault in, per packet.
   */
  frame(n: number): Buffer {
    if (n > FRAME_SLAB / 4) return Buffer.allocUnsafe(n);
    let c = this.curSlab;
    if (c === null || c.used + n > FRAME_SLAB) {
      c = null;
      for (const s of this.slabs) {
        if (s.out === 0 && s !== this.curSlab) {
          c = s;
          break;
        }
      }
      if (c === null) {
        c = { buf: Buffer.allocUnsafeSlow(FRAME_SLAB), used: 0, out: 0 };
        // Past the cap (the socket is backed up), slabs are not kept: the GC frees them.
        if (this.slabs.length < MAX_SLABS) this.slabs.push(c);
      }
      c.used = 0;
      this.curSlab = c;
    }
    const b = c.buf.subarray(c.used, c.used + n);
    c.used = (c.used + n + 7) & ~7;
    c.out++;
    return b;
  }

  private slabOf(frame: Buffer): FrameSlab | null {
    for (const s of this.slabs) if (frame.buffer === s.buf.buffer) return s;
    return null;
  }

  onReceive(handler: (roce: Buffer, from: PeerAddress) => void): void {
    this.handler = handler;
  }

  /** Receives what the socket holds now (see PacketTransport.poll). */
  poll(): void {
    if (!this.closed) this.addon.drain(this.handle);
  }

  /** Sends what is queued (best effort: what the socket buffers take), then closes the sockets. */
  close(): Promise<void> {
    if (!this.closed) {
      for (const s of this.senders.values()) if (!s.blocked) this.flush(s);
      this.closed = true;
      for (const s of this.senders.values()) {
        s.names = [];
        s.pkts = [];
        s.slabs = [];
        s.head = 0;
      }
      this.addon.close(this.handle);
    }
    // The poll handles are closed on the next loop turn; resolve after them.
    return new Promise((resolve) => setImmediate(resolve));
  }

  private enqueue(to: PeerAddress, pkt: Buffer | Buffer[], slab: FrameSlab | null, srcPort: number): void {
    // Queue pairs pass the same peer object for every packet: skip the lookup then.
    const last = this.lastTo;
    const name = last !== null && to === last && to.port === this.lastPort && to.address === this.lastAddress ? this.lastName : this.nameOf(to);
    this.lastTo = to;
    this.lastPort = to.port;
    this.lastAddress = to.address;
    this.lastName = name;
    let s = srcPort === this.lastSrcPort ? this.lastSender : this.senders.get(srcPort);
    if (!s) {
      try {
        s = this.sender(srcPort, to) ?? undefined;
      } catch {
        s = undefined;
      }
    }
    if (!name || !s) {
      this.unsendable++;
      if (slab) slab.out--;
      return;
    }
    this.lastSender = s;
    this.lastSrcPort = srcPort;
    if (s.head === s.pkts.length) s.name = name;
    else if (s.name !== name) s.name = null;
    s.names.push(name);
    s.pkts.push(pkt);
    s.slabs.push(slab);
    if (s.blocked) return;
    if (s.pkts.length - s.head >= this.batch) this.flush(s);
    else if (!s.flushQueued) {
      s.flushQueued = true;
      queueMicrotask(s.flushTask);
    }
  }

  /** Hands a sender's queue to the kernel in batches until it is empty or the socket is full. */
  private flush(s: Sender): void {
    if (this.closed || s.blocked) return;
    while (s.head < s.pkts.length) {
      const n = Math.min(this.batch, s.pkts.length - s.head);
      this.ioStats.sendCalls++;
      const took = this.addon.send(this.handle, s.id, s.name ?? s.names, s.pkts, s.head, n);
      // The kernel copied those packets: their frames' slabs may be written again.
      const qs = s.slabs;
      for (let i = s.head, end = s.head + took; i < end; i++) {
        const sl = qs[i];
        if (sl) sl.out--;
      }
      s.head += took;
      if (took < n) {
        s.blocked = true;
        this.ioStats.blocked++;
        this.addon.watchWritable(this.handle, s.id, true);
        break;
      }
    }
    if (s.head >= s.pkts.length) {
      s.names.length = 0;
      s.pkts.length = 0;
      s.slabs.length = 0;
      s.head = 0;
      if (s.closing) for (const [port, x] of this.senders) if (x === s) this.retire(port, s);
    } else if (s.head >= 4096) {
      s.names = s.names.slice(s.head);
      s.pkts = s.pkts.slice(s.head);
      s.slabs = s.slabs.slice(s.head);
      s.head = 0;
    }
  }

  private writable(id: number): void {
    const s = this.byId.get(id);
    if (!s) return;
    s.blocked = false;
    this.flush(s);
  }

  private receiveBatch(n: number): Buffer | undefined {
    const meta = this.meta;
    const slab = this.slab;
    let delivered = false;
    for (let i = 0; i < n; i++) {
      const m = i * META;
      const flag = meta[m + 7];
      if (flag === 2) {
        // Placed by the addon (direct data placement): a summary, no packet.
        const w = this.lens;
        const k = m >> 2;
        const p = this.placedWrite;
        p.offset = (w[k] as number) >>> 0;
        p.qpn = w[k + 2] as number;
        p.psn = w[k + 3] as number;
        const op = w[k + 4] as number;
        p.opcode = op & 0xff;
        p.ackReq = (op & 0x100) !== 0;
        p.bytes = w[k + 5] as number;
        p.rkey = (w[k + 6] as number) >>> 0;
        p.remaining = (w[k + 7] as number) >>> 0;
        this.stats.received++;
        this.ioStats.placed++;
        this.placedHandler?.(p);
        if (this.closed) return undefined;
        continue;
      }
      if (flag === 3) continue; // raw I/O: a datagram for another address or port
      const len = this.lens[m >> 2] as number; // host byte order, as the addon wrote it
      if (len < 16) {
        this.stats.malformed++;
        continue;
      }
      if (flag !== 1) {
        this.stats.icrcErrors++;
        continue;
      }
      const from = this.peerAt(m);
      const at = i * SLOT + (LE ? meta.readUInt16LE(m + 24) : meta.readUInt16BE(m + 24));
      const msg = slab.subarray(at, at + len);
      this.stats.received++;
      delivered = true;
      this.handler?.(msg, from);
      if (this.closed) return undefined;
    }
    this.ioStats.recvBatches++;
    if (!delivered) return undefined;
    // The handler may keep the views it was given: the next batch goes to a fresh slab.
    this.slab = Buffer.allocUnsafeSlow(this.batch * SLOT);
    return this.slab;
  }

  /** The sender of meta slot at `m`, reusing the previous object when family, port and address repeat. */
  private peerAt(m: number): PeerAddress {
    const w = this.lens;
    const k = m >> 2;
    const last = this.lastFrom;
    // Word 1: port (2 bytes) and family (1 byte); the ICRC flag byte is masked off.
    const head = (w[k + 1] as number) & (LE ? 0x00ffffff : -256);
    const v6 = this.meta[m + 6] === 6;
    if (this.lastPeer && head === last[0] && w[k + 2] === last[1] && (!v6 || (w[k + 3] === last[2] && w[k + 4] === last[3] && w[k + 5] === last[4]))) return this.lastPeer;
    last[0] = head;
    for (let i = 1; i < 5; i++) last[i] = w[k + 1 + i] as number;
    this.lastPeer = { address: this.addon.ntop(this.meta.subarray(m + 8, m + (v6 ? 24 : 12))), port: this.meta.readUInt16BE(m + 4) };
    return this.lastPeer;
  }

  /** The sockaddr_in6 / sockaddr_in bytes of a peer, as sendmmsg takes them. */
  private nameOf(to: PeerAddress): Buffer | null {
    const key = `${to.address}|${to.port}`;
    let b = this.names.get(key);
    if (!b) {
      const p = parseIp(to.address);
      if (!p || p.length !== this.localBytes.length || !Number.isInteger(to.port) || to.port < 1 || to.port > 65535) return null;
      const addr = p;
      const family = this.v6 ? 10 : 2;
      if (this.v6) {
        b = Buffer.alloc(28);
        b.set(addr, 8);
      } else {
        b = Buffer.alloc(16);
        b.set(addr.subarray(0, 4), 4);
      }
      if (LE) b.writeUInt16LE(family, 0);
      else b.writeUInt16BE(family, 0);
      b.writeUInt16BE(to.port, 2);
      if (this.names.size > 1024) this.names.clear();
      this.names.set(key, b);
    }
    return b;
  }
}
