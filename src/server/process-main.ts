/**
 * A service process for tests and benchmarks (the same code as `numaplan serve`, runnable without
 * a build: `node --import tsx src/server/process-main.ts --db URL --port 0 --token T`). Prints one
 * JSON line `{"url":...,"pid":...}` once it listens; exits on SIGTERM/SIGINT.
 */
import { parseDurability } from '../store/types.js';
import { runService } from './start.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const port = arg('--port');
const sweep = arg('--sweep');
const durabilityArg = arg('--durability');
const durability = durabilityArg === undefined ? undefined : parseDurability(durabilityArg);
const running = await runService({
  ...(arg('--data') !== undefined ? { data: arg('--data') as string } : {}),
  ...(arg('--db') !== undefined ? { db: arg('--db') as string } : {}),
  ...(arg('--token') !== undefined ? { token: arg('--token') as string } : {}),
  ...(port !== undefined ? { port: Number(port) } : {}),
  ...(sweep !== undefined ? { sweepSeconds: Number(sweep) } : {}),
  ...(durability !== undefined ? { durability } : {}),
  openReads: process.argv.includes('--open-reads'),
});
process.stdout.write(`${JSON.stringify({ url: running.url, pid: process.pid })}\n`);
const stop = (): void => {
  running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
