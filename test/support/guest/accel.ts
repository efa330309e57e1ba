/**
 * KVM or TCG. KVM is used only where a guest really boots with it: /dev/kvm existing and QEMU
 * starting is not enough (on some nested hosts a KVM-booted kernel never prints a line). The probe
 * boots the harness's kernel and initramfs with `-accel kvm` into a one-line init that prints a mark
 * and powers off; KVM wins only if the mark arrives within PROBE_TIMEOUT_MS. The answer is kept in a
 * file under the OS temp dir, keyed by the kernel, the QEMU binary and this machine's kernel release,
 * so that one probe serves every test file of a run (and later runs). NUMAPLAN_GUEST_ACCEL=tcg|kvm
 * skips the probe.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a KVM boot may take to reach init before KVM counts as not working (a working one needs ~1 s). */
export const PROBE_TIMEOUT_MS = 10_000;

/** The line the probe's init prints. */
export const PROBE_MARK = 'numaplan-probe: init reached';

/** The probe's init script (`rdinit=/probe`). */
export const PROBE_SCRIPT = `#!/bin/busybox sh\n/bin/busybox echo "${PROBE_MARK}"\n/bin/busybox poweroff -f\n`;

/** The accelerator chosen and why. */
export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  why: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Boots the probe under KVM; resolves true when init was reached in time. */
function probeKvm(qemuPath: string, kernel: string, initramfs: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(
      qemuPath,
      ['-accel', 'kvm', '-cpu', 'max', '-machine', 'q35', '-m', '256M', '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none',
        '-no-reboot', '-kernel', kernel, '-initrd', initramfs, '-append', 'console=ttyS0 panic=-1 rdinit=/probe', '-serial', 'stdio'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (out.includes(PROBE_MARK)) finish(true);
    });
    child.on('error', () => finish(false));
    child.on('exit', () => finish(out.includes(PROBE_MARK)));
  });
}

/** Picks the accelerator for guests booted from `kernel` (probing KVM once per machine). */
export async function chooseAccel(qemuPath: string, kernel: string, initramfs: string): Promise<AccelChoice> {
  const forced = process.env.NUMAPLAN_GUEST_ACCEL;
  if (forced === 'tcg' || forced === 'kvm') return { accel: forced, why: `NUMAPLAN_GUEST_ACCEL=${forced}` };
  if (forced !== undefined && forced !== '' && forced !== 'auto') throw new Error(`NUMAPLAN_GUEST_ACCEL="${forced}": expected tcg, kvm or auto`);
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { accel: 'tcg', why: 'no usable /dev/kvm' };
  }
  const stamp = (p: string): string => {
    const s = statSync(p);
    return `${p}:${s.size}:${s.mtimeMs}`;
  };
  const key = createHash('sha256').update([stamp(kernel), stamp(qemuPath), release()].join('|')).digest('hex').slice(0, 16);
  const cache = join(tmpdir(), `numaplan-guest-accel-${key}.json`);
  const lock = `${cache}.lock`;
  const read = (): AccelChoice | null => {
    try {
      return JSON.parse(readFileSync(cache, 'utf8')) as AccelChoice;
    } catch {
      return null;
    }
  };
  for (;;) {
    const known = read();
    if (known) return known;
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch {
      // Another test file is probing: wait for its answer (a lock older than two probes is stale).
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 3 * PROBE_TIMEOUT_MS) rmSync(lock, { force: true });
      await sleep(250);
      continue;
    }
    try {
      const ok = await probeKvm(qemuPath, kernel, initramfs);
      const choice: AccelChoice = ok
        ? { accel: 'kvm', why: 'a KVM guest reached init' }
        : { accel: 'tcg', why: `/dev/kvm exists but a KVM-booted kernel did not reach init within ${PROBE_TIMEOUT_MS / 1000} s` };
      writeFileSync(`${cache}.tmp`, JSON.stringify(choice));
      renameSync(`${cache}.tmp`, cache);
      return choice;
    } finally {
      closeSync(fd);
      rmSync(lock, { force: true });
    }
  }
}
