/** External processes for benchmarks: argv arrays (never shell strings), output captured, exit checked. */
import { spawnSync } from 'node:child_process';

/** Runs a command to completion; throws with the first line of its stderr when it fails. Returns stdout. */
export function runProcess(command: string, args: readonly string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, ...options });
  if (r.error) throw new Error(`${command}: ${r.error.message}`);
  if (r.status !== 0) {
    const why = r.stderr.split('\n').find((l) => l.trim() !== '') ?? `signal ${r.signal ?? '?'}`;
    throw new Error(`${command} exited with ${r.status ?? r.signal}: ${why}`);
  }
  return r.stdout;
}

/** True when `name` is on PATH. */
export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' }).status === 0;
}
