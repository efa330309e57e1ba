/**
 * The writer thread of a SQLite store (see sqlite-writer.ts): its own connection to the database
 * file, one group commit per message, in the order they arrive, answered with the commit's outcome
 * or its error (message and SQLite code, so that the store can tell a busy lock from a failure).
 * Each commit syncs the log itself (`synchronous = FULL`) with durability `disk`. Committing in
 * order, it can check a flush's chained hosts against the flushes before it (ChainLog).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { ChainLog, type Flush, writeFlush } from './flush.js';
import { SqliteBatch } from './sqlite-batch.js';
import type { WireOutcome, WriterAnswer, WriterOptions, WriterRequest } from './sqlite-writer.js';

const options = workerData as WriterOptions;
const db = new Database(options.file, { fileMustExist: true });
db.pragma(`busy_timeout = ${options.busyMs}`);
db.pragma(`synchronous = ${options.synchronous}`);
db.pragma('foreign_keys = ON');
db.pragma(`wal_autocheckpoint = ${options.autocheckpointPages}`);
const batch = new SqliteBatch(db);
const begin = db.prepare('begin immediate');
const commit = db.prepare('commit');
const rollback = db.prepare('rollback');
const chains = new ChainLog();

async function write(flush: Flush): Promise<WireOutcome> {
  begin.run();
  try {
    const out = await writeFlush(batch, flush, chains.verified(flush));
    commit.run();
    chains.record(flush, out);
    return { conflicted: [...out.conflicted], takenVms: [...out.takenVms] };
  } catch (err) {
    if (db.inTransaction) rollback.run();
    chains.record(flush, null);
    throw err;
  }
}

function wireError(err: unknown): { message: string; code: string | undefined } {
  const e = err as { message?: unknown; code?: unknown };
  return { message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : undefined };
}

const port = parentPort;
if (!port) throw new Error('internal: the SQLite writer runs in a worker thread');
// One transaction at a time, in arrival order (writeFlush awaits only the batch's synchronous calls).
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: WriterRequest | 'close') => {
  chain = chain.then(async () => {
    if (m === 'close') {
      db.close();
      port.close();
      return;
    }
    let answer: WriterAnswer;
    try {
      answer = { id: m.id, outcome: await write(m.flush) };
    } catch (err) {
      answer = { id: m.id, error: wireError(err) };
    }
    port.postMessage(answer);
  });
});
