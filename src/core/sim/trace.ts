/**
 * The trace model: VM requests as the simulator replays them, whatever file they came from.
 *
 * Units: `arrival` and `lifetime` in seconds from the trace's origin; `memory` and `pageSize` in bytes
 * (the Huawei trace's "GB" are read as GiB, like every size in numaplan); `vcpus` a count (may be
 * fractional only in hand-made traces). `lifetime` null means the VM never leaves within the trace.
 */

/** How a request wants its NUMA placement decided (the engine's escape hatches). */
export type TraceNumaPolicy = 'auto' | 'local' | 'interleave' | 'spread';

/** A device the VM needs, and how strictly it must sit on the VM's node. */
export interface TraceDevice {
  /** Device class, e.g. "rdma", "gpu", "nic", "nvme". */
  class: string;
  locality: 'required' | 'preferred' | 'none';
}

/** One VM request. */
export interface TraceRequest {
  /** The trace's own identifier (kept as text, never interpreted). */
  id: string;
  arrival: number;
  /** Seconds the VM lives; null when it never leaves within the trace. */
  lifetime: number | null;
  vcpus: number;
  /** Bytes. */
  memory: number;
  /** Bytes; null for the host default (base pages). */
  pageSize: number | null;
  devices: readonly TraceDevice[];
  numaPolicy: TraceNumaPolicy;
}

/** Event kinds of an event sequence. */
export const CREATE = 0;
/** A VM leaves. */
export const DELETE = 1;

/**
 * A trace: its requests (index = position, sorted by arrival) and, when the file was an event log,
 * the events in file order (`req[i]` indexes `requests`, `kind[i]` is CREATE or DELETE). Lifetime
 * traces get their events derived by `traceEvents`.
 */
export interface Trace {
  /** Where it came from, for reports. */
  source: string;
  format: TraceFormat;
  requests: TraceRequest[];
  events?: TraceEvents;
  /** Rows skipped with --skip-bad. */
  skipped: number;
}

/** File formats the readers understand. */
export type TraceFormat = 'huawei-lifetime' | 'huawei-events' | 'csv' | 'jsonl' | 'synthetic';

/** An event sequence in columns (fast to replay, cheap for a million VMs). */
export interface TraceEvents {
  kind: Uint8Array;
  req: Int32Array;
  /** Event time in seconds. */
  time: Float64Array;
}

/** A trace row that cannot be read: names the line and the field. Exit code 2 in the CLI. */
export class TraceError extends Error {
  readonly code: string;
  readonly path: string;
  readonly line: number;
  readonly field: string;
  constructor(path: string, line: number, field: string, message: string, code = 'ERR_TRACE') {
    super(`${path}:${line}: ${field}: ${message}`);
    this.name = 'TraceError';
    this.code = code;
    this.path = `${path}:${line}`;
    this.line = line;
    this.field = field;
  }
}
