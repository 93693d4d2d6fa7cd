const BYTES_PER_MIB = 1024 * 1024;

/**
 * `mib(bytes): number` — bytes as MiB rounded to 2 decimals, for JSON fields and reports.
 *
 * ### Examples
 * ```ts
 * mib(1_572_864); // 1.5
 * ```
 */
export function mib(bytes: number): number {
  return Math.round((bytes / BYTES_PER_MIB) * 100) / 100;
}

/**
 * `formatMib(bytes, digits = 2): string` — bytes as fixed-point MiB text with its unit, for
 * summaries and messages.
 *
 * ### Examples
 * ```ts
 * formatMib(1_572_864); // '1.50 MiB'
 * formatMib(1_572_864, 1); // '1.5 MiB'
 * ```
 */
export function formatMib(bytes: number, digits = 2): string {
  return `${(bytes / BYTES_PER_MIB).toFixed(digits)} MiB`;
}

/**
 * `formatBytes(bytes): string` — small amounts in KiB (a restore point's few kilobytes), larger
 * ones as formatMib.
 *
 * ### Examples
 * ```ts
 * formatBytes(22_528); // '22.0 KiB'
 * formatBytes(1_572_864); // '1.50 MiB'
 * ```
 */
export function formatBytes(bytes: number): string {
  return bytes < BYTES_PER_MIB ? `${(bytes / 1024).toFixed(1)} KiB` : formatMib(bytes);
}

/**
 * `textTable(header, rows, indent = ''): string[]` — rows as left-aligned columns two spaces
 * apart (each as wide as its widest cell), the header first, trailing spaces trimmed.
 *
 * ### Examples
 * ```ts
 * textTable(['ID', 'SIZE'], [['a', '1.00 MiB']]); // ['ID  SIZE', 'a   1.00 MiB']
 * ```
 */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], indent = ''): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map(
    (r) =>
      `${indent}${r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}`,
  );
}
