import { booleanField, configField, pathField, recoverDatabase } from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const recoverEvent = z.object({
  db: configField('db', 'The damaged database'),
  out: pathField('a file path')
    .optional()
    .describe('Where the recovered database goes (must not exist); default ora_recovered_<name>_<ts>.db beside it'),
  replace: booleanField()
    .default(false)
    .describe(
      'Swap the recovered database in once it verifies (the damaged one is kept as ora_corrupted_<name>_<ts>.db)',
    ),
  force: booleanField().default(false).describe('Salvage even when quick_check finds nothing wrong'),
});

export const recoverJob = defineJob({
  name: 'recover',
  describe:
    "Corruption recovery (the guide's emergency procedure, without its .dump that stops at the first bad page and ends in ROLLBACK): emergency copy of the file and its -wal/-shm, then every row on a readable page salvaged from the file format itself into a new database with the original schema; per-table report; integrity_check and foreign_key_check of the result; --replace swaps it in once verified",
  schedule: null,
  heavy: true,
  acceptsDamaged: true,
  event: recoverEvent,
  examples: [
    ['$0 recover --db /data/ora.db', 'salvage into ora_recovered_ora_<ts>.db beside it; the live file is not touched'],
    ['$0 recover --db /data/ora.db --replace', 'and swap it in once it verifies'],
  ],
  run(e, { logger, progress }) {
    const r = recoverDatabase({
      path: e.db,
      ...(e.out ? { outPath: e.out } : {}),
      replace: e.replace,
      force: e.force,
      onProgress: (done, total, unit) => progress.update(done, total, unit),
      onPhase: (name) => progress.phase?.(name),
    });
    if (r.healthy && !e.force) {
      return {
        status: 'skipped' as const,
        reason: 'quick_check finds nothing wrong: nothing to recover (use --force to salvage anyway)',
        ...r,
      };
    }
    const lost = r.tables.reduce((s, t) => s + t.unreadablePages, 0);
    const cells = r.tables.reduce((s, t) => s + t.unreadableCells, 0);
    const strays = r.tables.reduce((s, t) => s + t.fromScan, 0);
    if (lost > 0) logger.warn({ unreadablePages: lost }, `${lost} page(s) could not be read; their rows are lost`);
    if (cells > 0)
      logger.warn(
        { unreadableCells: cells },
        `${cells} row(s) could not be decoded (e.g. an overflow chain cut short); they are lost`,
      );
    if (r.notRecreated.length > 0)
      logger.warn({ notRecreated: r.notRecreated }, `not recreated: ${r.notRecreated.join(', ')}`);
    const failedVirtual = r.virtualTables.filter((v) => v.status === 'failed');
    if (!r.freelistComplete && strays > 0) {
      logger.warn(
        { rowsOutsideTrees: strays },
        `the freelist could not be read whole: some of the ${strays} row(s) found outside their table's tree may be rows deleted before the damage`,
      );
    }
    const ok = r.integrity?.ok === true;
    const doubtful =
      lost > 0 ||
      cells > 0 ||
      r.lostAndFound > 0 ||
      (r.foreignKeyViolations ?? 0) > 0 ||
      r.notRecreated.length > 0 ||
      failedVirtual.length > 0 ||
      (!r.freelistComplete && strays > 0);
    return { status: !ok ? ('failed' as const) : doubtful ? ('warn' as const) : ('ok' as const), ...r };
  },
  summarize: (r) =>
    r.status === 'skipped'
      ? `recover: skipped — ${r.reason}`
      : [
          `recover: ${r.status} — ${r.replaced ? `replaced ${r.database} with the recovered database` : `recovered into ${r.output}`}; emergency copy ${r.emergencyCopy[0] ?? '-'}; schema from ${r.schemaSource === 'file' ? 'the file' : "the ORA migrations (the file's schema page was unreadable)"}; integrity_check ${r.integrity?.ok ? 'ok' : 'FAILED'}, ${r.foreignKeyViolations} foreign key violation(s), ${r.lostAndFound} row(s) in lost_and_found`,
          ...r.tables.map(
            (t) =>
              `  ${t.name}: ${t.recovered} rows recovered (${t.fromScan} found outside the damaged tree), ${t.unreadablePages} unreadable page(s), ${t.unreadableCells} unreadable cell(s)`,
          ),
        ].join('\n'),
});
