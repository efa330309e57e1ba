/**
 * The subset of C's printf that rdma-core's and perftest's messages and reports use, so numaplan
 * writes their exact bytes: conversions d, u, x, f (lf, lu, llx, PRIu64 are the same here) with
 * the flags '-', '0' and '#', a width and a precision. Pure.
 */

import { formatIp } from '../wire/ip-address.js';

/** Formats like C's snprintf for the supported conversions; throws on anything else. */
export function cformat(fmt: string, ...args: (number | bigint | string)[]): string {
  let out = '';
  let a = 0;
  const re = /%([-0#]*)(\d+)?(?:\.(\d+))?(hh|h|ll|l|z)?([duxfs%])/g;
  let last = 0;
  for (let m = re.exec(fmt); m; m = re.exec(fmt)) {
    out += fmt.slice(last, m.index);
    last = re.lastIndex;
    const [, flags = '', widthText, precText, , conv] = m;
    if (conv === '%') {
      out += '%';
      continue;
    }
    const arg = args[a++];
    if (arg === undefined) throw new RangeError(`cformat: too few arguments for "${fmt}"`);
    const left = flags.includes('-');
    const zero = flags.includes('0') && !left;
    const alt = flags.includes('#');
    const width = widthText === undefined ? 0 : Number(widthText);
    let body: string;
    let prefix = '';
    switch (conv) {
      case 's':
        body = String(arg);
        break;
      case 'd':
      case 'u': {
        const v = BigInt(typeof arg === 'string' ? Number(arg) : typeof arg === 'number' ? Math.trunc(arg) : arg);
        if (v < 0n) {
          prefix = '-';
          body = (-v).toString();
        } else body = v.toString();
        break;
      }
      case 'x': {
        const v = BigInt(typeof arg === 'number' ? Math.trunc(arg) : (arg as bigint));
        body = (v < 0n ? BigInt.asUintN(64, v) : v).toString(16);
        // C: the 0x prefix only for a non-zero value.
        if (alt && v !== 0n) prefix = '0x';
        break;
      }
      case 'f': {
        const v = Number(arg);
        const prec = precText === undefined ? 6 : Number(precText);
        if (v < 0 || Object.is(v, -0)) {
          prefix = '-';
          body = (-v).toFixed(prec);
        } else body = v.toFixed(prec);
        break;
      }
      default:
        throw new RangeError(`cformat: unsupported conversion %${String(conv)}`);
    }
    const len = prefix.length + body.length;
    if (len >= width) out += prefix + body;
    else if (left) out += prefix + body + ' '.repeat(width - len);
    else if (zero) out += prefix + '0'.repeat(width - len) + body;
    else out += ' '.repeat(width - len) + prefix + body;
  }
  return out + fmt.slice(last);
}

/** A GID of an IP address: IPv6 as it is, IPv4 mapped (::ffff:a.b.c.d), as RoCE v2 GID tables hold them. */
export function gidOfAddress(bytes: Buffer): Buffer {
  if (bytes.length === 16) return Buffer.from(bytes);
  if (bytes.length !== 4) throw new RangeError('4 or 16 address bytes expected');
  const g = Buffer.alloc(16);
  g[10] = 0xff;
  g[11] = 0xff;
  bytes.copy(g, 12);
  return g;
}

/** The IP address a GID stands for: 4 bytes for an IPv4-mapped GID, else the 16 bytes. */
export function addressOfGid(gid: Buffer): Buffer {
  const mapped = gid.subarray(0, 10).every((b) => b === 0) && gid[10] === 0xff && gid[11] === 0xff;
  return mapped ? Buffer.from(gid.subarray(12, 16)) : Buffer.from(gid);
}

/** inet_ntop(AF_INET6, gid): RFC 5952 text, IPv4-mapped GIDs as ::ffff:a.b.c.d. */
export function gidText(gid: Buffer): string {
  const mapped = gid.subarray(0, 10).every((b) => b === 0) && gid[10] === 0xff && gid[11] === 0xff;
  if (mapped) return `::ffff:${gid[12]}.${gid[13]}.${gid[14]}.${gid[15]}`;
  return formatIp(gid);
}
