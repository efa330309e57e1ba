/**
 * An exclusive lock on a state file, so that commands changing it (`place --state`, `release`) read,
 * decide and write one at a time: without it, two commands reading the same file each write back
 * their own VM and one of them is lost although it exited 0.
 *
 * The lock is a file beside the state (`F.lock`) created with O_EXCL, holding the owner's pid, host
 * and time. A command that finds it waits (polling, with a message after WAIT_NOTICE_MS) up to
 * LOCK_WAIT_MS. A lock is stale, and taken over, when its process is gone (same host: the pid no
 * longer exists) or it is older than STALE_MS (another host, or an unreadable lock); it is removed by
 * renaming it aside first and checking that what was renamed is the stale lock judged, so that two
 * commands clearing one stale lock at once cannot remove a fresh one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/** How long a command waits for the lock before giving up. */
export const LOCK_WAIT_MS = 120_000;
/** A lock older than this is stale whatever its process (commands hold it for well under a second). */
export const STALE_MS = 10 * 60_000;
/** When a waiting command says it is waiting. */
export const WAIT_NOTICE_MS = 300;

/** The lock's file for a state file. */
export function lockPath(statePath: string): string {
  return `${statePath}.lock`;
}

interface LockInfo {
  pid: number;
  host: string;
  at: number;
  token?: string;
}

function readLock(path: string): { info: LockInfo | null; text: string } | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return { info: typeof info?.pid === 'number' ? info : null, text };
  } catch {
    return { info: null, text };
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(path: string, info: LockInfo | null): boolean {
  if (info && info.host === hostname() && info.pid !== process.pid) return !alive(info.pid);
  try {
    return Date.now() - statSync(path).mtimeMs > STALE_MS;
  } catch {
    return false;
  }
}

/** Error for a lock that stayed taken. */
export class StateLockedError extends Error {
  readonly code = 'ERR_STATE_LOCKED';
  constructor(
    readonly path: string,
    holder: string,
  ) {
    super(`${path}: locked by ${holder} for more than ${LOCK_WAIT_MS / 1000} s; if no numaplan command is running, remove ${lockPath(path)}`);
    this.name = 'StateLockedError';
  }
}

/**
 * Runs `fn` holding the lock of `statePath`. `onWait` is told once when the command has to wait.
 */
export async function withStateLock<T>(statePath: string, fn: () => Promise<T> | T, onWait?: (holder: string) => void): Promise<T> {
  const path = lockPath(statePath);
  const token = randomBytes(8).toString('hex');
  const start = Date.now();
  let told = false;
  let delay = 5;
  for (;;) {
    let fd: number | null = null;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (fd !== null) {
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now(), token }));
      } finally {
        closeSync(fd);
      }
      break;
    }
    const seen = readLock(path);
    if (seen === null) continue; // released meanwhile: try again at once
    const holder = seen.info ? `process ${seen.info.pid} on ${seen.info.host}` : 'an unreadable lock';
    if (isStale(path, seen.info)) {
      takeOver(path, seen.text);
      continue;
    }
    if (Date.now() - start > LOCK_WAIT_MS) throw new StateLockedError(statePath, holder);
    if (!told && Date.now() - start >= WAIT_NOTICE_MS) {
      told = true;
      onWait?.(holder);
    }
    await new Promise((r) => setTimeout(r, delay + Math.floor(Math.random() * delay)));
    delay = Math.min(100, delay * 2);
  }
  try {
    return await fn();
  } finally {
    // Remove the lock only while it is still ours.
    const now = readLock(path);
    if (now?.info?.token === token) {
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    }
  }
}

/** Removes a stale lock whose content was `judged`, and only that one. */
function takeOver(path: string, judged: string): void {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else cleared it
  }
  let moved = '';
  try {
    moved = readFileSync(aside, 'utf8');
  } catch {
    moved = '';
  }
  if (moved !== judged) {
    // Renamed a lock taken meanwhile by another command: put it back, unless a third holds the name now.
    try {
      linkSync(aside, path);
    } catch {
      // the name is taken again; the command whose lock this was still finishes its write
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    // ignore
  }
}
