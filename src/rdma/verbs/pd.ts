/** Protection domains: the scope within which memory regions and queue pairs may be used together. */
import type { RdmaDevice } from './device.js';
import { verbsError } from './errors.js';
import { type MemoryRegion, validateAccessFlags } from './mr.js';

/** A protection domain. */
export class ProtectionDomain {
  constructor(
    readonly device: RdmaDevice,
    readonly handle: number,
  ) {}

  /**
   * Registers `buffer` with `access` rights (ACCESS bits). Its virtual address is `addr` when given,
   * else one the device assigns (page aligned, never overlapping another region of the device).
   * `key` asks for a specific lkey/rkey (to replay captured traffic); default: the device picks.
   */
  regMr(buffer: Uint8Array, access: number, addr?: number, key?: number): MemoryRegion {
    const bad = validateAccessFlags(access);
    if (bad) throw verbsError('regMr.access', bad);
    if (addr !== undefined && (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(addr + buffer.length)))
      throw verbsError('regMr.addr', `not a usable virtual address: ${addr}`);
    return this.device.registerRegion(this.handle, buffer, access, addr, key);
  }

  /** Deregisters a region: its keys stop working at once. */
  deregMr(mr: MemoryRegion): void {
    this.device.deregisterRegion(mr);
  }
}
