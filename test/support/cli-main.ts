/**
 * The numaplan CLI from the sources, as a process (`node --import tsx test/support/cli-main.ts ARGS`):
 * for tests that need a real process per command (deadlines, concurrency between commands).
 */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
