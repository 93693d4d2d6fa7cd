/**
 * Which restore points to keep: every point for `allHours`, then the newest point of each hour
 * for `hourlyDays`, of each day for `dailyDays`, of each month for `monthlyMonths` (UTC), and
 * always the newest point. Points dated in the future (clock skew) are kept, never dropped on a
 * guess. Pure (no I/O).
 */
export interface PointRetention {
  allHours: number;
  hourlyDays: number;
  dailyDays: number;
  monthlyMonths: number;
}

/** The policy: 48 hours of every point, hourly for 7 days, daily for 30, monthly for 12 months. */
export const DEFAULT_POINT_RETENTION: PointRetention = {
  allHours: 48,
  hourlyDays: 7,
  dailyDays: 30,
  monthlyMonths: 12,
};

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface PointPlan<P extends { id: string; createdAt: string }> {
  keep: { point: P; reason: string }[];
  drop: P[];
}

export function planPointRetention<P extends { id: string; createdAt: string; pinned?: unknown }>(
  points: readonly P[],
  now: Date,
  policy: PointRetention = DEFAULT_POINT_RETENTION,
): PointPlan<P> {
  for (const [k, v] of Object.entries(policy)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`retention ${k} must be a whole number ≥ 0, got ${v}`);
  }
  const sorted = [...points].sort(
    (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : -1),
  );
  const t0 = now.getTime();
  const keep = new Map<string, string>();
  const seen = new Set<string>();
  const newest = sorted[0];
  if (newest) keep.set(newest.id, 'newest point');
  for (const p of sorted) if (p.pinned && !keep.has(p.id)) keep.set(p.id, 'pinned');
  for (const p of sorted) {
    const t = Date.parse(p.createdAt);
    const d = new Date(t);
    const iso = d.toISOString();
    const tiers: [boolean, string, string][] = [
      [t > t0, 'future', 'dated in the future (clock skew): kept'],
      [t0 - t < policy.allHours * HOUR, 'all', `younger than ${policy.allHours} hours`],
      [t0 - t < policy.hourlyDays * DAY, `h${iso.slice(0, 13)}`, `newest of hour ${iso.slice(0, 13)}:00Z`],
      [t0 - t < policy.dailyDays * DAY, `d${iso.slice(0, 10)}`, `newest of day ${iso.slice(0, 10)}`],
      [monthsBetween(d, now) < policy.monthlyMonths, `m${iso.slice(0, 7)}`, `newest of month ${iso.slice(0, 7)}`],
    ];
    for (const [applies, bucket, reason] of tiers) {
      if (!applies) continue;
      const first = bucket === 'all' || bucket === 'future' || !seen.has(bucket);
      seen.add(bucket);
      if (first && !keep.has(p.id)) keep.set(p.id, reason);
    }
  }
  return {
    keep: sorted.filter((p) => keep.has(p.id)).map((point) => ({ point, reason: keep.get(point.id) as string })),
    drop: sorted.filter((p) => !keep.has(p.id)),
  };
}

function monthsBetween(then: Date, now: Date): number {
  return now.getUTCFullYear() * 12 + now.getUTCMonth() - (then.getUTCFullYear() * 12 + then.getUTCMonth());
}
