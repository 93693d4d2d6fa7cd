import * as z from 'zod';
import { textField } from '../config/fields.js';
import type { OraDatabase } from '../connection/connection.js';
import { parseInput, statementCache } from './validate.js';

export const workflowStatusSchema = z.strictObject({
  name: textField('a workflow name', 200),
  status: textField('a status', 64),
  details: z.string().max(10_000, { error: 'expected at most 10000 characters' }).nullish(),
});
export type WorkflowStatus = z.input<typeof workflowStatusSchema>;

/** This repository's prepared statements (also read by the metrics job's index-usage report). */
export const statements = statementCache((h) => ({
  upsert: h.prepare(
    `INSERT INTO workflows (name, status, details, updated_at)
     VALUES (:name, :status, :details, CURRENT_TIMESTAMP)
     ON CONFLICT (name) DO UPDATE SET
       status = excluded.status, details = excluded.details, updated_at = CURRENT_TIMESTAMP`,
  ),
}));

/**
 * Sets a workflow's status and details. The guide's `UPDATE … WHERE name = ?` silently does
 * nothing for a workflow not yet registered; this upserts, so the first run of a new workflow is
 * recorded too.
 */
export function updateWorkflowStatus(db: OraDatabase, input: WorkflowStatus): void {
  const w = parseInput(workflowStatusSchema, input, 'workflow status');
  db.transaction(() => statements(db).upsert.run({ ...w, details: w.details ?? null }));
}
