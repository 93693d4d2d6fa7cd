import { configField } from '@ora/core';

/** The event fields every database command shares. */
export const databaseFields = {
  db: configField('db', 'SQLite database file'),
  busyTimeoutMs: configField('busyTimeoutMs'),
};
