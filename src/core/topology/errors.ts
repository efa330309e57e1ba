/**
 * Errors for topology input that cannot be turned into a model. Throw these only for input that is
 * unusable as a whole; anything a source can work around becomes a warning instead.
 */
export class TopologyError extends Error {
  readonly code: string;
  /** The file, field or JSON path at fault, e.g. "nodes[2].memory.total" or "sys/devices/system/node". */
  readonly path: string;
  constructor(path: string, message: string, code = 'ERR_TOPOLOGY') {
    super(`${path}: ${message}`);
    this.name = 'TopologyError';
    this.code = code;
    this.path = path;
  }
}
