import * as z from 'zod';
import { configField } from '../config/config.js';
import { BACKUP_ID_RE } from './manifest.js';

/** A backup selector: an id (which can never name a path) or `latest`. */
export function backupSelectorField(extra: readonly string[] = []) {
  const message = `expected a backup id (like ora-20261125T023500123Z-3fa9c1)${extra.length ? `, ${extra.join(', ')}` : ''} or latest`;
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z
      .string({ error: message })
      .refine((s) => s === 'latest' || extra.includes(s) || BACKUP_ID_RE.test(s), { error: message }),
  );
}

/** An ISO 8601 date-time (with a time zone, or read as UTC), e.g. 2026-11-20T08:00:00Z. */
export function isoTimeField() {
  const message = 'expected an ISO 8601 time such as 2026-11-20T08:00:00Z';
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z
      .string({ error: message })
      .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/, { error: message })
      .refine(
        (s) => {
          // Date.parse rolls 2026-02-30 over to March: require the calendar date to survive.
          const d = new Date(/T.*(Z|[+-]\d{2}:\d{2})$/.test(s) || !s.includes('T') ? s : `${s}Z`);
          if (Number.isNaN(d.getTime())) return false;
          const day = s.slice(0, 10);
          const check = new Date(`${day}T00:00:00Z`);
          return !Number.isNaN(check.getTime()) && check.toISOString().slice(0, 10) === day;
        },
        { error: message },
      ),
  );
}

/** The event fields that choose where backups are stored (a local directory, or S3). */
export function backupStoreFields() {
  return {
    backupDir: configField('backupDir'),
    dest: configField('dest'),
    s3Endpoint: configField('s3Endpoint'),
    s3Region: configField('s3Region'),
    s3ForcePathStyle: configField('s3ForcePathStyle'),
    encryptKeyFile: configField('encryptKeyFile'),
  };
}
