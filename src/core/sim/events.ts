/**
 * Event sequences: the order in which a replay sees arrivals and departures.
 *
 * For lifetime traces, a VM arrives at `arrival` and leaves at `arrival + lifetime`. Events are sorted
 * by time; at equal times departures come before arrivals (a slot freed at second t is usable by a VM
 * arriving at second t), except that a VM's own departure always follows its arrival (lifetime 0);
 * remaining ties keep trace order. Event-log traces keep the file's order exactly (the published
 * benchmark indexes its start offsets by file row).
 */
import { CREATE, DELETE, type Trace, type TraceEvents } from './trace.js';

/** The events of a trace, derived once and cached on the trace object. */
export function traceEvents(trace: Trace): TraceEvents {
  if (trace.events) return trace.events;
  const reqs = trace.requests;
  const n = reqs.length;
  let count = n;
  for (const r of reqs) if (r.lifetime !== null) count++;
  const time = new Float64Array(count);
  const rank = new Uint8Array(count); // 0 departure, 1 arrival, 2 departure of a zero-lifetime VM
  const req = new Int32Array(count);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const r = reqs[i] as (typeof reqs)[number];
    time[k] = r.arrival;
    rank[k] = 1;
    req[k++] = i;
    if (r.lifetime !== null) {
      time[k] = r.arrival + r.lifetime;
      rank[k] = r.lifetime === 0 ? 2 : 0;
      req[k++] = i;
    }
  }
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  order.sort((a, b) => (time[a] as number) - (time[b] as number) || (rank[a] as number) - (rank[b] as number) || a - b);
  const events: TraceEvents = { kind: new Uint8Array(count), req: new Int32Array(count), time: new Float64Array(count) };
  for (let i = 0; i < count; i++) {
    const j = order[i] as number;
    events.kind[i] = rank[j] === 1 ? CREATE : DELETE;
    events.req[i] = req[j] as number;
    events.time[i] = time[j] as number;
  }
  trace.events = events;
  return events;
}
