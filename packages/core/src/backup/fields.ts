import * as z from 'zod';
import { booleanField, pathField, s3UrlField, textField, urlField } from '../config/fields.js';
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
    backupDir: pathField('a directory path').describe(
      'Local backup directory (one per database); with --dest, only the staging area for temp files',
    ),
    dest: s3UrlField().optional().describe('Store backups in s3://bucket/prefix instead of --backup-dir'),
    s3Endpoint: urlField().optional().describe('S3-compatible endpoint URL; default AWS'),
    s3Region: textField('a region name', 64).describe('S3 region'),
    s3ForcePathStyle: booleanField().describe('Path-style S3 URLs (most S3-compatible servers)'),
  };
}
