/**
 * Reads a trace file (CSV or JSONL, any of the formats `TraceParser` knows), streaming it in 1 MiB
 * chunks so a file larger than memory-friendly strings still parses. "-" reads standard input.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { TraceParser } from '../../core/sim/trace-parser.js';
import { type Trace, TraceError } from '../../core/sim/trace.js';

/** Options of `readTrace`. */
export interface ReadTraceOptions {
  /** Count and skip rows that cannot be read instead of failing on the first. */
  skipBad?: boolean;
}

const CHUNK = 1 << 20;

/** Reads and parses a trace file; throws TraceError (code ERR_TRACE, names line and field). */
export function readTrace(path: string, options: ReadTraceOptions = {}): Trace {
  let fd: number;
  try {
    fd = path === '-' ? 0 : openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TraceError(path, 0, 'file', `cannot read (${e.code ?? e.message})`, 'ERR_TRACE');
  }
  const parser = new TraceParser({ path: path === '-' ? 'stdin' : path, skipBad: options.skipBad === true });
  const decoder = new StringDecoder('utf8');
  const buffer = Buffer.allocUnsafe(CHUNK);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, CHUNK, null);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EAGAIN') continue;
        if (e.code === 'EOF') break;
        throw new TraceError(path, 0, 'file', `cannot read (${e.code ?? e.message})`, 'ERR_TRACE');
      }
      if (n === 0) break;
      parser.push(decoder.write(buffer.subarray(0, n)));
    }
    parser.push(decoder.end());
  } finally {
    if (fd !== 0) closeSync(fd);
  }
  return parser.finish();
}
