/** Aligned markdown tables and number formats for the bench output. */

export type Cell = string | number;

/** Formats a number with thousands separators and `digits` decimals. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A small number with enough significant digits to compare (0.0123, 1.23, 123). */
export function sig(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value === 0) return '0';
  if (Math.abs(value) >= 1000) return num(value, 0);
  return Number(value.toPrecision(digits)).toString();
}

export function usd(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value >= 1 ? value.toFixed(2) : value.toFixed(4);
}

/** A markdown table with padded columns; numeric-looking columns are right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => r.map((c) => String(c)));
  const numeric = header.map((_, i) => text.length > 0 && text.every((r) => /^[-+]?[\d,.]+( ?[%×x])?$|^n\/a$|^$/.test(r[i] ?? '')));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length), 3));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header), rule, ...text.map(line)].join('\n');
}
