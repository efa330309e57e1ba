/**
 * numaplan's CLI in a guest, started once: under TCG a Node process needs seconds to start and
 * seconds more to load the 200-odd modules of a command such as `place` (every one of them compiled
 * by an emulated CPU), which is most of a short command's time. `guestCli(g)` starts one Node
 * process in the guest that loads numaplan's own `main` (dist/cli/main.js, what bin/numaplan.js
 * runs) and runs each command it is sent with it, and returns the path of a small shell client
 * that takes the place of `node bin/numaplan.js`:
 *
 *   const NP = await guestCli(g);                       // '/run/numaplan-cli/numaplan'
 *   await g.runOk(`${NP} place --host sysfs --vm name=a,vcpus=1,memory=64M --json | tee /tmp/a.json`);
 *
 * The client sends its arguments (as its shell received them) and working directory, waits, then
 * prints the command's stdout and stderr and exits with its exit code: 0, 1, 2 as the CLI's, 70 for
 * an internal error (as bin/numaplan.js). It passes no standard input and no environment, and the
 * command's output comes when it ends. Commands run side by side (a test may start several that
 * wait on each other), each with an output and exit code of its own. What a command starts itself
 * is no different: `run` starts its command through numactl, which binds it, and checks it from /proc
 * as from its own process (what that command prints goes to the server's output, not the client's).
 * Not for `launch` (its report comes while QEMU runs, and the test reads it
 * then) nor `probe` (it pins and binds its own threads): those run as processes of their own.
 *
 * Protocol (files under /run/numaplan-cli; ID is the client's pid): the client writes `ID.req` (its
 * working directory and arguments, each NUL-terminated), then creates the FIFO `ID.fifo` and waits
 * on it; the server, woken by the FIFO's creation, runs the command, writes `ID.out` and `ID.err`,
 * then the exit code into the FIFO. The client's helpers are the harness's static busybox.
 */
import { join } from 'node:path';
import { REPO_ROOT } from '../data.js';
import { type Guest, GuestError, shq } from './index.js';
import { GUEST_BUSYBOX } from './initramfs.js';

/** Where the server and its client live in the guest. */
export const GUEST_CLI_DIR = '/run/numaplan-cli';

/** The server (an ES module for the guest's node; argument: the directory). */
const SERVER = `
import { closeSync, constants, openSync, readdirSync, readFileSync, renameSync, unlinkSync, watch, writeFileSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
const { main } = await import(${JSON.stringify(join(REPO_ROOT, 'dist', 'cli', 'main.js'))});
const dir = process.argv[2];
const version = JSON.parse(readFileSync(${JSON.stringify(join(REPO_ROOT, 'package.json'))}, 'utf8')).version ?? 'unknown';
const taken = new Set();
const waiting = [];
let running = 0;
async function answer(id, rc, out, err) {
  writeFileSync(dir + '/' + id + '.out', out);
  writeFileSync(dir + '/' + id + '.err', err);
  // The client opens the FIFO right after creating it (waited for up to a minute: a loaded TCG guest
  // can be slow); one that has gone (killed at its timeout) is skipped.
  for (let k = 0; k < 1200; k++) {
    try {
      const fd = openSync(dir + '/' + id + '.fifo', constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(fd, rc + '\\n');
      closeSync(fd);
      break;
    } catch (e) {
      if (e.code !== 'ENXIO') break;
      await sleep(50);
    }
  }
  try { unlinkSync(dir + '/' + id + '.fifo'); } catch {}
  taken.delete(id);
}
async function one({ id, argv }) {
  let out = '';
  let err = '';
  let code = 0;
  const io = { version, out: (s) => { out += s; }, err: (s) => { err += s; }, setExitCode: (c) => { code = c; }, exitCode: () => code };
  let rc;
  try {
    rc = await main(argv, io);
  } catch (e) {
    err += 'numaplan: internal error: ' + (e?.stack ?? e) + '\\n';
    rc = 70;
  }
  running--;
  await answer(id, rc, out, err);
  pump();
}
// Commands run side by side (a test may start several that wait on each other), all in the working
// directory of the process: one sent from another directory waits until none runs, then moves there.
function pump() {
  while (waiting.length > 0) {
    const w = waiting[0];
    if (running > 0 && w.cwd !== process.cwd()) return;
    waiting.shift();
    try {
      process.chdir(w.cwd);
    } catch (e) {
      void answer(w.id, 70, '', 'numaplan CLI server: ' + e.message + '\\n');
      continue;
    }
    running++;
    void one(w);
  }
}
function scan() {
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.fifo') || taken.has(f.slice(0, -5))) continue;
    const id = f.slice(0, -5);
    taken.add(id);
    let fields;
    try {
      fields = readFileSync(dir + '/' + id + '.req', 'utf8').split('\\0');
      unlinkSync(dir + '/' + id + '.req');
    } catch (e) {
      void answer(id, 70, '', 'numaplan CLI server: ' + e.message + '\\n');
      continue;
    }
    fields.pop();
    const [cwd, ...argv] = fields;
    waiting.push({ id, cwd, argv });
  }
  pump();
}
watch(dir, () => scan());
setInterval(() => scan(), 500);
writeFileSync(dir + '/ready.tmp', String(process.pid));
renameSync(dir + '/ready.tmp', dir + '/ready');
`;

/** The client (POSIX sh): what a test runs instead of `node bin/numaplan.js`. */
const CLIENT = `#!/bin/sh
d=${GUEST_CLI_DIR}
bb=${GUEST_BUSYBOX}
printf '%s\\0' "$PWD" "$@" > "$d/$$.req" && $bb mkfifo "$d/$$.fifo" || exit 70
exec 3<>"$d/$$.fifo"
read -r rc <&3
$bb cat "$d/$$.out"
$bb cat "$d/$$.err" >&2
$bb rm -f "$d/$$.out" "$d/$$.err"
exit "$rc"
`;

const started = new WeakMap<Guest, Promise<string>>();

/**
 * Starts numaplan's CLI server in the guest (once per guest; later calls return the same) and
 * returns the client's path, to be used in place of `node bin/numaplan.js`.
 */
export function guestCli(g: Guest): Promise<string> {
  let p = started.get(g);
  if (!p) {
    p = (async () => {
      const client = `${GUEST_CLI_DIR}/numaplan`;
      await g.writeFile(`${GUEST_CLI_DIR}/server.mjs`, SERVER);
      await g.writeFile(client, CLIENT);
      await g.runOk(`${GUEST_BUSYBOX} chmod 755 ${client}`);
      const server = await g.spawn(`exec node ${GUEST_CLI_DIR}/server.mjs ${GUEST_CLI_DIR}`);
      const r = await g.run(`while [ ! -f ${GUEST_CLI_DIR}/ready ]; do kill -0 ${server.pid} 2>/dev/null || exit 1; ${GUEST_BUSYBOX} sleep 0.05; done`, { timeoutMs: 120_000 });
      if (r.code !== 0) {
        const o = await server.output();
        throw new GuestError(g.describe(`guest "${g.name}": numaplan's CLI server did not start:\n${o.stdout}\n${o.stderr}`, 20));
      }
      return shq(client);
    })();
    started.set(g, p);
  }
  return p;
}
