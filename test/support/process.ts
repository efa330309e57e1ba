/**
 * What a child process prints, collected until it closes: the one place tests gather a spawned
 * program's output, with a deadline after which it is killed.
 */
import type { ChildProcess } from 'node:child_process';

/** A finished child: its exit code (-1 when killed by a signal), what it printed, and whether it outlived its deadline. */
export interface Collected {
  code: number;
  out: string;
  err: string;
  timedOut: boolean;
}

export interface CollectOptions {
  /** Kill the child (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  /** Sees all of stderr so far each time more arrives. */
  onErr?: (err: string, child: ChildProcess) => void;
  /** Sees all of stdout so far each time more arrives. */
  onOut?: (out: string, child: ChildProcess) => void;
}

/** Collects `child`'s stdout and stderr (both must be pipes) until it closes; rejects only if it cannot be started. */
export function collect(child: ChildProcess, opts: CollectOptions = {}): Promise<Collected> {
  let out = '';
  let err = '';
  let timedOut = false;
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    opts.onOut?.(out, child);
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    opts.onErr?.(err, child);
  });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin?.destroy();
      resolve({ code: code ?? -1, out, err, timedOut });
    });
  });
}
