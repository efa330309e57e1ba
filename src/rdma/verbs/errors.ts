/** Verbs programming errors (bad state transition, bad work request) carry ERR_RDMA_VERBS. */
import { RdmaError } from '../errors.js';

/** Throws a verbs error naming the object and field. */
export function verbsError(path: string, message: string): RdmaError {
  return new RdmaError(path, message, 'ERR_RDMA_VERBS');
}
