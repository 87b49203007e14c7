// Prune end to end against the real S3 server: a backup history over weeks, `prune --dry-run --json --now`,
// the real deletion (manifest first), idempotence, incomplete folders and unfinished multipart uploads, and a
// listing problem that makes prune delete nothing.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { newBackupId } from '../../src/catalog/backup-id.js';
import { deleteBackup } from '../../src/catalog/catalog.js';
import { type Manifest, manifestKey, serializeManifest } from '../../src/catalog/manifest.js';
import { loadConfig } from '../../src/config/load.js';
import { createStorage } from '../../src/storage/create-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { runCli, writeConfig } from '../harness/cli.js';
import { randomPrefix, s3Client, s3Keys, s3StorageConfig } from '../harness/s3.js';

const s3 = inject('s3');

interface PruneJson {
  target: string;
  keep: { id: string; reasons: string[] }[];
  delete: { id: string }[];
  incomplete: { id: string; objects: number }[];
  dryRun: boolean;
}

async function setup(retention: unknown, incompleteGracePeriod = '1h') {
  const prefix = randomPrefix('prune');
  const { dir, path } = await writeConfig({
    storage: s3StorageConfig(s3, prefix),
    defaults: { retention },
    daemon: { incompleteGracePeriod },
    targets: [{ name: 'shop', driver: 'sqlite', path: './shop.db' }],
  });
  await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
  const db = new Database(join(dir, 'shop.db'));
  db.exec("CREATE TABLE t (x); INSERT INTO t VALUES ('a'), ('b');");
  db.close();
  return { path, prefix, storage: await createStorage(loadConfig(path).storage) };
}

/** A real backup of the target, copied to backups made at `times` (artifact and manifest, as a run writes them). */
async function history(path: string, storage: Storage, times: string[]): Promise<string[]> {
  const made = await runCli(['--config', path, 'backup', '--json']);
  expect(made.code).toBe(0);
  const [template] = JSON.parse(made.stdout) as Manifest[];
  if (template === undefined) throw new Error('no backup made');
  const artifact = template.artifacts[0];
  if (artifact === undefined) throw new Error('no artifact');
  const ids: string[] = [];
  for (const time of times) {
    const at = new Date(time);
    const id = newBackupId(at);
    const key = `shop/${id}/${artifact.key.split('/').at(-1)}`;
    await storage.put(key, await storage.get(artifact.key));
    const iso = at.toISOString();
    const manifest: Manifest = {
      ...template,
      id,
      startedAt: iso,
      finishedAt: iso,
      snapshotAt: iso,
      artifacts: [{ ...artifact, key }],
    };
    await storage.put(manifestKey('shop', id), serializeManifest(manifest));
    ids.push(id);
  }
  // The real one is newer than all of them; remove it so the history is exactly `times`.
  await storage.delete([manifestKey('shop', template.id), artifact.key]);
  return ids;
}

describe('prune against S3', () => {
  const times = [
    '2026-10-01T03:00:00Z',
    '2026-10-08T03:00:00Z',
    '2026-10-15T03:00:00Z',
    '2026-10-20T03:00:00Z',
    '2026-10-21T03:00:00Z',
    '2026-10-22T03:00:00Z',
    '2026-10-22T15:00:00Z',
  ];
  let path: string;
  let prefix: string;
  let storage: Storage;
  let ids: string[];

  beforeAll(async () => {
    ({ path, prefix, storage } = await setup({ daily: 3, weekly: 2 }));
    ids = await history(path, storage, times);
  });

  it('explains every decision in a dry run and deletes nothing', async () => {
    const before = await s3Keys(s3, prefix);
    const result = await runCli(['--config', path, 'prune', '--dry-run', '--json', '--now', '2026-10-23T00:00:00Z']);
    expect(result.code).toBe(0);
    const [report] = JSON.parse(result.stdout) as PruneJson[];
    const [oct01, oct08, oct15, oct20, oct21, oct22a, oct22b] = ids;
    expect(report?.keep).toEqual([
      { id: oct22b, reasons: ['daily 2026-10-22', 'weekly 2026-W43', 'newest backup'] },
      { id: oct21, reasons: ['daily 2026-10-21'] },
      { id: oct20, reasons: ['daily 2026-10-20'] },
      { id: oct15, reasons: ['weekly 2026-W42'] },
    ]);
    expect(report?.delete).toEqual([{ id: oct22a }, { id: oct08 }, { id: oct01 }]);
    expect(report?.dryRun).toBe(true);
    expect(await s3Keys(s3, prefix)).toEqual(before);
  });

  it('deletes what the policy no longer keeps, and a second run deletes nothing more', async () => {
    const result = await runCli(['--config', path, 'prune', '--now', '2026-10-23T00:00:00Z']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('shop: keep 4, deleted 3');
    const listed = JSON.parse((await runCli(['--config', path, 'list', '--json'])).stdout) as Manifest[];
    expect(listed.map((m) => m.snapshotAt)).toEqual([
      '2026-10-22T15:00:00.000Z',
      '2026-10-21T03:00:00.000Z',
      '2026-10-20T03:00:00.000Z',
      '2026-10-15T03:00:00.000Z',
    ]);
    // No folder of a deleted backup is left, not even an artifact without its manifest.
    const folders = new Set((await s3Keys(s3, prefix)).map((k) => k.split('/')[2]));
    expect([...folders].sort()).toEqual(listed.map((m) => m.id).sort());
    const again = await runCli(['--config', path, 'prune', '--json', '--now', '2026-10-23T00:00:00Z']);
    expect((JSON.parse(again.stdout) as PruneJson[])[0]?.delete).toEqual([]);
  });

  it('removes old incomplete folders and unfinished uploads, but not recent ones', async () => {
    // Grace 1h first: only the folder from October is old enough. Then the same store with a 1 s grace.
    const { path: p2, prefix: pre2, storage: st2 } = await setup({ last: 5 }, '1h');
    await history(p2, st2, ['2026-10-01T03:00:00Z']);
    const oldIncomplete = newBackupId(new Date('2026-10-05T03:00:00Z'));
    await st2.put(`shop/${oldIncomplete}/db.sqlite.gz`, Buffer.from('half an upload'));
    const client = s3Client(s3);
    try {
      await client.send(
        new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: `${pre2}shop/${oldIncomplete}/big.gz` }),
      );
      const recentIncomplete = newBackupId(new Date());
      await st2.put(`shop/${recentIncomplete}/db.sqlite.gz`, Buffer.from('a run still going'));
      const uploads = async () =>
        ((await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))).Uploads ?? []).filter((u) =>
          u.Key?.startsWith(pre2),
        ).length;

      const first = await runCli(['--config', p2, 'prune', '--json']);
      const [report] = JSON.parse(first.stdout) as (PruneJson & { staleUploads: number })[];
      expect(report?.incomplete).toEqual([{ id: oldIncomplete, objects: 1 }]);
      expect(report?.staleUploads).toBe(0); // the multipart upload is younger than the grace period
      expect(await uploads()).toBe(1);
      const folders = new Set((await s3Keys(s3, pre2)).map((k) => k.split('/')[2]));
      expect(folders.has(oldIncomplete)).toBe(false);
      expect(folders.has(recentIncomplete)).toBe(true);

      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const shortGrace = await writeConfig({
        storage: s3StorageConfig(s3, pre2),
        defaults: { retention: { last: 5 } },
        daemon: { incompleteGracePeriod: '1s' },
        targets: [{ name: 'shop', driver: 'sqlite', path: './shop.db' }],
      });
      await writeFile(join(shortGrace.dir, 's3_secret'), `${s3.secretAccessKey}\n`);
      const second = await runCli(['--config', shortGrace.path, 'prune', '--json']);
      const [later] = JSON.parse(second.stdout) as (PruneJson & { staleUploads: number })[];
      expect(later?.staleUploads).toBe(1);
      expect(later?.incomplete.map((i) => i.id)).toEqual([recentIncomplete]);
      expect(await uploads()).toBe(0);
      expect(later?.keep).toHaveLength(1);
    } finally {
      client.destroy();
    }
  });

  it('keeps a backup whose manifest cannot be read, names it, and prunes the others', async () => {
    const { path: p3, storage: st3 } = await setup({ last: 1 });
    const made = await history(p3, st3, ['2026-10-01T03:00:00Z', '2026-10-02T03:00:00Z', '2026-10-03T03:00:00Z']);
    const broken = newBackupId(new Date('2026-09-30T03:00:00Z'));
    await st3.put(manifestKey('shop', broken), Buffer.from('{ "schemaVersion": 1, "id": '));
    const result = await runCli(['--config', p3, 'prune', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const [report] = JSON.parse(result.stdout) as PruneJson[];
    expect(report?.delete.map((d) => d.id).sort()).toEqual(made.slice(0, 2).sort());
    const kept = report?.keep.find((k) => k.id === broken);
    expect(kept?.reasons[0]).toContain(
      `damaged, kept for inspection: catalog: parse shop/${broken}/manifest.json: not JSON`,
    );
    expect(result.stderr).toContain('damaged backup kept');
    expect(await st3.head(manifestKey('shop', broken))).toBeDefined();
  });

  it('keeps everything when no policy is configured, and rejects a bad --now', async () => {
    const { path: p4, storage: st4 } = await setup(undefined);
    const made = await history(p4, st4, ['2026-10-01T03:00:00Z', '2026-10-02T03:00:00Z']);
    const result = await runCli(['--config', p4, 'prune', '--json']);
    const [report] = JSON.parse(result.stdout) as PruneJson[];
    expect(report?.keep.map((k) => k.id).sort()).toEqual([...made].sort());
    expect(report?.keep[0]?.reasons).toContain('no retention policy configured');
    expect(report?.delete).toEqual([]);
    const bad = await runCli(['--config', p4, 'prune', '--now', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Error: --now: "yesterday" is not an ISO 8601 time');
  });
});

describe('deleting one backup', () => {
  it('removes the manifest before any artifact', async () => {
    const { path, storage } = await setup({ last: 1 });
    const [id] = await history(path, storage, ['2026-10-01T03:00:00Z']);
    const calls: string[][] = [];
    const recording: Storage = {
      location: storage.location,
      put: storage.put.bind(storage),
      get: storage.get.bind(storage),
      head: storage.head.bind(storage),
      list: storage.list.bind(storage),
      removeStaleUploads: storage.removeStaleUploads.bind(storage),
      check: storage.check.bind(storage),
      delete: (keys) => {
        calls.push([...keys]);
        return storage.delete(keys);
      },
    };
    expect(await deleteBackup(recording, 'shop', id as string)).toBe(2);
    expect(calls[0]).toEqual([manifestKey('shop', id as string)]);
    expect(calls.flat()).toHaveLength(2);
  });
});
