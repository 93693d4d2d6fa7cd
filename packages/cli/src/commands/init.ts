import { initDatabase } from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';
import { databaseFields } from './database-options.js';

export const initCommand = defineJob({
  name: 'init',
  describe: 'Create a new ORA database (or the schema in an empty file); a no-op on a current one',
  schedule: null,
  event: z.object(databaseFields),
  examples: [['$0 init --db /data/ora.db', 'create the database with the ORA schema']],
  run(e) {
    const { created, schemaVersion, applied } = initDatabase(e.db, e.busyTimeoutMs);
    return {
      status: applied.length > 0 ? ('ok' as const) : ('skipped' as const),
      created,
      schemaVersion,
      applied,
      reason: applied.length > 0 ? undefined : 'schema already current',
    };
  },
  summarize: (r) =>
    r.status === 'skipped'
      ? `init: skipped — ${r.database} already has schema version ${r.schemaVersion}`
      : `init: ok — ${r.created ? 'created' : 'initialised'} ${r.database} at schema version ${r.schemaVersion}`,
});
