/** src/core must stay pure: no node:* modules, no drivers, no environment, no I/O. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';

const ALLOWED_PACKAGES = new Set(['zod', 'fast-xml-parser']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

describe('core purity', () => {
  const core = join(REPO_ROOT, 'src', 'core');
  for (const file of files(core)) {
    it(relative(REPO_ROOT, file), () => {
      const text = readFileSync(file, 'utf8');
      const imports = [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
        (m) => m[1] ?? m[2] ?? '',
      );
      for (const spec of imports) {
        if (spec.startsWith('.')) continue;
        expect(ALLOWED_PACKAGES.has(spec), `${spec} imported by a core module`).toBe(true);
      }
      expect(text).not.toMatch(/\bprocess\.(env|argv|cwd|stdout|stderr|exit)/);
      expect(text).not.toMatch(/\brequire\(/);
    });
  }
});
