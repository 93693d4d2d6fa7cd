/** How many backups to keep: every one for `keepDays`, then the last of each month for `keepMonths`. */
export interface RetentionPolicy {
  keepDays: number;
  keepMonths: number;
}

export interface RetainedBackup {
  id: string;
  createdAt: string;
  /** The backup passed its integrity check (at creation or at its last verify). */
  verified: boolean;
  /** Pinned backups are always kept. */
  pinned?: boolean;
}

export interface RetentionPlan<B extends RetainedBackup> {
  keep: { backup: B; reason: string }[];
  delete: B[];
}

const DAY = 24 * 60 * 60 * 1000;

function monthKey(d: Date): string {
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/**
 * Decides which backups to keep (pure: no I/O, so it is property-tested over generated dates):
 *
 * - every backup younger than `keepDays` days;
 * - for the current calendar month (UTC) and each of the `keepMonths` months before it, the
 *   newest backup of that month older than `keepDays`;
 * - always the newest verified backup, whatever its age (SPEC §4, invariant 3), and every pinned one;
 * - backups dated in the future (clock skew) are kept, never deleted on a guess.
 */
export function planRetention<B extends RetainedBackup>(
  backups: readonly B[],
  now: Date,
  policy: RetentionPolicy,
): RetentionPlan<B> {
  const sorted = [...backups].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  const keep = new Map<string, string>();
  const newestVerified = sorted.find((b) => b.verified);
  if (newestVerified) keep.set(newestVerified.id, 'newest verified backup');
  for (const b of sorted) if (b.pinned && !keep.has(b.id)) keep.set(b.id, 'pinned');
  const dayCutoff = now.getTime() - policy.keepDays * DAY;
  const nowMonth = now.getUTCFullYear() * 12 + now.getUTCMonth();
  const monthsSeen = new Set<string>();
  for (const b of sorted) {
    const t = Date.parse(b.createdAt);
    if (t > now.getTime()) {
      if (!keep.has(b.id)) keep.set(b.id, 'dated in the future (clock skew): kept');
      continue;
    }
    if (t >= dayCutoff) {
      if (!keep.has(b.id)) keep.set(b.id, `younger than ${policy.keepDays} days`);
      continue;
    }
    const d = new Date(t);
    const month = monthKey(d);
    const age = nowMonth - (d.getUTCFullYear() * 12 + d.getUTCMonth());
    if (age <= policy.keepMonths && !monthsSeen.has(month)) {
      monthsSeen.add(month);
      if (!keep.has(b.id)) keep.set(b.id, `last backup of ${month}`);
    }
  }
  return {
    keep: sorted.filter((b) => keep.has(b.id)).map((backup) => ({ backup, reason: keep.get(backup.id) as string })),
    delete: sorted.filter((b) => !keep.has(b.id)),
  };
}
