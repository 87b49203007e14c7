// Drill and report logic without servers: expectations, stats comparison, RPO gaps, verdicts and rendering.
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/catalog/manifest.js';
import { configSchema } from '../../src/config/schema.js';
import { LifeboatError } from '../../src/errors.js';
import { renderHtml } from '../../src/report/render-html.js';
import { renderMarkdown } from '../../src/report/render-markdown.js';
import { targetReport } from '../../src/report/report.js';
import {
  backupGaps,
  checkTable,
  compare,
  compareStats,
  findTable,
  parseExpectation,
  worstGap,
} from '../../src/verify/drill-checks.js';
import type { DrillRecord } from '../../src/verify/drill-record.js';
import { StageFailure, stageFailure } from '../../src/verify/run-drill.js';

describe('drill checks', () => {
  it('parses expectations and compares', () => {
    expect(parseExpectation('>= 1000')).toEqual({ op: '>=', value: 1000 });
    expect(parseExpectation(' == -2.5 ')).toEqual({ op: '=', value: -2.5 });
    expect(parseExpectation('= manifest')).toEqual({ op: '=', value: 'manifest' });
    expect(() => parseExpectation('> manifest')).toThrow(/only be compared with "="/);
    expect(() => parseExpectation('about 5')).toThrow(/not an expectation/);
    expect([
      compare(5, '>=', 5),
      compare(5, '>', 5),
      compare(4, '<', 5),
      compare(5, '!=', 5),
      compare(5, '<=', 4),
    ]).toEqual([true, false, true, false, false]);
  });

  it('finds the table of a "= manifest" check, with or without schema and quotes', () => {
    expect(checkTable({ sql: 'SELECT count(*) FROM users' })).toBe('users');
    expect(checkTable({ sql: 'select count(*) from "audit"."events" where x' })).toBe('audit.events');
    expect(checkTable({ sql: 'SELECT 1', table: 'orders' })).toBe('orders');
    expect(checkTable({ sql: 'SELECT 1' })).toBeUndefined();
    const tables = [
      { name: 'public.users', rows: 3 },
      { name: 'audit.events', rows: 9 },
    ];
    expect(findTable(tables, 'users')?.rows).toBe(3);
    expect(findTable(tables, 'audit.events')?.rows).toBe(9);
    expect(findTable(tables, 'events')).toBeUndefined();
  });

  it('reports every difference between restored and recorded tables', () => {
    expect(
      compareStats(
        [
          { name: 'a', rows: 1 },
          { name: 'b', rows: 2 },
          { name: 'c', rows: 3 },
        ],
        [
          { name: 'a', rows: 1 },
          { name: 'b', rows: 5 },
          { name: 'd', rows: 0 },
        ],
      ),
    ).toEqual([
      'table b: 5 rows restored, manifest says 2',
      'table c missing after restore (manifest: 3 rows)',
      'table d restored but not in the manifest',
    ]);
    expect(compareStats([{ name: 'a', rows: 1 }], [{ name: 'a', rows: 1 }])).toEqual([]);
  });

  it('measures gaps between backups in the window, with the open gap up to now', () => {
    const now = new Date('2026-01-10T00:00:00Z');
    const gaps = backupGaps(
      ['2026-01-01T00:00:00Z', '2026-01-05T00:00:00Z', '2026-01-06T00:00:00Z', '2026-01-09T12:00:00Z'],
      new Date('2026-01-04T00:00:00Z'),
      now,
    );
    // The gap that ends inside the window counts in full (from Jan 1), the one before does not exist.
    expect(gaps.map((g) => [g.from?.slice(0, 13), g.to.slice(0, 13), g.seconds / 3600, g.open])).toEqual([
      ['2026-01-01T00', '2026-01-05T00', 96, false],
      ['2026-01-05T00', '2026-01-06T00', 24, false],
      ['2026-01-06T00', '2026-01-09T12', 84, false],
      ['2026-01-09T12', '2026-01-10T00', 12, true],
    ]);
    expect(worstGap(gaps)?.seconds).toBe(96 * 3600);
    const none = backupGaps([], new Date('2026-01-04T00:00:00Z'), now);
    expect(none).toEqual([{ from: undefined, to: now.toISOString(), seconds: 6 * 86_400, open: true }]);
  });
});

function manifest(id: string, snapshotAt: string, size: number): Manifest {
  return {
    schemaVersion: 1,
    id,
    target: 'app',
    driver: 'sqlite',
    startedAt: snapshotAt,
    finishedAt: new Date(Date.parse(snapshotAt) + 4_000).toISOString(),
    snapshotAt,
    source: {},
    tool: { name: 'lifeboat', version: '0.1.0' },
    stats: { tables: [{ name: 't', rows: 1 }] },
    artifacts: [
      {
        key: `app/${id}/x.gz`,
        format: 'sqlite3',
        compression: 'gzip',
        size,
        sha256: 'a'.repeat(64),
        rawSize: size * 3,
        rawSha256: 'b'.repeat(64),
      },
    ],
  };
}

function drill(startedAt: string, total: number, failure?: DrillRecord['failure']): DrillRecord {
  return {
    schemaVersion: 1,
    target: 'app',
    driver: 'sqlite',
    startedAt,
    finishedAt: startedAt,
    ok: failure === undefined,
    failure,
    backup: undefined,
    timings: { download: total / 4, verify: total / 4, restore: total / 4, checks: total / 4, total },
    dataAgeSeconds: 60,
    worstRpo: { seconds: 60, to: startedAt, windowStart: startedAt },
    objectives: {},
    verdicts: { rpo: 'none', rto: 'none' },
    checks: [{ name: 'checksums', kind: 'builtin', ok: failure === undefined, message: failure?.message ?? 'ok' }],
    scratch: { description: 'scratch file /tmp/x', cleanedUp: true },
    tool: { name: 'lifeboat', version: '0.1.0' },
  };
}

describe('drill failures', () => {
  it("records a LifeboatError's message and hint, without a URL's password", () => {
    const error = new LifeboatError('DRILL_DESTINATION', 'postgres: connect postgres://app:s3cret@db:5432/x: refused', {
      hint: 'set drill.to, e.g. postgres://drill:pw@other:5432/postgres',
    });
    expect(stageFailure('restore', error, undefined)).toEqual({
      stage: 'restore',
      message: 'postgres: connect postgres://app:redacted@db:5432/x: refused',
      hint: 'set drill.to, e.g. postgres://drill:redacted@other:5432/postgres',
    });
    // Wrapped as the drill's own verdict, the hint stays; a plain error has none.
    expect(stageFailure('restore', StageFailure.of(error), undefined)?.hint).toBe(
      'set drill.to, e.g. postgres://drill:redacted@other:5432/postgres',
    );
    expect(stageFailure('checks', new Error('boom'), undefined)).toEqual({ stage: 'checks', message: 'boom' });
  });

  it('says a drill was interrupted when its signal aborted, and keeps its own verdicts as they are', () => {
    const controller = new AbortController();
    controller.abort(new Error('SIGTERM'));
    expect(stageFailure('download', new Error('socket closed'), controller.signal)).toEqual({
      stage: 'download',
      message: 'interrupted (SIGTERM)',
    });
    expect(stageFailure('checks', new StageFailure('check x failed'), controller.signal)).toEqual({
      stage: 'checks',
      message: 'check x failed',
    });
  });
});

describe('report', () => {
  const config = configSchema.parse({
    storage: { type: 'local', path: 'x' },
    targets: [{ name: 'app', driver: 'sqlite', path: 'a.db', drill: { objectives: { rpo: '26h', rto: '30s' } } }],
  });
  const target = config.targets[0];
  if (target === undefined) throw new Error('no target');
  const since = new Date('2026-01-01T00:00:00Z');
  const now = new Date('2026-01-05T00:00:00Z');
  const backups = [
    manifest('20260101T030000Z-aaaaaa', '2026-01-01T03:00:00Z', 1000),
    manifest('20260102T030000Z-bbbbbb', '2026-01-02T03:00:00Z', 1100),
    manifest('20260104T090000Z-cccccc', '2026-01-04T09:00:00Z', 1200),
  ];

  it('judges objectives against the worst gap and the slowest restore, and says why', () => {
    const report = targetReport(
      target,
      backups,
      [
        drill('2026-01-02T05:00:00Z', 12),
        drill('2026-01-03T05:00:00Z', 45, { stage: 'checks', message: 'check users failed: got 0, expected >= 1' }),
        drill('2026-01-04T05:00:00Z', 3, { stage: 'verify', message: 'backup damaged', hint: 'drill an older backup' }),
      ],
      since,
      now,
    );
    expect(report.measured.worstRpo?.seconds).toBe(54 * 3600);
    expect(report.verdicts).toEqual({ rpo: 'fail', rto: 'fail', lastDrill: 'fail' });
    expect(report.measured.worstRtoSeconds).toBe(45); // the failed verify never restored: not an RTO
    expect(report.measured.lastRtoSeconds).toBe(45);
    expect(report.findings).toEqual([
      'RPO: the longest gap without a backup was 2d 6h (2026-01-02T03:00:00.000Z to 2026-01-04T09:00:00.000Z), objective 1d 2h',
      'RTO: the slowest drill took 45s, objective 30s',
      'drill 2026-01-03T05:00:00Z failed at checks: check users failed: got 0, expected >= 1',
      'drill 2026-01-04T05:00:00Z failed at verify: backup damaged (try: drill an older backup)',
    ]);
    const md = renderMarkdown({
      generatedAt: now.toISOString(),
      since: since.toISOString(),
      tool: { name: 'lifeboat', version: '0' },
      targets: [report],
    });
    expect(md).toContain('| app | 1d 2h | 2d 6h | ❌ fail | 30s | 45s / 45s | ❌ fail | ❌ fail |');
    expect(md).toContain('- drill 2026-01-04T05:00:00Z failed at verify: backup damaged (try: drill an older backup)');
    expect(md).toContain('| verify: backup damaged (try: drill an older backup) |');
    expect(md).toContain('xychart-beta');
    const html = renderHtml({
      generatedAt: now.toISOString(),
      since: since.toISOString(),
      tool: { name: 'lifeboat', version: '0' },
      targets: [report],
    });
    expect(html.match(/<svg class="chart"/g)).toHaveLength(4);
    expect(html).toContain('<td>verify: backup damaged (try: drill an older backup)</td>');
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it('passes when every gap and every restore is within the objectives', () => {
    const report = targetReport(
      target,
      [
        manifest('20260104T090000Z-cccccc', '2026-01-04T09:00:00Z', 1),
        manifest('20260104T200000Z-dddddd', '2026-01-04T20:00:00Z', 1),
      ],
      [drill('2026-01-04T21:00:00Z', 10)],
      new Date('2026-01-04T08:00:00Z'),
      now,
    );
    expect(report.verdicts).toEqual({ rpo: 'pass', rto: 'pass', lastDrill: 'pass' });
    expect(report.findings).toEqual([]);
  });
});
