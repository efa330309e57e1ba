/** Runs the numaplan CLI from source as its own process (tests that need two CLI processes): argv after the script. */
import { main } from '../../src/cli/main.js';

const code = await main(process.argv.slice(2), {
  version: 'test',
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  setExitCode: (c) => {
    process.exitCode = c;
  },
  exitCode: () => Number(process.exitCode ?? 0),
});
process.exitCode = code;
