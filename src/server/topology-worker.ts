/**
 * The worker thread of topology-parser.ts: parses host registration bodies off the service's event
 * loop and answers with the model as JSON text, or with the API error the body deserves.
 */
import { parentPort } from 'node:worker_threads';
import { toApiError } from './errors.js';
import { parseHostBody } from './host-body.js';

/** A job: one body. */
export interface TopologyJob {
  id: number;
  text: string;
  maxDepth: number;
  maxModelBytes: number;
}

/** The answer to a job. */
export type TopologyAnswer =
  | { id: number; ok: true; topologyText: string; reserve: unknown; accept: unknown }
  | { id: number; ok: false; status: number; code: string; field: string | null; message: string };

parentPort?.on('message', (job: TopologyJob) => {
  let answer: TopologyAnswer;
  try {
    const r = parseHostBody(job.text, job.maxDepth, job.maxModelBytes);
    answer = { id: job.id, ok: true, topologyText: r.topologyText, reserve: r.reserve, accept: r.accept };
  } catch (err) {
    let api = toApiError(err, '');
    // Readers throw their own errors for bad input; anything else is still about the input.
    if (api.status === 500) api = toApiError(Object.assign(new Error(`unreadable topology (${String((err as Error).message).slice(0, 200)})`), { code: 'ERR_TOPOLOGY', path: 'topology', name: 'TopologyError' }));
    answer = { id: job.id, ok: false, status: api.status, code: api.code, field: api.field, message: api.message };
  }
  parentPort?.postMessage(answer);
});
