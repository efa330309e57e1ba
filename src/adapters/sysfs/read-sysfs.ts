/** PLACEHOLDER: replaced by the sysfs reader. */
import { TopologyError } from '../../core/topology/errors.js';
import type { Topology } from '../../core/topology/model.js';

/** Options of the sysfs reader. */
export interface SysfsOptions {
  /** Directory holding sys/ and proc/ (default "/": the live host). */
  root?: string;
}

/** Reads a topology from a sysfs/procfs tree. */
export function readSysfs(options: SysfsOptions = {}): Topology {
  throw new TopologyError(options.root ?? '/', 'sysfs reader not built yet');
}
