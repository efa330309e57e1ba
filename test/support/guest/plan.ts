/**
 * Several guests at once. vitest runs one test file at a time here (2 cores: one worker) and the
 * suites of a file one after another, while a TCG guest uses one host core; a file that checks
 * several shapes would leave the other core idle. A plan is one guest's work: boot, then named
 * steps in order, then power off. `startPlans` runs plans side by side (as many as the machine has
 * cores), and each test awaits the result of the step it judges:
 *
 *   const plan = guestPlan(shape, { topology: (g) => g.runOk('numactl -H'), ... });
 *   beforeAll(() => startPlans([{ plan }, ...]));
 *   it('...', async () => expect(await plan.result('topology')).toMatch(...));
 *
 * A step that throws fails only its own test (later steps still run, unless the guest died); a boot
 * failure fails every step's test with the boot error and the serial log's tail. Step results are
 * observations; tests make the assertions.
 */
import { availableParallelism } from 'node:os';
import { type BootOptions, bootGuest, type Guest, GuestError, type GuestSource } from './index.js';

/** A step: works in the guest and returns what it saw. */
export type GuestStep = (g: Guest) => Promise<unknown>;

interface Deferred {
  promise: Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<unknown>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Handled here so that a step nobody awaits (a filtered-out test) is no unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** One guest's work. */
export class GuestPlan<S extends Record<string, GuestStep>, G extends GuestSource = GuestSource> {
  /** The guest while it runs (for failure messages), else null. */
  guest: Guest | null = null;
  private readonly results: Record<keyof S, Deferred>;
  private started: Promise<void> | null = null;

  constructor(
    /** What boots: a shape, or a QEMU argv ({ name, argv }). */
    readonly shape: G,
    private readonly steps: S,
    private readonly options: BootOptions = {},
  ) {
    this.results = Object.fromEntries(Object.keys(steps).map((k) => [k, deferred()])) as Record<keyof S, Deferred>;
  }

  /** The result of a step (starts nothing: see startPlans). */
  result<K extends keyof S>(name: K): Promise<Awaited<ReturnType<S[K]>>> {
    return this.results[name].promise as Promise<Awaited<ReturnType<S[K]>>>;
  }

  /**
   * Boots, runs the steps in order (only those in `only` when given: the others' results reject as
   * not selected), powers off; resolves when done (never rejects).
   */
  run(only?: ReadonlySet<string>): Promise<void> {
    this.started ??= (async () => {
      try {
        this.guest = await bootGuest(this.shape, this.options);
      } catch (err) {
        for (const d of Object.values(this.results) as Deferred[]) d.reject(err);
        return;
      }
      const g = this.guest;
      try {
        for (const [name, step] of Object.entries(this.steps)) {
          const d = this.results[name as keyof S];
          if (only && !only.has(name)) {
            d.reject(new Error(`step "${name}" of guest "${this.shape.name}" was not selected to run`));
            continue;
          }
          try {
            d.resolve(await step(g));
          } catch (err) {
            d.reject(err instanceof GuestError || !(err instanceof Error) ? err : new Error(g.describe(err.message, 20)));
          }
        }
      } finally {
        await g.close();
      }
    })();
    return this.started;
  }
}

/** A plan for `shape` (or a QEMU argv): boot with `options`, then `steps` in their order. */
export function guestPlan<S extends Record<string, GuestStep>, G extends GuestSource>(shape: G, steps: S, options: BootOptions = {}): GuestPlan<S, G> {
  return new GuestPlan(shape, steps, options);
}

/**
 * Runs plans side by side, at most `concurrency` at a time (default: the machine's cores), without
 * waiting for them; returns a promise that settles when all are done (await it in afterAll).
 */
export function startPlans(
  plans: readonly { plan: GuestPlan<Record<string, GuestStep>>; only?: ReadonlySet<string> }[],
  concurrency = availableParallelism(),
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plans.length) {
      const p = plans[next++] as (typeof plans)[number];
      await p.plan.run(p.only);
    }
  };
  return Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, plans.length)) }, worker)).then(() => undefined);
}
