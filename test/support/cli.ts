/**
 * Runs the numaplan CLI in-process (the real `main`, which loads the command it runs), with output
 * captured: the fast way for tests to check a command's output and exit code.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { REPO_ROOT } from './data.js';
import { type Collected, type CollectOptions, collect } from './process.js';

/** What a run printed and its exit code. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** An Io that keeps what a command prints: `text()` is its stdout, `errors()` its stderr. */
export function captureIo(): Io & { text: () => string; errors: () => string } {
  let out = '';
  let err = '';
  let code = 0;
  return {
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
    text: () => out,
    errors: () => err,
  };
}

/** Runs `numaplan ARGV` in this process. */
export async function runCli(argv: readonly string[]): Promise<CliResult> {
  const io = captureIo();
  const exit = await main(argv, io);
  return { code: exit, out: io.text(), err: io.errors() };
}

/** What a CLI process printed, its exit code, and whether it outlived its deadline. */
export type CliProcessResult = Collected;

/**
 * Runs `numaplan ARGV` as its own process (from the sources), killed after `timeoutMs`; `onErr` sees
 * stderr as it comes (and the child, whose standard input is a pipe when `stdin` is 'pipe').
 */
export function runCliProcess(argv: readonly string[], timeoutMs = 60_000, onErr?: CollectOptions['onErr'], stdin: 'ignore' | 'pipe' = 'ignore'): Promise<CliProcessResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'support', 'cli-main.ts'), ...argv], { cwd: REPO_ROOT, stdio: [stdin, 'pipe', 'pipe'] });
  return collect(child, onErr ? { timeoutMs, onErr } : { timeoutMs });
}
