/**
 * Prometheus metrics in the text exposition format (0.0.4), without a client library: counters,
 * a histogram of decision latency, and gauges read from the store at scrape time (claims in
 * flight and hosts are fleet-wide numbers, the same from every instance).
 */

/** Decision latency buckets in seconds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The service's metrics. */
export class Metrics {
  private readonly placements = new Map<string, number>();
  private readonly refusals = new Map<string, number>();
  private readonly requests = new Map<string, number>();
  private conflicts = 0;
  private groupCommits = 0;
  private groupCommitOps = 0;
  private displacements = 0;
  private clientAborts = 0;
  private readonly buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  private latencyCount = 0;
  private latencySum = 0;

  /** A VM placed ("commit" or "claim"). */
  placed(mode: 'commit' | 'claim'): void {
    this.placements.set(mode, (this.placements.get(mode) ?? 0) + 1);
  }

  /** A refusal, labelled by the first reason's resource (cpus, memory, devices, hosts...). */
  refused(reason: string): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  /** VMs a host update (accepted by its caller) displaced. */
  displaced(n: number): void {
    this.displacements += n;
  }

  /** A generation conflict that made a decision run again. */
  conflict(): void {
    this.conflicts++;
  }

  /** A group commit (one transaction) with the writes of `ops` requests. */
  groupCommit(ops: number): void {
    this.groupCommits++;
    this.groupCommitOps += ops;
  }

  /** A request the client abandoned before it was read (no answer reached anyone). */
  clientAbort(): void {
    this.clientAborts++;
  }

  /** One HTTP answer. */
  request(status: number): void {
    const k = String(status);
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  /** Time of one placement decision (all attempts), seconds. */
  decision(seconds: number): void {
    this.latencyCount++;
    this.latencySum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= (LATENCY_BUCKETS[i] as number)) this.buckets[i] = (this.buckets[i] as number) + 1;
  }

  /** The exposition text; `gauges` are read by the caller (from the store). */
  render(gauges: { claimsInFlight: number; hosts: number; vms: number; displaced: number }): string {
    const out: string[] = [];
    const counter = (name: string, help: string, label: string, m: Map<string, number>): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [k, v] of [...m].sort()) out.push(`${name}{${label}="${esc(k)}"} ${v}`);
    };
    counter('numaplan_placements_total', 'VMs placed by this instance, by mode (commit or claim).', 'mode', this.placements);
    counter('numaplan_refusals_total', 'Placement requests refused, by the first reason (resource short).', 'reason', this.refusals);
    counter('numaplan_http_requests_total', 'HTTP answers by status code.', 'code', this.requests);
    out.push('# HELP numaplan_store_conflicts_total Decisions run again because the host changed meanwhile.', '# TYPE numaplan_store_conflicts_total counter', `numaplan_store_conflicts_total ${this.conflicts}`);
    out.push(
      '# HELP numaplan_store_group_commits_total Transactions that wrote the decisions of an event-loop turn (group commits).',
      '# TYPE numaplan_store_group_commits_total counter',
      `numaplan_store_group_commits_total ${this.groupCommits}`,
      '# HELP numaplan_store_group_commit_requests_total Requests written by those transactions (divided by the transactions: the mean group size).',
      '# TYPE numaplan_store_group_commit_requests_total counter',
      `numaplan_store_group_commit_requests_total ${this.groupCommitOps}`,
    );
    out.push(
      '# HELP numaplan_client_aborts_total Requests whose client closed the connection before the request was read.',
      '# TYPE numaplan_client_aborts_total counter',
      `numaplan_client_aborts_total ${this.clientAborts}`,
    );
    out.push(
      '# HELP numaplan_displacements_total VMs marked displaced by host updates this instance accepted.',
      '# TYPE numaplan_displacements_total counter',
      `numaplan_displacements_total ${this.displacements}`,
    );
    out.push('# HELP numaplan_decision_seconds Time to decide and record one placement request.', '# TYPE numaplan_decision_seconds histogram');
    LATENCY_BUCKETS.forEach((b, i) => out.push(`numaplan_decision_seconds_bucket{le="${b}"} ${this.buckets[i]}`));
    out.push(`numaplan_decision_seconds_bucket{le="+Inf"} ${this.latencyCount}`, `numaplan_decision_seconds_sum ${this.latencySum}`, `numaplan_decision_seconds_count ${this.latencyCount}`);
    out.push('# HELP numaplan_claims_in_flight Claims not yet committed and not expired (fleet-wide).', '# TYPE numaplan_claims_in_flight gauge', `numaplan_claims_in_flight ${gauges.claimsInFlight}`);
    out.push('# HELP numaplan_hosts Hosts registered (fleet-wide).', '# TYPE numaplan_hosts gauge', `numaplan_hosts ${gauges.hosts}`);
    out.push('# HELP numaplan_vms VMs placed and live (fleet-wide).', '# TYPE numaplan_vms gauge', `numaplan_vms ${gauges.vms}`);
    out.push(
      '# HELP numaplan_vms_displaced Live VMs a host update left without something they hold (fleet-wide).',
      '# TYPE numaplan_vms_displaced gauge',
      `numaplan_vms_displaced ${gauges.displaced}`,
    );
    return `${out.join('\n')}\n`;
  }
}
