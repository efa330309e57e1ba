/** PLACEHOLDER registry of built-in machines; replaced by the presets. */
import type { Topology } from '../model.js';

/** A built-in machine. */
export interface Preset {
  name: string;
  description: string;
  /** Where the numbers come from. */
  provenance: string;
  build(): Topology;
}

const PRESETS: readonly Preset[] = [];

/** Looks a preset up by name. */
export function getPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** All preset names, sorted. */
export function presetNames(): string[] {
  return PRESETS.map((p) => p.name).sort();
}

/** All presets. */
export function listPresets(): readonly Preset[] {
  return PRESETS;
}
