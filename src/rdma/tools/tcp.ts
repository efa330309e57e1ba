/**
 * The out-of-band TCP connection rdma-core's examples and perftest exchange QP numbers, PSNs, GIDs
 * and keys over: exact-length reads and writes of fixed-size messages, one client, one server.
 */
import { type Socket, createConnection } from 'node:net';
import { RdmaError } from '../errors.js';
import { listenQueued } from '../transport/listen.js';

/** Reads and writes whole messages on a TCP socket. */
export class MessageSocket {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private ended: Error | null = null;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    const end = (e?: Error) => {
      this.ended ??= new RdmaError('exchange', e ? e.message : 'the peer closed the connection', 'ERR_RDMA_EXCHANGE');
      this.waiter?.();
    };
    socket.on('end', () => end());
    socket.on('close', () => end());
    socket.on('error', (e) => end(e));
  }

  /** Exactly `n` bytes (an error naming `what` when the peer closes first). */
  async read(n: number, what: string): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new RdmaError('exchange', `${what}: the peer closed the connection after ${this.buf.length} of ${n} bytes`, 'ERR_RDMA_EXCHANGE');
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }

  /** Up to `n` bytes: what arrives before the peer closes (for messages a peer may shorten). */
  async readUpTo(n: number): Promise<Buffer> {
    while (this.buf.length < n && !this.ended) {
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return Buffer.from(out);
  }

  write(b: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ended) return reject(this.ended);
      this.socket.write(b, (e) => (e ? reject(new RdmaError('exchange', e.message, 'ERR_RDMA_EXCHANGE')) : resolve()));
    });
  }

  /** The local address the connection uses (an IPv4-mapped one as dotted IPv4). */
  get localAddress(): string {
    return unmap(this.socket.localAddress ?? '');
  }

  get remoteAddress(): string {
    return unmap(this.socket.remoteAddress ?? '');
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

function unmap(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Connects to host:port. */
export function connectTcp(host: string, port: number): Promise<MessageSocket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host, port }, () => {
      s.removeAllListeners('error');
      resolve(new MessageSocket(s));
    });
    s.once('error', (e) => reject(new RdmaError(`${host}:${port}`, `cannot connect: ${e.message}`, 'ERR_RDMA_EXCHANGE')));
  });
}

/** Listens on port (on every address, IPv4 and IPv6, unless `host` is given) for one client. */
export async function listenTcp(port: number, host?: string): Promise<{ port: number; accept(): Promise<MessageSocket>; close(): Promise<void> }> {
  const l = await listenQueued(port, host);
  return {
    port: l.port,
    accept: async () => new MessageSocket(await l.next()),
    // Stops listening; connections already accepted stay open (server.close's callback would wait for them).
    close: () => {
      l.server.close();
      return Promise.resolve();
    },
  };
}
