/**
 * The `--hosts` flag: a comma-separated list of host groups, each `SOURCE*COUNT` (COUNT defaults to
 * 1), where SOURCE is anything `--from` accepts (`preset:NAME`, `json:FILE`, `hwloc:FILE`, ...).
 * Example: `preset:epyc-2s-nps4*100,preset:broadwell-2s*20`. Heterogeneous fleets are simply
 * several groups; hosts are numbered in the order the groups are written.
 */

/** One group of identical hosts. */
export interface HostGroupSpec {
  source: string;
  count: number;
}

/** Error for a bad --hosts value (exit 2 in the CLI). */
export class HostSpecError extends Error {
  readonly code = 'ERR_HOSTS';
  readonly path = '--hosts';
  constructor(message: string) {
    super(`--hosts: ${message}`);
    this.name = 'HostSpecError';
  }
}

/** Parses `SOURCE*COUNT,...`. A source may itself contain ":" (e.g. `json:hosts/a.json*3`). */
export function parseHostSpec(spec: string): HostGroupSpec[] {
  const groups = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((item) => {
      const star = item.lastIndexOf('*');
      const source = (star < 0 ? item : item.slice(0, star)).trim();
      const countText = star < 0 ? '1' : item.slice(star + 1).trim();
      const count = Number(countText);
      if (!Number.isInteger(count) || count < 1) throw new HostSpecError(`"${item}": count "${countText}" is not a whole number >= 1`);
      if (!/^[a-z]+:./.test(source)) throw new HostSpecError(`"${item}": expected SOURCE*COUNT with SOURCE like preset:NAME or json:FILE`);
      return { source, count };
    });
  if (groups.length === 0) throw new HostSpecError('no host group given (e.g. preset:epyc-2s-nps4*100)');
  return groups;
}
