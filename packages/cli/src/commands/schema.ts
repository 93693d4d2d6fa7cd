import { booleanField, describeCurrentSchema, LATEST_SCHEMA_VERSION, renderSchemaMarkdown } from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const schemaCommand = defineJob({
  name: 'schema',
  describe:
    'Render the ORA schema (tables, columns, constraints, indexes, foreign keys) from the migrations, as docs/DATABASE_SCHEMA.md',
  schedule: null,
  event: z.object({
    markdown: booleanField()
      .default(true)
      .describe('Print Markdown (the docs/DATABASE_SCHEMA.md format); --no-markdown prints one line per table'),
  }),
  examples: [
    ['$0 schema --markdown > docs/DATABASE_SCHEMA.md', 'regenerate the schema reference'],
    ['$0 schema --no-markdown', 'each table with its columns, one line each'],
  ],
  run(e) {
    const tables = describeCurrentSchema();
    // --no-markdown changes the text only; the JSON result keeps its fields (plus this flag).
    return {
      status: 'ok' as const,
      tables,
      markdown: renderSchemaMarkdown(tables),
      ...(e.markdown ? {} : { outline: true as const }),
    };
  },
  summarize: (r) =>
    !('outline' in r)
      ? r.markdown.trimEnd()
      : [
          `schema: ok — schema version ${LATEST_SCHEMA_VERSION}, ${r.tables.length} tables`,
          ...r.tables.map((t) => `  ${t.name}: ${t.columns.map((c) => c.name).join(', ')}`),
        ].join('\n'),
});
