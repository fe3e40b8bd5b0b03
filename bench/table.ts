/**
 * The table every benchmark prints: columns two spaces apart, each as wide as its widest cell,
 * and a dashed rule under the header row (the first row).
 *   align 'label': first column left, the numbers right (the default)
 *   align 'left' / 'right': every column so
 */
export interface TableStyle {
  align?: 'label' | 'left' | 'right';
  /** The dashed rule under the header; default true. */
  rule?: boolean;
}

export function formatTable(rows: readonly string[][], style: TableStyle = {}): string {
  const align = style.align ?? 'label';
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const left = (c: number) => align === 'left' || (align === 'label' && c === 0);
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (left(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ');
  const lines = rows.map(line);
  if (style.rule ?? true) lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines.join('\n');
}

export function printTable(rows: readonly string[][], style: TableStyle = {}): void {
  console.log(formatTable(rows, style));
}
