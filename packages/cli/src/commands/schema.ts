import { booleanField, describeCurrentSchema, renderSchemaMarkdown } from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const schemaCommand = defineJob({
  name: 'schema',
  describe:
    'Render the ORA schema (tables, columns, constraints, indexes, foreign keys) from the migrations, as docs/DATABASE_SCHEMA.md',
  schedule: null,
  event: z.object({
    markdown: booleanField().default(true).describe('Print Markdown (the docs/DATABASE_SCHEMA.md format)'),
  }),
  examples: [['$0 schema --markdown > docs/DATABASE_SCHEMA.md', 'regenerate the schema reference']],
  run() {
    const tables = describeCurrentSchema();
    return { status: 'ok' as const, tables, markdown: renderSchemaMarkdown(tables) };
  },
  summarize: (r) => r.markdown.trimEnd(),
});
