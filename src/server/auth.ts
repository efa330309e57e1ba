/**
 * Bearer-token authentication. Writes always need the token; reads need it unless the service was
 * started with open reads. The comparison is constant-time over SHA-256 digests, so neither the
 * token's length nor its prefix leaks through timing.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from './errors.js';

// One-shot (no Hash object per request): every request's token is hashed.
const digest = (s: string): Buffer => hash('sha256', s, 'buffer');

/** The token's digest, computed once per token (it is the same for every request). */
let known: { token: string; digest: Buffer } | null = null;
function tokenDigest(token: string): Buffer {
  if (known?.token !== token) known = { token, digest: digest(token) };
  return known.digest;
}

/** Checks an Authorization header against the token; throws 401 (missing) or 403 (wrong). */
export function checkBearer(header: string | undefined, token: string): void {
  if (header === undefined || header.trim() === '') {
    throw new ApiError(401, 'ERR_UNAUTHORIZED', 'authorization', 'this needs "Authorization: Bearer TOKEN"');
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw new ApiError(401, 'ERR_UNAUTHORIZED', 'authorization', 'expected "Authorization: Bearer TOKEN"');
  if (!timingSafeEqual(digest(m[1] as string), tokenDigest(token))) {
    throw new ApiError(403, 'ERR_FORBIDDEN', 'authorization', 'wrong token');
  }
}

/** The token in use and where it came from. */
export interface TokenInfo {
  token: string;
  /** True when it was generated now (first start): the only time it is printed. */
  generated: boolean;
  /** The file holding it (the data directory's, or --token-file), when it lives in one. */
  file: string | null;
  /** Where it came from. */
  source: 'option' | 'file' | 'env' | 'data' | 'generated';
}

/** Name of the environment variable holding the token (serve and agent). */
export const TOKEN_ENV = 'NUMAPLAN_TOKEN';

function tokenError(path: string, message: string): Error {
  const e = new Error(`${path}: ${message}`) as Error & { code: string; path: string };
  e.code = 'ERR_TOKEN';
  e.path = path;
  return e;
}

function checked(token: string, path: string): string {
  if (token.length < 8 || /\s/.test(token)) throw tokenError(path, 'at least 8 characters, no spaces');
  return token;
}

/** Reads a token file (first line, trimmed); errors name the option. */
export function readTokenFile(file: string, path = '--token-file'): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw tokenError(path, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return checked((text.split('\n')[0] ?? '').trim(), path);
}

/**
 * The token, from the first of: --token (visible in the process list: prefer the others),
 * --token-file, NUMAPLAN_TOKEN, DATA_DIR/token; else a new random one saved as DATA_DIR/token
 * (mode 0600, in a directory created 0700).
 */
export function resolveToken(given: string | undefined, dataDir: string, options: { file?: string | undefined; env?: string | undefined } = {}): TokenInfo {
  if (given !== undefined && given !== '') return { token: checked(given, '--token'), generated: false, file: null, source: 'option' };
  if (options.file !== undefined && options.file !== '') return { token: readTokenFile(options.file), generated: false, file: options.file, source: 'file' };
  const env = options.env ?? process.env[TOKEN_ENV];
  if (env !== undefined && env !== '') return { token: checked(env.trim(), TOKEN_ENV), generated: false, file: null, source: 'env' };
  const file = join(dataDir, 'token');
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved !== '') return { token: saved, generated: false, file, source: 'data' };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, generated: true, file, source: 'generated' };
}
