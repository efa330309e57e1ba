/** Protection domains: the scope within which memory regions and queue pairs may be used together. */
import type { RdmaDevice } from './device.js';
import { verbsError } from './errors.js';
import { type MemoryRegion, type RegMrOptions, validateAccessFlags, validateBuffer } from './mr.js';

/** A protection domain. */
export class ProtectionDomain {
  constructor(
    readonly device: RdmaDevice,
    readonly handle: number,
  ) {}

  /**
   * Registers `buffer` with `access` rights (ACCESS bits). Options (or, positionally, the virtual
   * address and key): `addr`, the virtual address of byte 0 (default: one the device assigns, page
   * aligned, never overlapping another region of the device); `key`, a specific lkey/rkey (to
   * replay captured traffic; default: the device picks one with a random key byte);
   * `remoteInvalidate`, whether a peer's SEND with Invalidate may invalidate it.
   */
  regMr(buffer: Uint8Array, access: number, addrOrOptions?: number | RegMrOptions, key?: number): MemoryRegion {
    const o: RegMrOptions = typeof addrOrOptions === 'object' ? addrOrOptions : { ...(addrOrOptions === undefined ? {} : { addr: addrOrOptions }), ...(key === undefined ? {} : { key }) };
    const bad = validateAccessFlags(access);
    if (bad) throw verbsError('regMr.access', bad);
    const badBuffer = validateBuffer(buffer);
    if (badBuffer) throw verbsError('regMr.buffer', badBuffer);
    const addr = o.addr;
    if (addr !== undefined && (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(addr + buffer.length)))
      throw verbsError('regMr.addr', `not a usable virtual address: ${addr}`);
    return this.device.registerRegion(this.handle, buffer, access, addr, o.key, o.remoteInvalidate === true);
  }

  /**
   * Registers a region again after it was invalidated (or to change its keys): it is valid again,
   * with new keys (same index, a new random key byte); the old keys stop working.
   */
  reregMr(mr: MemoryRegion): MemoryRegion {
    if (mr.pdHandle !== this.handle) throw verbsError('reregMr', 'the region belongs to another protection domain');
    return this.device.reregisterRegion(mr);
  }

  /** Deregisters a region: its keys stop working at once, and no byte of it is touched afterwards. */
  deregMr(mr: MemoryRegion): void {
    this.device.deregisterRegion(mr);
  }
}
