// S3 Object Lock against the real MinIO: every object of a backup locked, the store refusing early deletes,
// prune keeping locked backups whole and saying until when, then deleting every version once the lock ends.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { logLines, runCli, startDaemon, writeConfig } from '../harness/cli.js';
import { randomPrefix, s3Client, s3StorageConfig } from '../harness/s3.js';
import { waitForCondition } from '../hostile/hostile-support.js';
import { parseSamples, sampleValue } from '../support/prom.js';

const s3 = inject('s3');

interface PruneJson {
  keep: { id: string; reasons: string[] }[];
  delete: { id: string }[];
}

describe('S3 Object Lock', () => {
  const bucket = `locked-${Math.random().toString(36).slice(2, 10)}`;
  const client = s3Client(s3);

  beforeAll(async () => {
    await client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  });

  async function setup(retain: string, retention: Record<string, unknown> = { last: 1 }) {
    const prefix = randomPrefix('lock');
    const { dir, path } = await writeConfig({
      storage: { ...s3StorageConfig(s3, prefix), bucket, objectLock: { mode: 'governance', retain } },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db', retention }],
    });
    await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    const db = new Database(join(dir, 'app.db'));
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES ('locked')");
    db.close();
    return { dir, path, prefix };
  }

  const backup = async (path: string) => {
    const result = await runCli(['--config', path, 'backup', 'app']);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.split('\t')[0] as string;
  };

  const versions = async (prefix: string) =>
    (await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }))).Versions ?? [];

  it('locks every object of a backup, and the store refuses to delete them early', async () => {
    const { path, prefix } = await setup('1h');
    const id = await backup(path);
    const objects = (await versions(`${prefix}app/${id}/`)).filter((v) => v.IsLatest);
    expect(objects.map((o) => o.Key?.split('/').pop()).sort()).toEqual(['database.sqlite3.gz', 'manifest.json']);
    for (const object of objects) {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: object.Key }));
      expect(head.ObjectLockMode).toBe('GOVERNANCE');
      const until = head.ObjectLockRetainUntilDate?.getTime() ?? 0;
      expect(until).toBeGreaterThan(Date.now() + 55 * 60_000);
      expect(until).toBeLessThan(Date.now() + 61 * 60_000);
      // Without the governance bypass (which Lifeboat never sends) the version cannot be deleted.
      await expect(
        client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key, VersionId: object.VersionId })),
      ).rejects.toThrow(/WORM|locked|retention/i);
    }
  });

  it('keeps locked backups whole and says until when (dry run, JSON, logs); deletes every version once unlocked', async () => {
    const { path, prefix } = await setup('1h');
    const first = await backup(path);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // ids are whole seconds
    await backup(path);
    const before = await versions(prefix);

    const dry = await runCli(['--config', path, 'prune', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(`keep    ${first}  locked until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(object lock\\)`),
    );
    const real = await runCli(['--config', path, 'prune', '--json']);
    expect(real.code, real.stderr).toBe(0);
    const [report] = JSON.parse(real.stdout) as PruneJson[];
    expect(report?.delete).toEqual([]);
    expect(report?.keep.find((k) => k.id === first)?.reasons[0]).toMatch(/^locked until /);
    expect(logLines(real.stderr).some((l) => l.event === 'prune.locked' && l.id === first)).toBe(true);
    expect((await versions(prefix)).length).toBe(before.length);
    const recovery = await runCli(['--config', path, 'report', '--format', 'json']);
    const [shown] = (JSON.parse(recovery.stdout) as { targets: { protection: { lockedUntil?: string } }[] }).targets;
    expect(Date.parse(shown?.protection.lockedUntil ?? '')).toBeGreaterThan(Date.now() + 50 * 60_000);
    const text = readFileSync(path, 'utf8').replace('retention:', "schedule: '0 0 1 1 *'\n    retention:");
    await writeFile(path, `${text}\nmetrics: { listen: '127.0.0.1:0' }\n`);
    const daemon = await startDaemon(path);
    try {
      const samples = parseSamples(await (await fetch(`${daemon.url}/metrics`)).text());
      const until = sampleValue(samples, 'lifeboat_backup_locked_until_timestamp_seconds', { target: 'app' }) ?? 0;
      expect(until * 1000).toBeGreaterThan(Date.now() + 50 * 60_000);
    } finally {
      await daemon.stop();
    }

    // A lock of one second: once it ends, prune removes the backup, every version of every object.
    const short = await setup('1s');
    const old = await backup(short.path);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await backup(short.path);
    await waitForCondition(async () => {
      const heads = await Promise.all(
        (await versions(`${short.prefix}app/${old}/`)).map((v) =>
          client.send(new HeadObjectCommand({ Bucket: bucket, Key: v.Key, VersionId: v.VersionId })),
        ),
      );
      return heads.every((h) => (h.ObjectLockRetainUntilDate?.getTime() ?? 0) < Date.now());
    }, 20_000);
    const pruned = await runCli(['--config', short.path, 'prune', '--json']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as PruneJson[])[0]?.delete).toEqual([{ id: old }]);
    expect(await versions(`${short.prefix}app/${old}/`)).toEqual([]);
    const markers = await client.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `${short.prefix}app/${old}/` }),
    );
    expect(markers.DeleteMarkers ?? []).toEqual([]);
  });

  it('refuses a bucket without Object Lock in config check and at daemon start, and warns about a lock longer than retention', async () => {
    const prefix = randomPrefix('nolock');
    const { dir, path } = await writeConfig({
      storage: { ...s3StorageConfig(s3, prefix), objectLock: { mode: 'compliance', retain: '30d' } },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db', schedule: '0 3 * * *' }],
      metrics: { listen: '127.0.0.1:0' },
    });
    await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    const check = await runCli(['--config', path, 'config', 'check']);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain(`storage.objectLock: bucket "${s3.bucket}" does not have Object Lock enabled`);
    await expect(startDaemon(path)).rejects.toThrow(/does not have Object Lock enabled/);

    const { path: warned } = await setup('400d', { daily: 7, weekly: 4 });
    const ok = await runCli(['--config', warned, 'config', 'check']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(
      "warning: storage.objectLock.retain (400d) is longer than app's retention keeps backups",
    );
  });
});
