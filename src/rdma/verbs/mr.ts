/** Memory regions: a buffer registered at a virtual address with access rights and lkey/rkey. */
import { ACCESS } from './types.js';

/** A registered memory region. */
export interface MemoryRegion {
  readonly pdHandle: number;
  readonly buffer: Uint8Array;
  /** Virtual address of buffer[0]. */
  readonly addr: number;
  readonly length: number;
  readonly lkey: number;
  readonly rkey: number;
  readonly access: number;
  valid: boolean;
}

/** Result of checking a remote or local access against a region. */
export type AccessCheck = { ok: true; mr: MemoryRegion; offset: number } | { ok: false };

/**
 * Checks that [addr, addr+length) lies inside `mr` and that `need` access bits are granted. Never
 * returns an offset outside the region.
 */
export function checkAccess(mr: MemoryRegion | undefined, pdHandle: number, addr: number, length: number, need: number): AccessCheck {
  if (!mr || !mr.valid || mr.pdHandle !== pdHandle) return { ok: false };
  if ((mr.access & need) !== need) return { ok: false };
  if (!Number.isSafeInteger(addr) || length < 0 || addr < mr.addr || addr + length > mr.addr + mr.length) return { ok: false };
  return { ok: true, mr, offset: addr - mr.addr };
}

/** Remote access bits imply local write where the verbs require it. */
export function validateAccessFlags(access: number): string | null {
  if ((access & (ACCESS.REMOTE_WRITE | ACCESS.REMOTE_ATOMIC)) !== 0 && (access & ACCESS.LOCAL_WRITE) === 0)
    return 'REMOTE_WRITE and REMOTE_ATOMIC require LOCAL_WRITE';
  return null;
}
