/**
 * A TCP listener whose connections wait in a queue until taken: the exchanges (numaplan's own and the
 * tools' formats) accept one client at a time, and a client may connect before `next` is called.
 */
import { type Server, type Socket, createServer } from 'node:net';
import { RdmaError } from '../errors.js';

/** A listening server, the port it got, and its connections in the order they came. */
export interface QueuedListener {
  server: Server;
  port: number;
  next(): Promise<Socket>;
}

/** Listens on `port` (0: any free port) on `host`, or on every address, IPv4 and IPv6, without one. */
export async function listenQueued(port: number, host?: string): Promise<QueuedListener> {
  const server: Server = createServer();
  const pending: Socket[] = [];
  let waiter: ((s: Socket) => void) | null = null;
  server.on('connection', (s) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(s);
    } else pending.push(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: Error & { code?: string }) =>
      reject(new RdmaError('port', e.code === 'EADDRINUSE' ? `TCP port ${port} is in use` : `cannot listen on TCP port ${port}: ${e.message}`, 'ERR_RDMA_EXCHANGE')),
    );
    server.listen(host === undefined ? { port } : { port, host }, () => resolve());
  });
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr ? addr.port : port,
    next: async () => pending.shift() ?? (await new Promise<Socket>((r) => (waiter = r))),
  };
}
