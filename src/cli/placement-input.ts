/**
 * Reading placement files (`numaplan place --json` output) for the commands that take
 * `--placement FILE`: kept apart from the emitters so that `run --placement` loads the file's
 * schema and nothing of the emitters or the placement engine.
 */
import { readFileSync } from 'node:fs';
import { EmitError } from '../core/emit/errors.js';
import type { PlacementLike } from '../core/emit/guest.js';
import { parsePlacementFile } from '../core/emit/placement-file.js';

/** A file's text; a file that cannot be read is an input error naming the option (exit 2). */
export function readText(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new EmitError(option, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'ERR_INPUT');
  }
}

/**
 * The one placement of a placement file that `name` picks, or the only one there is; anything else
 * names the file and what to do (exit 2).
 */
export function readOnePlacement(file: string, name: string | undefined): PlacementLike {
  const all = parsePlacementFile(readText(file, '--placement'), file);
  const chosen = name === undefined ? all : all.filter((p) => p.name === name);
  if (chosen.length !== 1) {
    throw new EmitError('--name', chosen.length === 0 ? `no placement named "${name}" in ${file}` : `${file} holds ${all.length} placements; pick one with --name`);
  }
  return chosen[0] as PlacementLike;
}
