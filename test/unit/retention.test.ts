// Retention maths: worked examples with their reasons, and properties that must hold for any input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideRetention, isoWeek, type RetainedBackup } from '../../src/retention/policy.js';

const NOW = new Date('2026-11-22T12:00:00Z');

/** One backup a day at 03:00 UTC for `days` days up to NOW, plus a second one on the newest day. */
function daily(days: number): RetainedBackup[] {
  const out: RetainedBackup[] = [];
  for (let i = 0; i < days; i += 1) {
    const at = new Date(Date.UTC(2026, 10, 22 - i, 3));
    out.push({ id: `b${String(i).padStart(3, '0')}`, snapshotAt: at.toISOString() });
  }
  out.push({ id: 'b-late', snapshotAt: '2026-11-22T09:00:00.000Z' });
  return out;
}

describe('decideRetention', () => {
  it('keeps the newest per day, ISO week and month, with every reason', () => {
    const decision = decideRetention(daily(70), { last: 2, daily: 3, weekly: 2, monthly: 3 }, NOW);
    expect(decision.keep).toEqual([
      {
        id: 'b-late',
        reasons: ['last 1 of 2', 'daily 2026-11-22', 'weekly 2026-W47', 'monthly 2026-11', 'newest backup'],
      },
      { id: 'b000', reasons: ['last 2 of 2'] },
      { id: 'b001', reasons: ['daily 2026-11-21'] },
      { id: 'b002', reasons: ['daily 2026-11-20'] },
      { id: 'b007', reasons: ['weekly 2026-W46'] },
      { id: 'b022', reasons: ['monthly 2026-10'] },
      { id: 'b053', reasons: ['monthly 2026-09'] },
    ]);
    expect(decision.delete).toHaveLength(71 - 7);
  });

  it('draws day boundaries in the configured time zone', () => {
    const backups = [
      { id: 'a', snapshotAt: '2026-11-21T23:30:00Z' }, // 2026-11-22 08:30 in Tokyo
      { id: 'b', snapshotAt: '2026-11-21T14:00:00Z' }, // 2026-11-21 23:00 in Tokyo
    ];
    const utc = decideRetention(backups, { daily: 2 }, NOW);
    expect(utc.keep).toEqual([{ id: 'a', reasons: ['daily 2026-11-21', 'newest backup'] }]);
    expect(utc.delete).toEqual([{ id: 'b' }]);
    const tokyo = decideRetention(backups, { daily: 2, timezone: 'Asia/Tokyo' }, NOW);
    expect(tokyo.keep.map((k) => k.reasons[0])).toEqual(['daily 2026-11-22', 'daily 2026-11-21']);
    expect(tokyo.delete).toEqual([]);
  });

  it('deletes nothing when the policy keeps nothing, and never deletes the newest backup', () => {
    expect(decideRetention(daily(5), {}, NOW).delete).toEqual([]);
    expect(decideRetention(daily(5), { last: 0, daily: 0 }, NOW).delete).toEqual([]);
    const decision = decideRetention(daily(5), { yearly: 1 }, NOW);
    expect(decision.keep.map((k) => k.id)).toEqual(['b-late']);
  });

  it('computes ISO weeks across year boundaries', () => {
    expect(isoWeek(2026, 1, 1)).toBe('2026-W01');
    expect(isoWeek(2027, 1, 1)).toBe('2026-W53');
    expect(isoWeek(2024, 12, 30)).toBe('2025-W01');
  });
});

const backupsArb = fc
  .uniqueArray(fc.integer({ min: Date.UTC(2020, 0, 1), max: NOW.getTime() }), { minLength: 0, maxLength: 80 })
  .map((times) => times.map((t, i) => ({ id: `id${i}`, snapshotAt: new Date(t).toISOString() })));
const policyArb = fc.record(
  {
    last: fc.nat(5),
    daily: fc.nat(10),
    weekly: fc.nat(6),
    monthly: fc.nat(12),
    yearly: fc.nat(3),
    timezone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'),
  },
  { requiredKeys: [] },
);

describe('decideRetention properties', () => {
  it('partitions the input, keeps the newest, and is deterministic and idempotent', () => {
    fc.assert(
      fc.property(backupsArb, policyArb, (backups, policy) => {
        const first = decideRetention(backups, policy, NOW);
        const kept = first.keep.map((k) => k.id);
        const deleted = first.delete.map((d) => d.id);
        expect(new Set([...kept, ...deleted]).size).toBe(backups.length);
        expect(kept.length + deleted.length).toBe(backups.length);
        expect(first.keep.every((k) => k.reasons.length > 0)).toBe(true);
        if (backups.length > 0) {
          const newest = [...backups].sort((a, b) => Date.parse(b.snapshotAt) - Date.parse(a.snapshotAt))[0];
          expect(kept).toContain(newest?.id);
        }
        expect(decideRetention([...backups].reverse(), policy, NOW)).toEqual(first);
        const survivors = backups.filter((b) => kept.includes(b.id));
        expect(decideRetention(survivors, policy, NOW).delete).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
