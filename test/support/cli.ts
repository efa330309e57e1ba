/**
 * Runs the numaplan CLI in-process (the real `main`, which loads the command it runs), with output
 * captured: the fast way for tests to check a command's output and exit code.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { REPO_ROOT } from './data.js';

/** What a run printed and its exit code. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `numaplan ARGV` in this process. */
export async function runCli(argv: readonly string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  let code = 0;
  const io: Io = {
    version: 'test',
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    setExitCode: (c) => {
      code = c;
    },
    exitCode: () => code,
  };
  const exit = await main(argv, io);
  return { code: exit, out, err };
}

/** What a CLI process printed, its exit code, and whether it outlived its deadline. */
export interface CliProcessResult extends CliResult {
  timedOut: boolean;
}

/** Runs `numaplan ARGV` as its own process (from the sources), killed after `timeoutMs`; `onErr` sees stderr as it comes. */
export function runCliProcess(argv: readonly string[], timeoutMs = 60_000, onErr?: (text: string) => void): Promise<CliProcessResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'support', 'cli-main.ts'), ...argv], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      onErr?.(err);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err, timedOut });
    });
  });
}
