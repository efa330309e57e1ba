/**
 * Bearer-token authentication. Writes always need the token; reads need it unless the service was
 * started with open reads. The comparison is constant-time over SHA-256 digests, so neither the
 * token's length nor its prefix leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from './errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Checks an Authorization header against the token; throws 401 (missing) or 403 (wrong). */
export function checkBearer(header: string | undefined, token: string): void {
  if (header === undefined || header.trim() === '') {
    throw new ApiError(401, 'ERR_UNAUTHORIZED', 'authorization', 'this needs "Authorization: Bearer TOKEN"');
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw new ApiError(401, 'ERR_UNAUTHORIZED', 'authorization', 'expected "Authorization: Bearer TOKEN"');
  if (!timingSafeEqual(digest(m[1] as string), digest(token))) {
    throw new ApiError(403, 'ERR_FORBIDDEN', 'authorization', 'wrong token');
  }
}

/** The token in use and where it came from. */
export interface TokenInfo {
  token: string;
  /** True when it was generated now (first start): print it. */
  generated: boolean;
  /** The file holding it, when it lives in the data directory. */
  file: string | null;
}

/**
 * The token: the one given (--token), else the one saved in DATA_DIR/token, else a new random one
 * saved there (mode 0600).
 */
export function resolveToken(given: string | undefined, dataDir: string): TokenInfo {
  if (given !== undefined && given !== '') {
    if (given.length < 8 || /\s/.test(given)) {
      const e = new Error('--token: at least 8 characters, no spaces') as Error & { code: string; path: string };
      e.code = 'ERR_TOKEN';
      e.path = '--token';
      throw e;
    }
    return { token: given, generated: false, file: null };
  }
  const file = join(dataDir, 'token');
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved !== '') return { token: saved, generated: false, file };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, generated: true, file };
}
