// One numaplan process running many CLI commands, one after the other: for guest suites where
// starting Node costs seconds per command (TCG). The real `main` of the built CLI (dist/cli),
// with an Io that writes each command's output to files.
//
//   node cli-driver.mjs DIR
//
// Command k is DIR/k.argv (a JSON array of arguments, written whole: rename it into place); the
// driver streams its stdout and stderr to DIR/k.out and DIR/k.err and, when it ends, writes
// DIR/k.done holding its exit code. A null instead of an array ends the driver.
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { main } = await import(join(root, 'dist', 'cli', 'main.js'));
const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node cli-driver.mjs DIR\n');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (let k = 0; ; k++) {
  const file = join(dir, `${k}.argv`);
  while (!existsSync(file)) await sleep(20);
  const argv = JSON.parse(readFileSync(file, 'utf8'));
  if (argv === null) break;
  const out = join(dir, `${k}.out`);
  const err = join(dir, `${k}.err`);
  writeFileSync(out, '');
  writeFileSync(err, '');
  let exit = 0;
  const io = {
    version: 'driver',
    out: (s) => appendFileSync(out, s),
    err: (s) => appendFileSync(err, s),
    setExitCode: (c) => {
      exit = c;
    },
    exitCode: () => exit,
  };
  let code;
  try {
    code = await main(argv, io);
  } catch (e) {
    // As bin/numaplan.js reports an error no command caught.
    appendFileSync(err, `numaplan: internal error: ${e?.stack ?? e}\n`);
    code = 70;
  }
  writeFileSync(`${join(dir, `${k}.done`)}.tmp`, String(code));
  renameSync(`${join(dir, `${k}.done`)}.tmp`, join(dir, `${k}.done`));
}
