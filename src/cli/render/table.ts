/** Plain aligned text tables (no colours, so output pipes cleanly). */

/** Renders rows under a header, columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], options: { align?: 'left' | 'right' } = {}): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const pad = (cell: string, i: number): string =>
    options.align === 'right' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0);
  const line = (r: readonly string[]): string => r.map((c, i) => pad(c, i)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
