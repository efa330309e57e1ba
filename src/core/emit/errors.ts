/** Errors of the emitters and their parsers: input that cannot become a configuration. */

/** A placement, an existing configuration or an option the emitters cannot use (CLI exit 2). */
export class EmitError extends Error {
  readonly code: string;
  /** The field, element or argument at fault, e.g. "placement.cpus[3]" or "domain/cpu". */
  readonly path: string;
  constructor(path: string, message: string, code = 'ERR_EMIT') {
    super(`${path}: ${message}`);
    this.name = 'EmitError';
    this.code = code;
    this.path = path;
  }
}
