/**
 * Waiting for something a test drove to happen, without betting on how long it takes: `until` returns
 * as soon as the condition holds and fails, naming what it waited for, only after a generous cap that a
 * working system never reaches however loaded the machine is.
 */

/** The default cap: far beyond any healthy wait on a busy 2-core machine. */
export const UNTIL_CAP_MS = 60_000;

/** Resolves once `cond()` is true; checks after every timer turn; throws after `capMs`. */
export async function until(cond: () => boolean, what: string, capMs = UNTIL_CAP_MS): Promise<void> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > capMs) throw new Error(`gave up after ${capMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
