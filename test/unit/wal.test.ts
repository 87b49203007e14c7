// The pure rules of point-in-time recovery: WAL names and positions, timeline paths, recovery windows, plans and
// WAL retention (property-tested: nothing a kept base backup needs is ever removed).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recoveryTime } from '../../src/core/restore-datadir.js';
import {
  formatLsn,
  parseHistory,
  parseLsn,
  parseSegmentName,
  segmentName,
  segmentOf,
  timelineForSegment,
  timelinePath,
} from '../../src/wal/segment.js';
import {
  type ArchivedSegment,
  type BaseBackupInfo,
  planRecovery,
  reach,
  recoveryWindows,
  type WalArchive,
  walToRemove,
} from '../../src/wal/windows.js';

const MB16 = 16 * 1024 * 1024;

function archive(
  files: { tl: number; seg: number; until: number; partial?: boolean }[],
  histories: Record<number, { timeline: number; switchLsn: number }[]> = {},
): WalArchive {
  const segments = new Map<string, ArchivedSegment>();
  const partials = new Map<string, ArchivedSegment>();
  for (const f of files) {
    const name = segmentName(f.tl, f.seg, MB16);
    const file = { name, partial: f.partial === true, coveredUntil: f.until, size: 100 };
    (f.partial ? partials : segments).set(name, file);
  }
  return { segments, partials, histories: new Map(Object.entries(histories).map(([k, v]) => [Number(k), v])) };
}

function base(id: string, seg: number, at: number, timeline = 1, endSeg = seg): BaseBackupInfo {
  return {
    id,
    timeline,
    startLsn: seg * MB16 + 40,
    endLsn: endSeg * MB16 + 256,
    segmentSize: MB16,
    consistentAt: at,
  };
}

describe('WAL names and positions', () => {
  it('reads and writes LSNs and segment names as PostgreSQL does', () => {
    expect(parseLsn('0/5000028')).toBe(0x5000028);
    expect(parseLsn('1/0')).toBe(2 ** 32);
    expect(formatLsn(0x15000028)).toBe('0/15000028');
    expect(formatLsn(2 ** 32 + 0x28)).toBe('1/28');
    expect(segmentOf(parseLsn('0/5000028'), MB16)).toBe(5);
    expect(segmentName(1, 5, MB16)).toBe('000000010000000000000005');
    // 256 segments of 16 MiB per "xlogid": segment 256 is 1/00000000.
    expect(segmentName(2, 256 + 3, MB16)).toBe('000000020000000100000003');
    expect(parseSegmentName('000000020000000100000003', MB16)).toEqual({ timeline: 2, segment: 259 });
    expect(parseSegmentName('000000020000000100000100', MB16)).toBeUndefined();
    expect(parseSegmentName('00000002.history', MB16)).toBeUndefined();
    expect(() => parseLsn('0-5')).toThrow(/not a WAL position/);
  });

  it('reads a history file and follows a timeline path through its switch points', () => {
    const switches = parseHistory(
      '1\t0/9000100\tbefore 2026-12-02 03:14:26.8+00\n\n2\t0/C0000A0\tno recovery target specified\n',
    );
    expect(switches).toEqual([
      { timeline: 1, switchLsn: 0x9000100 },
      { timeline: 2, switchLsn: 0xc0000a0 },
    ]);
    const path = timelinePath(3, switches, MB16);
    // The segment of a switch is read from the child timeline.
    expect(timelineForSegment(path, 8)).toBe(1);
    expect(timelineForSegment(path, 9)).toBe(2);
    expect(timelineForSegment(path, 11)).toBe(2);
    expect(timelineForSegment(path, 12)).toBe(3);
    expect(() => parseHistory('x y z')).toThrow(/timeline history/);
  });

  it('writes recovery_target_time with an explicit UTC offset', () => {
    expect(recoveryTime('2026-12-02T03:14:26.822Z')).toBe('2026-12-02 03:14:26.822+00');
  });
});

describe('recovery windows', () => {
  it('opens a window from a base backup to the newest contiguous WAL, partial copy included', () => {
    const wal = archive([
      { tl: 1, seg: 5, until: 1_000 },
      { tl: 1, seg: 6, until: 2_000 },
      { tl: 1, seg: 7, until: 2_500, partial: true },
    ]);
    const { windows, gaps } = recoveryWindows([base('b1', 5, 900)], wal);
    expect(windows).toEqual([{ timeline: 1, from: 900, to: 2_500, bases: ['b1'] }]);
    expect(gaps).toEqual([]);
  });

  it('names a missing segment, and stops the window there', () => {
    const wal = archive([
      { tl: 1, seg: 5, until: 1_000 },
      { tl: 1, seg: 7, until: 3_000 },
      { tl: 1, seg: 8, until: 4_000 },
    ]);
    const { windows, gaps } = recoveryWindows([base('b1', 5, 900), base('b2', 7, 2_900)], wal);
    expect(windows).toEqual([
      { timeline: 1, from: 900, to: 1_000, bases: ['b1'] },
      { timeline: 1, from: 2_900, to: 4_000, bases: ['b2'] },
    ]);
    expect(gaps).toEqual([{ timeline: 1, base: 'b1', missing: '000000010000000000000006', after: 1_000 }]);
    // Inside the gap: no plan. On either side: the base backup that reaches it.
    expect(planRecovery([base('b1', 5, 900), base('b2', 7, 2_900)], wal, 2_000)).toBeUndefined();
    expect(planRecovery([base('b1', 5, 900), base('b2', 7, 2_900)], wal, 950)?.base.id).toBe('b1');
    expect(planRecovery([base('b1', 5, 900), base('b2', 7, 2_900)], wal, 3_500)?.base.id).toBe('b2');
  });

  it('a base backup whose own WAL is missing cannot become consistent', () => {
    const wal = archive([{ tl: 1, seg: 5, until: 1_000 }]);
    const got = reach(base('b1', 5, 900, 1, 6), timelinePath(1, [], MB16), wal);
    expect(got?.until).toBeUndefined();
    expect(got?.missing).toBe('000000010000000000000006');
    expect(recoveryWindows([base('b1', 5, 900, 1, 6)], wal).windows).toEqual([]);
  });

  it('after a promotion, each timeline has its history and a restore chooses between them', () => {
    // Timeline 1 ran to segment 9 (until 5000); recovery to 2000 promoted timeline 2 in segment 6.
    const history = { 2: [{ timeline: 1, switchLsn: 6 * MB16 + 500 }] };
    const wal = archive(
      [
        { tl: 1, seg: 5, until: 1_000 },
        { tl: 1, seg: 6, until: 2_500 },
        { tl: 1, seg: 7, until: 4_000 },
        { tl: 1, seg: 8, until: 5_000 },
        { tl: 2, seg: 6, until: 7_000 },
        { tl: 2, seg: 7, until: 8_000 },
      ],
      history,
    );
    const bases = [base('b1', 5, 900)];
    const { windows } = recoveryWindows(bases, wal);
    expect(windows).toEqual([
      { timeline: 1, from: 900, to: 5_000, bases: ['b1'] },
      { timeline: 2, from: 900, to: 8_000, bases: ['b1'] },
    ]);
    const late = planRecovery(bases, wal, 7_500);
    expect(late?.timeline).toBe(2);
    expect(late?.files.map((f) => f.name)).toEqual([
      '000000010000000000000005',
      '000000020000000000000006',
      '000000020000000000000007',
    ]);
    // Timeline 1's own history after the switch is there when asked for.
    expect(planRecovery(bases, wal, 4_500, 1)?.files.map((f) => f.name)).toContain('000000010000000000000008');
    expect(planRecovery(bases, wal, 7_500, 1)).toBeUndefined();
  });
});

describe('WAL retention', () => {
  it('removes only what comes before the oldest kept base backup, and nothing without one', () => {
    const wal = archive([
      { tl: 1, seg: 3, until: 100 },
      { tl: 1, seg: 4, until: 200 },
      { tl: 1, seg: 5, until: 300 },
      { tl: 1, seg: 6, until: 400, partial: true },
    ]);
    expect(walToRemove([base('b', 5, 250)], wal)).toEqual(['000000010000000000000003', '000000010000000000000004']);
    expect(walToRemove([], wal)).toEqual([]);
  });

  it('never removes a file that a kept base backup reaches (property)', () => {
    const arb = fc.record({
      files: fc.uniqueArray(fc.record({ tl: fc.integer({ min: 1, max: 3 }), seg: fc.integer({ min: 1, max: 40 }) }), {
        selector: (f) => `${f.tl}:${f.seg}`,
        maxLength: 60,
      }),
      bases: fc.array(fc.record({ seg: fc.integer({ min: 1, max: 40 }), tl: fc.integer({ min: 1, max: 3 }) }), {
        minLength: 1,
        maxLength: 6,
      }),
      keep: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
      switchAt: fc.integer({ min: 2, max: 40 }),
    });
    fc.assert(
      fc.property(arb, ({ files, bases, keep, switchAt }) => {
        const history = {
          2: [{ timeline: 1, switchLsn: switchAt * MB16 + 10 }],
          3: [
            { timeline: 1, switchLsn: switchAt * MB16 + 10 },
            { timeline: 2, switchLsn: (switchAt + 3) * MB16 + 10 },
          ],
        };
        const wal = archive(
          files.map((f) => ({ ...f, until: f.seg * 10 })),
          history,
        );
        const all = bases.map((b, i) => base(`b${i}`, b.seg, b.seg * 10 - 5, b.tl));
        const kept = all.filter((_, i) => keep[i]);
        const removed = new Set(walToRemove(kept, wal));
        const after: WalArchive = {
          segments: new Map([...wal.segments].filter(([name]) => !removed.has(name))),
          partials: wal.partials,
          histories: wal.histories,
        };
        for (const timeline of [1, 2, 3]) {
          const path = timelinePath(timeline, history[timeline as 2 | 3] ?? [], MB16);
          for (const b of kept) {
            const before = reach(b, path, wal);
            const now = reach(b, path, after);
            expect(now?.until).toBe(before?.until);
            expect(now?.files.map((f) => f.name)).toEqual(before?.files.map((f) => f.name));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
