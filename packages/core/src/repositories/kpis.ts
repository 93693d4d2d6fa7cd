import * as z from 'zod';
import { integerField, isoDateField, textField } from '../config/fields.js';
import type { OraDatabase } from '../connection/connection.js';
import { parseInput, statementCache } from './validate.js';

const count = () => integerField(0, 1_000_000_000);

export const dailyKpisSchema = z.strictObject({
  snapshotDate: isoDateField(),
  ordersToday: count(),
  shipmentsSent: count(),
  pendingUploads: count(),
  systemStatus: textField('a system status', 64),
});
export type DailyKpis = z.input<typeof dailyKpisSchema>;

/** This repository's prepared statements (also read by the metrics job's index-usage report). */
export const statements = statementCache((h) => ({
  upsert: h.prepare(
    `INSERT INTO system_kpis (snapshot_date, orders_today, shipments_sent, pending_uploads, system_status)
     VALUES (:snapshotDate, :ordersToday, :shipmentsSent, :pendingUploads, :systemStatus)
     ON CONFLICT (snapshot_date) DO UPDATE SET
       orders_today = excluded.orders_today,
       shipments_sent = excluded.shipments_sent,
       pending_uploads = excluded.pending_uploads,
       system_status = excluded.system_status,
       created_at = CURRENT_TIMESTAMP`,
  ),
}));

/** Writes the day's KPI snapshot; writing the same day again replaces it (the guide's UPSERT). */
export function upsertDailyKpis(db: OraDatabase, input: DailyKpis): void {
  const k = parseInput(dailyKpisSchema, input, 'daily KPIs');
  db.transaction(() => statements(db).upsert.run(k));
}
