// Backup ids, manifest parsing and choosing a backup by time: pure logic.
import { describe, expect, it } from 'vitest';
import { backupIdTime, newBackupId } from '../../src/catalog/backup-id.js';
import { chooseBackupAt } from '../../src/catalog/catalog.js';
import { type Manifest, parseManifest, serializeManifest } from '../../src/catalog/manifest.js';

function manifest(id: string, snapshotAt: string): Manifest {
  return {
    schemaVersion: 1,
    id,
    target: 'db',
    driver: 'sqlite',
    startedAt: snapshotAt,
    finishedAt: snapshotAt,
    snapshotAt,
    source: {},
    tool: { name: 'lifeboat', version: '0.1.0' },
    stats: { tables: [{ name: 't', rows: 3 }] },
    artifacts: [
      {
        key: `db/${id}/database.sqlite3.gz`,
        format: 'sqlite3',
        compression: 'gzip',
        size: 10,
        sha256: 'a'.repeat(64),
        rawSize: 20,
        rawSha256: 'b'.repeat(64),
      },
    ],
  };
}

describe('backup ids', () => {
  it('encode the UTC start time in basic ISO form with a 6-hex suffix', () => {
    const id = newBackupId(new Date('2026-03-04T05:06:07.890Z'), () => 'a1b2c3');
    expect(id).toBe('20260304T050607Z-a1b2c3');
    expect(backupIdTime(id)?.toISOString()).toBe('2026-03-04T05:06:07.000Z');
    expect(newBackupId(new Date())).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
  });

  it('sort in time order', () => {
    const times = ['2026-01-01T00:00:00Z', '2025-12-31T23:59:59Z', '2026-01-01T00:00:01Z'];
    const ids = times.map((t) => newBackupId(new Date(t)));
    expect([...ids].sort().map((id) => backupIdTime(id)?.toISOString())).toEqual(
      [...times].sort().map((t) => new Date(t).toISOString()),
    );
  });

  it('reject strings that are not ids', () => {
    for (const text of ['20260101T000000Z', '20261301T000000Z-abcdef', '20260101T000000Z-ABCDEF', '../etc']) {
      expect(backupIdTime(text)).toBeUndefined();
    }
  });
});

describe('chooseBackupAt', () => {
  const newestFirst = [
    manifest('20260103T030000Z-000003', '2026-01-03T03:00:00.000Z'),
    manifest('20260102T030000Z-000002', '2026-01-02T03:00:00.000Z'),
    manifest('20260101T030000Z-000001', '2026-01-01T03:00:00.000Z'),
  ];
  it('picks the newest backup whose data is from the time or before', () => {
    expect(chooseBackupAt(newestFirst, new Date('2026-01-02T12:00:00Z'))?.id).toBe('20260102T030000Z-000002');
    expect(chooseBackupAt(newestFirst, new Date('2026-01-02T03:00:00Z'))?.id).toBe('20260102T030000Z-000002');
    expect(chooseBackupAt(newestFirst, new Date('2030-01-01T00:00:00Z'))?.id).toBe('20260103T030000Z-000003');
  });
  it('returns nothing before the oldest backup', () => {
    expect(chooseBackupAt(newestFirst, new Date('2026-01-01T02:59:59Z'))).toBeUndefined();
  });
});

describe('manifest', () => {
  it('round-trips through its serialized form', () => {
    const m = manifest('20260101T030000Z-000001', '2026-01-01T03:00:00.000Z');
    expect(parseManifest(serializeManifest(m), 'k')).toEqual(m);
  });
  it('names the key and the field at fault', () => {
    const bad = { ...manifest('20260101T030000Z-000001', '2026-01-01T03:00:00.000Z'), artifacts: [] };
    expect(() => parseManifest(JSON.stringify(bad), 'db/x/manifest.json')).toThrow(
      'catalog: parse db/x/manifest.json: artifacts:',
    );
    expect(() => parseManifest('{not json', 'db/x/manifest.json')).toThrow(/not JSON/);
    expect(() => parseManifest(JSON.stringify({ schemaVersion: 2 }), 'k')).toThrow(/schemaVersion/);
  });
});
