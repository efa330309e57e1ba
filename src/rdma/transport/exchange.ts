/**
 * The out-of-band connection exchange perftest uses without rdma_cm: each side sends one JSON line
 * with its QPN, PSN, UDP address and (optionally) a region's rkey/address/length over TCP, and reads
 * the peer's. The server listens; the client connects. Bytes after the info line are returned as
 * `rest` for callers that keep talking on the socket.
 */
import { type Socket, createConnection } from 'node:net';
import { RdmaError } from '../errors.js';
import { listenQueued } from './listen.js';
import type { PeerInfo } from '../verbs/connect.js';

function exchangeOn(sock: Socket, mine: PeerInfo): Promise<{ peer: PeerInfo; rest: string }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    sock.setEncoding('utf8');
    let done = false;
    const onData = (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 4096) reject(new RdmaError('exchange', 'peer sent an over-long line', 'ERR_RDMA_EXCHANGE'));
        return;
      }
      try {
        const v = JSON.parse(buf.slice(0, nl)) as Partial<PeerInfo>;
        if (typeof v.qpn !== 'number' || typeof v.psn !== 'number' || typeof v.address !== 'string' || typeof v.port !== 'number')
          throw new Error('missing qpn/psn/address/port');
        done = true;
        sock.off('data', onData);
        resolve({ peer: v as PeerInfo, rest: buf.slice(nl + 1) });
      } catch (e) {
        reject(new RdmaError('exchange', `bad peer info: ${(e as Error).message}`, 'ERR_RDMA_EXCHANGE'));
      }
    };
    sock.on('data', onData);
    sock.on('error', (e) => reject(new RdmaError('exchange', e.message, 'ERR_RDMA_EXCHANGE')));
    sock.on('close', () => {
      if (!done) reject(new RdmaError('exchange', 'peer closed before sending its info', 'ERR_RDMA_EXCHANGE'));
    });
    sock.write(`${JSON.stringify(mine)}\n`);
  });
}

/** A listening exchange server; `accept` waits for one client and trades info with it. */
export interface ExchangeServer {
  port: number;
  accept(mine: PeerInfo): Promise<{ peer: PeerInfo; socket: Socket; rest: string }>;
  close(): Promise<void>;
}

/** Listens for a client on `host:port` (port 0 = any free port). */
export async function listenExchange(host: string, port: number): Promise<ExchangeServer> {
  const l = await listenQueued(port, host);
  return {
    port: l.port,
    async accept(mine) {
      const socket = await l.next();
      const { peer, rest } = await exchangeOn(socket, mine);
      return { peer, socket, rest };
    },
    close: () => new Promise((resolve) => l.server.close(() => resolve())),
  };
}

/** Connects to an exchange server and trades info. The socket stays open (for a final barrier). */
export async function connectExchange(host: string, port: number, mine: PeerInfo): Promise<{ peer: PeerInfo; socket: Socket; rest: string }> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ host, port }, () => resolve(s));
    s.once('error', (e) => reject(new RdmaError(`${host}:${port}`, e.message, 'ERR_RDMA_EXCHANGE')));
  });
  const { peer, rest } = await exchangeOn(socket, mine);
  return { peer, socket, rest };
}
