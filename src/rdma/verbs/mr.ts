/**
 * Memory regions: a buffer registered at a virtual address with access rights and lkey/rkey.
 *
 * Protection, as IBA and Linux rxe have it:
 * - Keys: the index of the region in the upper 24 bits, a key byte below that is random and
 *   changes whenever the region is registered again (reregMr), so a peer cannot guess a key from
 *   another or reuse a stale one.
 * - A region is usable while `valid`; deregistration and invalidation end that at once, and bump
 *   `generation`, so a work request that resolved the region earlier (a posted receive, a WRITE
 *   in progress, a READ waiting for its response) finds it gone and completes in error instead of
 *   touching its memory.
 * - Only regions registered with `remoteInvalidate` (what IBA calls regions that may be
 *   invalidated, Linux's IB_MR_TYPE_MEM_REG) may be invalidated by a peer's SEND with Invalidate.
 * - The memory must stay where it is: a resizable ArrayBuffer is refused at registration, and an
 *   ArrayBuffer detached (transferred) later makes every access to the region fail (a remote access
 *   error for peers, a local protection error for local work requests), never an exception.
 */
import { ACCESS } from './types.js';

/** A registered memory region. */
export interface MemoryRegion {
  readonly pdHandle: number;
  readonly buffer: Uint8Array;
  /** Virtual address of buffer[0]. */
  readonly addr: number;
  readonly length: number;
  /** Keys (equal, as in Linux rxe); new ones at every re-registration. */
  lkey: number;
  rkey: number;
  readonly access: number;
  /** A peer's SEND with Invalidate may invalidate it (see the module comment). */
  readonly remoteInvalidate: boolean;
  valid: boolean;
  /** Changes at every registration, invalidation and deregistration. */
  generation: number;
}

/** Options of ProtectionDomain.regMr. */
export interface RegMrOptions {
  /** The virtual address of byte 0 (default: one the device assigns). */
  addr?: number;
  /** A specific lkey/rkey (to replay captured traffic; default: the device picks). */
  key?: number;
  /** Allow a peer's SEND with Invalidate to invalidate the region (default false). */
  remoteInvalidate?: boolean;
}

/** Result of checking a remote or local access against a region. */
export type AccessCheck = { ok: true; mr: MemoryRegion; offset: number } | { ok: false };

/** True while the region's memory is still all there (not detached, not shrunk). */
export function memoryPresent(mr: MemoryRegion): boolean {
  return mr.buffer.byteLength >= mr.length;
}

/**
 * Checks that [addr, addr+length) lies inside `mr` and that `need` access bits are granted. Never
 * returns an offset outside the region.
 */
export function checkAccess(mr: MemoryRegion | undefined, pdHandle: number, addr: number, length: number, need: number): AccessCheck {
  if (!mr || !mr.valid || mr.pdHandle !== pdHandle) return { ok: false };
  if ((mr.access & need) !== need) return { ok: false };
  if (!Number.isSafeInteger(addr) || length < 0 || addr < mr.addr || addr + length > mr.addr + mr.length) return { ok: false };
  if (!memoryPresent(mr)) return { ok: false };
  return { ok: true, mr, offset: addr - mr.addr };
}

/** Remote access bits imply local write where the verbs require it. */
export function validateAccessFlags(access: number): string | null {
  if ((access & (ACCESS.REMOTE_WRITE | ACCESS.REMOTE_ATOMIC)) !== 0 && (access & ACCESS.LOCAL_WRITE) === 0)
    return 'REMOTE_WRITE and REMOTE_ATOMIC require LOCAL_WRITE';
  return null;
}

/** Why a buffer cannot be registered, or null. */
export function validateBuffer(buffer: Uint8Array): string | null {
  if (!(buffer instanceof Uint8Array)) return 'a Uint8Array (or Buffer) expected';
  const ab = buffer.buffer as ArrayBufferLike & { resizable?: boolean; detached?: boolean };
  if (ab.resizable === true) return 'a resizable ArrayBuffer cannot be registered (registered memory must stay where and as long as it is)';
  if (ab.detached === true) return 'the ArrayBuffer is detached';
  return null;
}
