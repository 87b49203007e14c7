// GFS retention as a pure function of (backups, policy, now): what to keep, with every reason, and what to delete.

/** How many backups each rule keeps; a missing or zero rule keeps none by itself. */
export interface RetentionPolicy {
  readonly last?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
  /** IANA time zone for day, week, month and year boundaries (default UTC). */
  readonly timezone?: string;
}

export interface RetainedBackup {
  readonly id: string;
  readonly snapshotAt: string;
}

export interface RetentionDecision {
  readonly keep: readonly { id: string; reasons: string[] }[];
  readonly delete: readonly { id: string }[];
}

type Rule = 'last' | 'daily' | 'weekly' | 'monthly' | 'yearly';
const RULES: readonly Rule[] = ['last', 'daily', 'weekly', 'monthly', 'yearly'];

/**
 * Decides, in the sense of `restic forget`: `daily: N` keeps the newest backup of each of the newest N days
 * that have backups (likewise ISO weeks, months, years); `last: N` keeps the newest N. The newest backup is
 * always kept; a policy that would keep nothing deletes nothing; backups from after `now` are kept.
 */
export function decideRetention(
  backups: readonly RetainedBackup[],
  policy: RetentionPolicy,
  now: Date,
): RetentionDecision {
  const newestFirst = [...backups].sort((a, b) => compareNewestFirst(a, b));
  const reasons = new Map<string, string[]>(newestFirst.map((b) => [b.id, []]));
  const total = RULES.reduce((sum, rule) => sum + (policy[rule] ?? 0), 0);
  if (total === 0) {
    for (const b of newestFirst) reasons.get(b.id)?.push('policy keeps nothing: deleting nothing');
  } else {
    const bucketOf = bucketer(policy.timezone ?? 'UTC');
    for (const rule of RULES) {
      const limit = policy[rule] ?? 0;
      let kept = 0;
      let lastBucket: string | undefined;
      for (const backup of newestFirst) {
        if (kept >= limit) break;
        const bucket = rule === 'last' ? backup.id : bucketOf(rule, new Date(backup.snapshotAt));
        if (bucket === lastBucket) continue;
        lastBucket = bucket;
        kept += 1;
        reasons.get(backup.id)?.push(rule === 'last' ? `last ${kept} of ${limit}` : `${rule} ${bucket}`);
      }
    }
  }
  const newest = newestFirst[0];
  if (newest !== undefined) reasons.get(newest.id)?.push('newest backup');
  for (const backup of newestFirst) {
    if (Date.parse(backup.snapshotAt) > now.getTime()) reasons.get(backup.id)?.push('newer than the evaluation time');
  }
  const keep: { id: string; reasons: string[] }[] = [];
  const remove: { id: string }[] = [];
  for (const backup of newestFirst) {
    const why = [...new Set(reasons.get(backup.id))];
    if (why.length > 0) keep.push({ id: backup.id, reasons: why });
    else remove.push({ id: backup.id });
  }
  return { keep, delete: remove };
}

function compareNewestFirst(a: RetainedBackup, b: RetainedBackup): number {
  const byTime = Date.parse(b.snapshotAt) - Date.parse(a.snapshotAt);
  return byTime !== 0 ? byTime : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Calendar buckets in a time zone: "2026-11-22", "2026-W47", "2026-11", "2026". */
function bucketer(timeZone: string): (rule: Exclude<Rule, 'last'>, at: Date) => string {
  const format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  return (rule, at) => {
    const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
    const [y, m, d] = [Number(parts.year), Number(parts.month), Number(parts.day)];
    switch (rule) {
      case 'daily':
        return `${parts.year}-${parts.month}-${parts.day}`;
      case 'weekly':
        return isoWeek(y, m, d);
      case 'monthly':
        return `${parts.year}-${parts.month}`;
      case 'yearly':
        return `${parts.year}`;
    }
  };
}

/** ISO 8601 week of a calendar date, e.g. "2026-W01" (weeks start on Monday; week 1 holds a Thursday). */
export function isoWeek(year: number, month: number, day: number): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${String(week).padStart(2, '0')}`;
}
