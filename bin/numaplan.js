#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/cli (built by `npm run build`, run automatically by `npm ci`).
import { main } from '../dist/cli/main.js';

// A reader that goes away (`numaplan ... | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`numaplan: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
