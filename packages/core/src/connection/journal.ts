import type { OraDatabase } from './connection.js';

/**
 * `journalMode(db): string` — the database's journal mode in lower case (`wal`, `delete`, …).
 *
 * Only reads: jobs report it and never change it unasked (SPEC §4.7). Throws the translated
 * SQLite error when the file cannot be read.
 *
 * ### Examples
 * ```ts
 * journalMode(openDatabase('ora.db', { readonly: true })); // 'wal'
 * ```
 */
export function journalMode(db: OraDatabase): string {
  return String(db.pragma('journal_mode')).toLowerCase();
}
