/**
 * Colours for VMs. Each VM prefers the palette slot its name hashes to, so a VM keeps its colour
 * when others come and go; names are visited in sorted order and a taken slot moves to the next
 * free one, so VMs on one host get distinct colours while there are fewer VMs than slots.
 */

/** Colour-blind-friendly-ish palette, all dark enough for white text and distinct from the greys. */
export const VM_PALETTE = [
  '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2',
  '#4e79a7', '#b07aa1', '#59a14f', '#edc948', '#76b7b2', '#f28e2b', '#bcbd22', '#7f3c8d',
] as const;

function hash(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i += 1) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** Colour of each VM name (deterministic for a given set of names). */
export function vmColors(names: Iterable<string>): Map<string, string> {
  const sorted = [...new Set(names)].sort();
  const taken = new Set<number>();
  const out = new Map<string, string>();
  for (const name of sorted) {
    let slot = hash(name) % VM_PALETTE.length;
    if (taken.size < VM_PALETTE.length) {
      while (taken.has(slot)) slot = (slot + 1) % VM_PALETTE.length;
    }
    taken.add(slot);
    out.set(name, VM_PALETTE[slot] as string);
  }
  return out;
}
