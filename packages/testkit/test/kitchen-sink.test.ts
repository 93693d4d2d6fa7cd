import { copyFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { copyChinook, createKitchenSinkDatabase, tableContents, tempDir } from '../src/index.js';

let t: ReturnType<typeof tempDir>;
afterEach(() => t?.cleanup());

describe('createKitchenSinkDatabase', () => {
  it('holds every feature it promises, with committed rows still in the WAL', () => {
    t = tempDir();
    const sink = createKitchenSinkDatabase(t.path('sink.db'));
    expect(sink.walBytes).toBeGreaterThan(0);
    const db = new Database(sink.path, { readonly: true });
    try {
      expect(db.pragma('page_size', { simple: true })).toBe(8192);
      expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(Number(db.pragma('freelist_count', { simple: true }))).toBeGreaterThan(0);
      const sql = (db.prepare('SELECT group_concat(sql, char(10)) FROM sqlite_schema').pluck().get() as string) ?? '';
      for (const feature of [
        'STRICT',
        'WITHOUT ROWID',
        'GENERATED ALWAYS',
        'STORED',
        'AUTOINCREMENT',
        'USING fts5',
        'WHERE kelvin > 300',
        'lower(note)',
        'CREATE TRIGGER',
        'CREATE VIEW',
      ]) {
        expect(sql).toContain(feature);
      }
      expect(sink.tables).toEqual(
        expect.arrayContaining(['notes_fts', 'notes_fts_data', 'sqlite_sequence', 'odd name; table']),
      );
      // Blobs larger than a page live on overflow pages.
      expect(db.prepare('SELECT min(length(data)) FROM attachments').pluck().get()).toBeGreaterThan(8192);
      expect(db.prepare("SELECT count(*) FROM notes_fts WHERE notes_fts MATCH 'run'").pluck().get()).toBe(2000);
      expect(db.prepare('SELECT count(*) FROM readings').pluck().get()).toBe(2000);
    } finally {
      db.close();
    }
    // The last rows are only in the WAL: the main file alone does not have them.
    const mainOnly = t.path('main-only.db');
    copyFileSync(sink.path, mainOnly);
    const main = new Database(mainOnly, { readonly: true });
    try {
      expect(main.prepare('SELECT count(*) FROM readings').pluck().get()).toBe(1800);
    } finally {
      main.close();
    }
    expect(tableContents(sink.path).readings).toMatch(/^2000:/);
  });

  it('tableContents changes when one row of any kind of table changes', () => {
    t = tempDir();
    const sink = createKitchenSinkDatabase(t.path('sink.db'), { rows: 200 });
    const before = tableContents(sink.path);
    const db = new Database(sink.path);
    try {
      db.exec("UPDATE tags SET weight = weight + 1 WHERE name = 'alpha'");
      db.exec("INSERT INTO notes_fts (title, body) VALUES ('x', 'y')");
    } finally {
      db.close();
    }
    const after = tableContents(sink.path);
    expect(after.tags).not.toBe(before.tags);
    expect(after.notes_fts).not.toBe(before.notes_fts);
    expect(after.readings).toBe(before.readings);
  });
});

describe('copyChinook', () => {
  it('copies the committed Chinook sample (11 tables, DELETE journal mode)', () => {
    t = tempDir();
    const path = copyChinook(t.dir);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get()).toBe(11);
      expect(db.prepare('SELECT count(*) FROM Track').pluck().get()).toBe(3503);
    } finally {
      db.close();
    }
  });
});
