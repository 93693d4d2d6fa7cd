import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tempDir } from '@ora/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendNoFollow, publishExclusively } from '../src/fs/files.js';

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

describe('publishExclusively', () => {
  it('never replaces a file: a taken name gets a counter', () => {
    writeFileSync(t.path('copy.db'), 'older copy');
    writeFileSync(t.path('copy_2.db'), 'another older copy');
    writeFileSync(t.path('.tmp'), 'new');
    const final = publishExclusively(t.path('.tmp'), t.dir, 'copy');
    expect(final).toBe(t.path('copy_3.db'));
    expect(readFileSync(t.path('copy.db'), 'utf8')).toBe('older copy');
    expect(readFileSync(t.path('copy_2.db'), 'utf8')).toBe('another older copy');
    expect(readFileSync(final, 'utf8')).toBe('new');
  });
});

describe('appendNoFollow', () => {
  it('appends to a regular file and refuses a symbolic link, leaving its target alone', () => {
    appendNoFollow(t.path('log'), 'a\n', 'the log');
    appendNoFollow(t.path('log'), 'b\n', 'the log');
    expect(readFileSync(t.path('log'), 'utf8')).toBe('a\nb\n');
    writeFileSync(t.path('victim'), 'x');
    symlinkSync(t.path('victim'), t.path('link'));
    expect(() => appendNoFollow(t.path('link'), 'y', 'the log')).toThrow(
      /refusing to use the log .*link: it is a symbolic link/,
    );
    expect(readFileSync(t.path('victim'), 'utf8')).toBe('x');
  });
});
