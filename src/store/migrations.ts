/**
 * Versioned schema migrations, applied on start by kysely's Migrator (which takes a lock so that two
 * service instances starting together apply each migration once). A migration is never edited once
 * released: a change is a new entry with the next number.
 */
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';

/** The migrations by version name; `dialect` picks the few types that differ. */
export function migrationsFor(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    '0001_fleet': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema
          .createTable('hosts')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('topology', 'text', (c) => c.notNull())
          .addColumn('reserve', 'text', (c) => c.notNull())
          .addColumn('topo_version', big, (c) => c.notNull())
          .addColumn('generation', big, (c) => c.notNull())
          .addColumn('nodes', 'integer', (c) => c.notNull())
          .addColumn('total_cpus', 'integer', (c) => c.notNull())
          .addColumn('free_cpus', 'integer', (c) => c.notNull())
          .addColumn('total_memory', big, (c) => c.notNull())
          .addColumn('free_memory', big, (c) => c.notNull())
          .addColumn('vms', 'integer', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('updated_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('hosts_fit').on('hosts').columns(['free_cpus', 'free_memory', 'name']).execute();
        await db.schema
          .createTable('vms')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('host', 'text', (c) => c.notNull().references('hosts.name'))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('expires_at', big)
          .addColumn('allocation', 'text', (c) => c.notNull())
          .addColumn('placement', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('updated_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('vms_host').on('vms').columns(['host', 'name']).execute();
        await db.schema.createIndex('vms_claims').on('vms').columns(['status', 'expires_at']).execute();
        let events = db.schema.createTable('events');
        events =
          dialect === 'postgres'
            ? events.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : events.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        await events
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('host', 'text')
          .addColumn('vm', 'text')
          .addColumn('instance', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('events_vm').on('events').columns(['vm']).execute();
      },
    },
    // VMs a host update left without something they hold (1), kept until released or restored.
    '0002_displaced': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema.alterTable('vms').addColumn('displaced', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    // Rebalancing plans kept as resources: the plan document, its status and the steps applied;
    // `version` is bumped by every write (a write names the version it was decided on).
    '0003_plans': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema
          .createTable('plans')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('host', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('version', big, (c) => c.notNull())
          .addColumn('next_step', 'integer', (c) => c.notNull())
          .addColumn('document', 'text', (c) => c.notNull())
          .addColumn('progress', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('updated_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('plans_host').on('plans').columns(['host', 'created_at']).execute();
      },
    },
    // Indexes no query reads, dropped: every placement wrote them. The service decides on its fleet
    // in memory (no query looks for hosts by free capacity: hosts_fit) and finds lapsed claims in its
    // own expiry heap (none by status and expiry: vms_claims); the event log is read by id only
    // (events_vm).
    '0004_unread_indexes': {
      async up(db: Kysely<any>): Promise<void> {
        for (const name of ['hosts_fit', 'vms_claims', 'events_vm']) await db.schema.dropIndex(name).ifExists().execute();
      },
    },
  };
}

/** Applies every pending migration; returns the versions applied now. Throws ERR_MIGRATION. */
export async function migrate(db: Kysely<any>, dialect: 'sqlite' | 'postgres'): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(dialect) };
  const migrator = new Migrator({ db, provider, migrationTableName: 'numaplan_migration', migrationLockTableName: 'numaplan_migration_lock' });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const e = new Error(`store migration failed: ${(error as Error).message ?? String(error)}`) as Error & { code: string };
    e.code = 'ERR_MIGRATION';
    throw e;
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Versions recorded as applied, ascending. */
export async function appliedMigrations(db: Kysely<any>): Promise<string[]> {
  const rows = await sql<{ name: string }>`select name from numaplan_migration order by name`.execute(db);
  return rows.rows.map((r) => r.name);
}
