import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { IoError } from '../errors/errors.js';
import { fsyncDir, ioError } from '../fs/files.js';
import { ARCHIVABLE, type ArchivableName } from './archivable.js';

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** An export being written: `<path>.tmp` until `finish()` publishes it under `path`. */
export interface ArchiveExport {
  /** Where the finished export goes. */
  readonly path: string;
  /** Appends one batch's rows of `table` (the archive's `onRows`). */
  write(table: string, rows: unknown[][]): void;
  /** Makes it durable (fsync) and renames it into place (and fsyncs the directory); returns `path`. */
  finish(): string;
  /** After a failed run: closes it without publishing; returns the temp file, which is kept. */
  abandon(): string;
}

/** The export file of a run: `ora_archive_export_<cutoff>_<ms>.<format>.gz` in the archive directory. */
export function exportPathFor(
  livePath: string,
  cutoff: string,
  format: ExportFormat,
  archiveDir?: string,
  now = Date.now(),
): string {
  const dir = archiveDir ? resolve(archiveDir) : dirname(resolve(livePath));
  return join(dir, `ora_archive_export_${cutoff}_${now}.${format}.gz`);
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * `openArchiveExport(path, format, table): ArchiveExport` — the `--export` file of an archive run.
 * Each batch is one gzip member (concatenated members are one valid gzip stream, so `gunzip`
 * reads the whole file). CSV: a `table,<columns>` header before a table's first row, then
 * `table,<values>` lines with RFC 4180 quoting; NDJSON: one `{"table":…,<column>:<value>}` object
 * per row. The file (mode 0600, never replacing another) is written as `<path>.tmp` and appears
 * under `path` only through `finish()`, after an fsync: a run that fails leaves no half export
 * under the final name. Throws IO_ERROR naming the file when it cannot be created.
 *
 * ### Examples
 * ```ts
 * const out = openArchiveExport(exportPathFor(db.path, '2025-01-01', 'csv'), 'csv', 'shipped_orders');
 * await archiveRows(db, { ...options, onRows: (_year, table, rows) => out.write(table, rows) });
 * out.finish();
 * ```
 */
export function openArchiveExport(path: string, format: ExportFormat, table: ArchivableName): ArchiveExport {
  const temp = `${path}.tmp`;
  let fd: number;
  try {
    fd = openSync(temp, 'wx', 0o600);
  } catch (error) {
    throw new IoError(
      `cannot write the export ${path} (${(error as NodeJS.ErrnoException).code}); check the directory`,
      'IO_ERROR',
      { cause: error },
    );
  }
  const spec = ARCHIVABLE[table];
  const columnsOf = (name: string): readonly string[] =>
    name === spec.table ? spec.columns : (spec.children.find((c) => c.table === name)?.columns ?? []);
  const headerWritten = new Set<string>();
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    closeSync(fd);
  };
  return {
    path,
    write(name, rows) {
      if (rows.length === 0) return;
      const cols = columnsOf(name);
      let text = '';
      if (format === 'csv') {
        if (!headerWritten.has(name)) {
          text += `table,${cols.join(',')}\n`;
          headerWritten.add(name);
        }
        for (const r of rows) text += `${name},${r.map(csvCell).join(',')}\n`;
      } else {
        for (const r of rows)
          text += `${JSON.stringify({ table: name, ...Object.fromEntries(cols.map((c, i) => [c, r[i]])) })}\n`;
      }
      const member = gzipSync(text);
      try {
        for (let done = 0; done < member.length; ) done += writeSync(fd, member, done);
      } catch (error) {
        throw ioError(error, `writing the export ${temp}`);
      }
    },
    finish() {
      try {
        fsyncSync(fd);
        close();
        renameSync(temp, path);
        fsyncDir(dirname(path));
      } catch (error) {
        close();
        throw ioError(error, `publishing the export ${path}`);
      }
      return path;
    },
    abandon() {
      close();
      return temp;
    },
  };
}
