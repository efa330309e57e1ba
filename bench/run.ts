/**
 * `npm run bench`: runs every bench/*.bench.ts. See bench/lib/types.ts for the interface a
 * benchmark file implements and bench/lib/cli.ts for the options.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchMain } from './lib/cli.js';

process.exitCode = await benchMain(process.argv.slice(2), dirname(fileURLToPath(import.meta.url)));
