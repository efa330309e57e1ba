/**
 * A minimal QMP client: newline-delimited JSON over a stream (a UNIX socket, or QEMU's stdio).
 * Reads the greeting, negotiates capabilities, and runs commands one at a time; events are kept.
 */
import { type Socket, createConnection } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { ApplyError } from './errors.js';

/** A QMP connection. */
export class QmpClient {
  private buffer = '';
  private waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void; command: string }[] = [];
  private greeting: Promise<unknown>;
  private greeted!: (v: unknown) => void;
  private closed = false;
  /** Asynchronous events seen so far. */
  readonly events: { event: string; data?: unknown }[] = [];

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
  ) {
    this.greeting = new Promise((resolve) => {
      this.greeted = resolve;
    });
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => this.onData(chunk));
    input.on('close', () => this.onClose());
    input.on('end', () => this.onClose());
  }

  /** Connects to a QMP UNIX socket, waits for the greeting and enters command mode. */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    let socket: Socket | null = null;
    while (socket === null) {
      try {
        socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
      } catch (err) {
        if (Date.now() > deadline) throw new ApplyError('qmp', `cannot connect to ${path}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const client = new QmpClient(socket, socket);
    await client.negotiate();
    return client;
  }

  /** Waits for the greeting and sends qmp_capabilities. */
  async negotiate(): Promise<void> {
    await this.greeting;
    await this.execute('qmp_capabilities');
  }

  /** Runs one command; resolves with its "return" value, rejects with its "error". */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new ApplyError('qmp', `connection closed before ${command}`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject, command });
      this.output.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  /** Closes the connection. */
  close(): void {
    (this.input as Partial<Socket>).destroy?.();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl < 0) return;
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line === '') continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if ('QMP' in msg) this.greeted(msg.QMP);
      else if ('event' in msg) this.events.push({ event: String(msg.event), data: msg.data });
      else if ('return' in msg || 'error' in msg) {
        const w = this.waiting.shift();
        if (!w) continue;
        if ('error' in msg) {
          const e = msg.error as { class?: string; desc?: string };
          w.reject(new ApplyError(`qmp ${w.command}`, `${e.class ?? 'Error'}: ${e.desc ?? 'failed'}`, 'ERR_QMP'));
        } else w.resolve(msg.return);
      }
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new ApplyError(`qmp ${w.command}`, 'QEMU closed the connection', 'ERR_QMP'));
  }
}
