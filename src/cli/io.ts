/** Output plumbing shared by commands: where text goes, and how errors become exit codes. */

/** Where a command writes, and its exit code. */
export interface Io {
  version: string;
  out(text: string): void;
  err(text: string): void;
  setExitCode(code: number): void;
  exitCode(): number;
}

/** Errors carrying a `code` like ERR_TOPOLOGY are input errors: exit 2, message names the field. */
export function isInputError(err: unknown): err is Error & { code: string; path?: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('ERR_');
}

/** Prints an error the way every command does and returns its exit code. */
export function reportError(io: Io, err: unknown, json: boolean): number {
  if (isInputError(err)) {
    if (json) {
      io.out(`${JSON.stringify({ ok: false, error: { code: err.code, path: err.path ?? null, message: err.message } })}\n`);
    } else {
      io.err(`numaplan: error: ${err.message}\n`);
    }
    return 2;
  }
  throw err;
}

/** Writes a value as JSON (one document, newline-terminated). */
export function writeJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}
