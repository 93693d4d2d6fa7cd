import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRetention } from '../src/backup/retention.js';

const DAY = 86_400_000;
const policy = { keepDays: 30, keepMonths: 12 };
const now = new Date('2026-11-25T12:00:00Z');

const backupsArb = fc
  .uniqueArray(
    fc.record({
      ageMs: fc.integer({ min: -2 * DAY, max: 800 * DAY }),
      verified: fc.boolean(),
    }),
    { maxLength: 80, selector: (b) => b.ageMs },
  )
  .map((list) =>
    list.map((b, i) => ({
      id: `b${i}`,
      createdAt: new Date(now.getTime() - b.ageMs).toISOString(),
      verified: b.verified,
    })),
  );

const monthOf = (iso: string) => iso.slice(0, 7);

describe('planRetention', () => {
  it('keeps and deletes disjointly, covering every backup', () => {
    fc.assert(
      fc.property(backupsArb, (backups) => {
        const plan = planRetention(backups, now, policy);
        const kept = plan.keep.map((k) => k.backup.id);
        const deleted = plan.delete.map((b) => b.id);
        expect(new Set([...kept, ...deleted]).size).toBe(backups.length);
        expect(kept.filter((id) => deleted.includes(id))).toEqual([]);
      }),
    );
  });

  it('never deletes a pinned backup, whatever its age', () => {
    fc.assert(
      fc.property(backupsArb, fc.func(fc.boolean()), (backups, pin) => {
        const withPins = backups.map((b, i) => ({ ...b, pinned: pin(i) }));
        const plan = planRetention(withPins, now, { keepDays: 0, keepMonths: 0 });
        for (const b of plan.delete) expect(b.pinned).toBe(false);
      }),
    );
  });

  it('never deletes the newest verified backup, whatever its age', () => {
    fc.assert(
      fc.property(backupsArb, (backups) => {
        const newest = [...backups].filter((b) => b.verified).sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
        const plan = planRetention(backups, now, policy);
        if (newest) expect(plan.delete.map((b) => b.id)).not.toContain(newest.id);
      }),
    );
  });

  it('keeps every backup younger than keepDays, and any dated in the future', () => {
    fc.assert(
      fc.property(backupsArb, (backups) => {
        const plan = planRetention(backups, now, policy);
        for (const b of plan.delete) expect(now.getTime() - Date.parse(b.createdAt)).toBeGreaterThan(30 * DAY);
      }),
    );
  });

  it('keeps the newest backup older than keepDays of each of the last keepMonths months, and nothing else that old', () => {
    fc.assert(
      fc.property(backupsArb, (backups) => {
        const plan = planRetention(backups, now, policy);
        const keptIds = new Set(plan.keep.map((k) => k.backup.id));
        const newestVerified = [...backups]
          .filter((b) => b.verified)
          .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
        const old = backups.filter((b) => now.getTime() - Date.parse(b.createdAt) > 30 * DAY);
        const byMonth = new Map<string, typeof old>();
        for (const b of old) byMonth.set(monthOf(b.createdAt), [...(byMonth.get(monthOf(b.createdAt)) ?? []), b]);
        for (const [month, list] of byMonth) {
          const [y, m] = month.split('-').map(Number) as [number, number];
          const age = now.getUTCFullYear() * 12 + now.getUTCMonth() - (y * 12 + m - 1);
          const newest = [...list].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
          for (const b of list) {
            const expected = (age <= 12 && b === newest) || b.id === newestVerified?.id;
            expect(keptIds.has(b.id)).toBe(expected);
          }
        }
      }),
    );
  });

  it('is idempotent: applying the plan, then planning again, deletes nothing more', () => {
    fc.assert(
      fc.property(backupsArb, (backups) => {
        const first = planRetention(backups, now, policy);
        const second = planRetention(
          first.keep.map((k) => k.backup),
          now,
          policy,
        );
        expect(second.delete).toEqual([]);
      }),
    );
  });

  it('keeps 30 daily backups and 12 monthly ones out of two years of dailies', () => {
    const backups = Array.from({ length: 730 }, (_, i) => ({
      id: `d${i}`,
      createdAt: new Date(now.getTime() - i * DAY).toISOString(),
      verified: true,
    }));
    const plan = planRetention(backups, now, policy);
    const monthly = plan.keep.filter((k) => k.reason.startsWith('last backup of'));
    expect(plan.keep.filter((k) => k.reason.startsWith('younger')).length).toBe(30);
    expect(monthly.length).toBe(12);
    expect(plan.keep.length).toBe(43); // 31 incl. the newest verified (day 0) + 12 monthly
  });
});
