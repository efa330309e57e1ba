/** Reading `--calibration FILE` (the JSON `numaplan probe` saves), for every command that takes it. */
import { readFileSync } from 'node:fs';
import { parseCalibration } from '../core/probe/plan.js';
import { TopologyError } from '../core/topology/errors.js';
import type { Calibration } from '../core/topology/model.js';

/** Reads a probe result; exit 2 naming the file and field when it cannot be read or is not one. */
export function readCalibrationFile(path: string): Calibration {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TopologyError('--calibration', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'ERR_CALIBRATION');
  }
  return parseCalibration(text, path);
}
