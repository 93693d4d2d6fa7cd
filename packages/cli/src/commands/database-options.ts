import { integerField, pathField } from '@ora/core';

/** The event fields every database command shares. */
export const databaseFields = {
  db: pathField('a database file path').describe('SQLite database file'),
  busyTimeoutMs: integerField(0, 600_000, 'milliseconds').describe('Wait this long for a lock held by another process'),
};
