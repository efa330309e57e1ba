/**
 * The few browser APIs the client uses, typed here so the project's compiler settings (Node types, no
 * DOM library) stay as they are for everyone else. `browser()` returns the real objects.
 */

/** An element, as the client uses it. */
export interface El {
  innerHTML: string;
  textContent: string | null;
  value: string;
  hidden: boolean;
  disabled: boolean;
  readonly clientWidth: number;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  closest(selector: string): El | null;
  querySelector(selector: string): El | null;
  querySelectorAll(selector: string): ArrayLike<El>;
  addEventListener(type: string, listener: (event: Ev) => void): void;
  focus(): void;
  scrollIntoView(options?: { block?: string; behavior?: string }): void;
  append(...nodes: El[]): void;
}

/** An event. */
export interface Ev {
  readonly target: unknown;
  readonly key?: string;
  preventDefault(): void;
}

/** The window, as the client uses it. */
export interface Browser {
  document: {
    getElementById(id: string): El | null;
    createElement(tag: string): El;
    addEventListener(type: string, listener: (event: Ev) => void): void;
    title: string;
  };
  location: { hash: string; pathname: string; search: string };
  history: { replaceState(data: unknown, unused: string, url: string): void };
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void };
  fetch: typeof fetch;
  addEventListener(type: string, listener: (event: Ev) => void): void;
}

/** The real browser globals. */
export function browser(): Browser {
  return globalThis as unknown as Browser;
}

/** The element with this id; throws if the page lacks it (a bug in index.html). */
export function byId(b: Browser, id: string): El {
  const el = b.document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el;
}

/** The element an event started on, if it is an element. */
export function targetOf(e: Ev): El | null {
  const t = e.target as El | null;
  return t && typeof t.closest === 'function' ? t : null;
}
