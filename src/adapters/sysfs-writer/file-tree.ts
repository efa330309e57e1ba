/**
 * An in-memory plan of files and symbolic links, written to disk in one pass. Paths are relative
 * to the tree's root and use "/" separators; file contents are written verbatim.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Files and links to create under one root. */
export class FileTree {
  private readonly files = new Map<string, string | Uint8Array>();
  private readonly links = new Map<string, string>();

  /** Plans a file; a later call for the same path replaces the content. */
  file(path: string, content: string | Uint8Array): this {
    this.files.set(path, content);
    return this;
  }

  /** Plans a sysfs attribute: the value followed by the newline the kernel ends it with. */
  attr(path: string, value: string | number): this {
    return this.file(path, `${value}\n`);
  }

  /** Plans a symbolic link at `path` pointing to `target` (relative targets resolve from the link's folder). */
  link(path: string, target: string): this {
    this.links.set(path, target);
    return this;
  }

  /** Numbers of planned files and links. */
  get counts(): { files: number; links: number } {
    return { files: this.files.size, links: this.links.size };
  }

  /** Writes everything under `root` (which may already exist; existing files are overwritten). */
  writeTo(root: string): void {
    const made = new Set<string>();
    const ensure = (dir: string): void => {
      if (dir === '.' || made.has(dir)) return;
      mkdirSync(join(root, dir), { recursive: true });
      made.add(dir);
    };
    for (const [path, content] of this.files) {
      ensure(dirname(path));
      writeFileSync(join(root, path), content);
    }
    for (const [path, target] of this.links) {
      ensure(dirname(path));
      symlinkSync(target, join(root, path));
    }
  }
}
