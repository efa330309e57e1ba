/**
 * hugetlbfs mounts of this machine, from /proc/mounts: the QEMU file backend needs the mount of the
 * placement's page size (Debian mounts only /dev/hugepages, of the default size, and only with
 * systemd's dev-hugepages.mount).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSize } from '../../core/topology/sizes.js';

/** One hugetlbfs mount. */
export interface HugetlbfsMount {
  path: string;
  /** Bytes: the mount's pagesize= option, else the kernel's default huge page size. */
  pageSize: number;
}

/** Every hugetlbfs mount under `root` (default "/"). */
export function hugetlbfsMounts(root = '/'): HugetlbfsMount[] {
  let mounts = '';
  let meminfo = '';
  try {
    mounts = readFileSync(join(root, 'proc', 'mounts'), 'utf8');
  } catch {
    return [];
  }
  try {
    meminfo = readFileSync(join(root, 'proc', 'meminfo'), 'utf8');
  } catch {
    // no default size known
  }
  const def = /^Hugepagesize:\s+(\d+) kB/m.exec(meminfo);
  const defaultSize = def ? Number(def[1]) * 1024 : 2 * 1024 * 1024;
  const out: HugetlbfsMount[] = [];
  for (const line of mounts.split('\n')) {
    const [, path, type, opts] = line.split(' ');
    if (type !== 'hugetlbfs' || path === undefined) continue;
    const size = /(?:^|,)pagesize=([^,]+)/.exec(opts ?? '')?.[1];
    let pageSize = defaultSize;
    if (size !== undefined) {
      try {
        pageSize = parseSize(size);
      } catch {
        continue;
      }
    }
    out.push({ path: path.replace(/\\040/g, ' '), pageSize });
  }
  return out;
}

/** The first hugetlbfs mount of a page size, or null. */
export function hugetlbfsMount(pageSize: number, root = '/'): string | null {
  return hugetlbfsMounts(root).find((m) => m.pageSize === pageSize)?.path ?? null;
}
