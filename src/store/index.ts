/**
 * # The fleet store
 *
 * What the placement service keeps: hosts (topology JSON, reserve, a generation), VMs (allocations,
 * committed or claimed with an expiry, and the placement with its explanation), and an append-only
 * event log of every placement, claim, commit, release, refusal, expiry and host change. One
 * interface (`types.ts`), two backends over one SQL implementation (`sql-store.ts`): SQLite
 * (`sqlite.ts`, the default, a file under the data directory) and PostgreSQL (`postgres.ts`, for
 * several service instances sharing one fleet). Migrations are versioned (`migrations.ts`) and
 * applied on open.
 *
 * ## Concurrency: optimistic, with a per-host generation
 * A decision reads a host's state at generation g (from a cache when g is unchanged), runs the
 * engine outside any transaction, and writes its result in one transaction whose first statement is
 * `UPDATE hosts SET generation = g + 1 ... WHERE name = ? AND generation = g`. If another request or
 * another service instance changed the host since, zero rows match, nothing is written, and the
 * service re-reads the host and decides again (bounded retries, then 409 ERR_BUSY). VM names are a
 * primary key, so one name can never be placed twice in the fleet.
 *
 * Why optimistic rather than row locks (SELECT ... FOR UPDATE / BEGIN IMMEDIATE): the engine's
 * decision is the expensive part (milliseconds on large hosts, several candidate hosts per request)
 * and must not run while holding a lock; conflicts are rare because requests spread over many hosts;
 * the same code is correct on both backends (on PostgreSQL the second UPDATE of a row waits for the
 * first commit and then re-checks its condition; on SQLite writers are serialised by the database
 * lock); and the generation doubles as the cache key that lets each instance keep parsed topologies
 * and states in memory while another instance writes. Within one instance, placement decisions are
 * queued (src/server/fleet-service.ts): they would all pick the same best-fit host, so running them
 * side by side would only manufacture conflicts.
 *
 * Durability: a placement is acknowledged only after its transaction commits (SQLite in WAL mode
 * with synchronous=FULL; PostgreSQL's default synchronous commit), so a `kill -9` of a service
 * never loses one (test/server-concurrency.test.ts).
 *
 * ## Invariants
 * `invariants.ts` checks a store: no CPU, huge page, device or VF handed out twice, memory within
 * each node's pools, and every acknowledged placement present.
 */
export * from './host-change.js';
export * from './invariants.js';
export * from './open.js';
export * from './types.js';
