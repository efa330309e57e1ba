/** Errors raised by the RDMA module: programming or input errors, each with an ERR_RDMA_* code. */

/** An RDMA input or usage error; `path` names the file, field or packet offset at fault. */
export class RdmaError extends Error {
  /** Machine-readable code, e.g. ERR_RDMA_PCAP. */
  readonly code: string;
  /** The file, field or packet the error is about. */
  readonly path: string;
  /** What is wrong with it (the message without the path). */
  readonly reason: string;
  constructor(path: string, reason: string, code = 'ERR_RDMA') {
    super(`${path}: ${reason}`);
    this.name = 'RdmaError';
    this.code = code;
    this.path = path;
    this.reason = reason;
  }
}
