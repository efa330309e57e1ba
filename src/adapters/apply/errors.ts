/** Errors of apply: a binding that cannot be carried out on this machine (CLI exit 2). */
export class ApplyError extends Error {
  readonly code: string;
  /** What is at fault, e.g. "placement.cpus[2]" or "numactl". */
  readonly path: string;
  constructor(path: string, message: string, code = 'ERR_APPLY') {
    super(`${path}: ${message}`);
    this.name = 'ApplyError';
    this.code = code;
    this.path = path;
  }
}
