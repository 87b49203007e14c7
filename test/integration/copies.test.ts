// Copies (3-2-1): each committed backup copied to other stores (a local folder, a second bucket written with
// a write-only key), verified and committed there, pruned by its own retention, usable by list, verify,
// restore --from-store and drills; a failed copy never touches the backup. Real MinIO, real SQLite files.
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { clockAt, runCli, startDaemon, writeConfig } from '../harness/cli.js';
import { minioUser } from '../harness/mc.js';
import { randomPrefix, s3Client, s3StorageConfig } from '../harness/s3.js';
import { waitForCondition } from '../hostile/hostile-support.js';
import { parseSamples, sampleValue } from '../support/prom.js';

const s3 = inject('s3');

describe('copies to other stores', () => {
  const coldBucket = `cold-${Math.random().toString(36).slice(2, 10)}`;
  let cold: Record<string, unknown>;

  beforeAll(async () => {
    const client = s3Client(s3);
    await client.send(new CreateBucketCommand({ Bucket: coldBucket }));
    client.destroy();
    const text = readFileSync(new URL('../../config/iam/writer.json', import.meta.url), 'utf8');
    const keys = await minioUser(s3, 'cold-writer', JSON.parse(text.replaceAll('BUCKET', coldBucket)).Statement);
    cold = {
      type: 's3',
      bucket: coldBucket,
      prefix: randomPrefix('cold'),
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      accessKeyId: keys.accessKeyId,
      secretAccessKey: keys.secretAccessKey,
    };
  });

  async function setup(copies: unknown[], extra: Record<string, unknown> = {}) {
    const { dir, path } = await writeConfig({
      storage: s3StorageConfig(s3, randomPrefix('primary')),
      stores: {
        offsite: { type: 'local', path: './offsite' },
        cold,
        broken: {
          type: 's3',
          bucket: 'nowhere',
          endpoint: 'http://127.0.0.1:1',
          forcePathStyle: true,
          accessKeyId: 'nobody',
          secretAccessKey: 'nothing',
          connectTimeout: '1s',
        },
      },
      metrics: { listen: '127.0.0.1:0' },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db', retention: { last: 5 }, copies, ...extra }],
    });
    await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    const db = new Database(join(dir, 'app.db'));
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES ('copied')");
    db.close();
    return { dir, path };
  }

  const ids = async (path: string, ...store: string[]) => {
    const result = await runCli(['--config', path, ...store, 'list', 'app', '--json']);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as { id: string }[]).map((m) => m.id).sort();
  };

  it('copies, verifies and commits each backup in every copy store, each pruned by its own retention', async () => {
    const { dir, path } = await setup([{ store: 'offsite', retention: { last: 1 } }, { store: 'cold' }]);
    const base = Date.now() - 10 * 60_000;
    for (let i = 0; i < 2; i += 1) {
      const backup = await runCli(['--config', path, 'backup', 'app'], clockAt(base + i * 60_000));
      expect(backup.code, backup.stderr).toBe(0);
      expect(backup.stdout).toContain('copied to offsite');
      expect(backup.stdout).toContain('copied to cold');
    }
    const primary = await ids(path);
    expect(primary).toHaveLength(2);
    expect(await ids(path, '--store', 'offsite')).toEqual(primary);
    expect(await ids(path, '--store', 'cold')).toEqual(primary);
    // The copy's manifest is the primary's, byte for byte.
    const manifest = readFileSync(join(dir, 'offsite', 'app', primary[1] as string, 'manifest.json'), 'utf8');
    expect(JSON.parse(manifest).id).toBe(primary[1]);

    const pruned = await runCli(['--config', path, '--store', 'offsite', 'prune']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(await ids(path, '--store', 'offsite')).toEqual([primary[1]]);
    expect(await ids(path)).toEqual(primary);

    expect((await runCli(['--config', path, '--store', 'cold', 'verify', 'app', '--all'])).code).toBe(0);
    const restored = await runCli([
      '--config',
      path,
      'restore',
      'app',
      '--from-store',
      'cold',
      '--to',
      join(dir, 'r.db'),
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    const drill = await runCli(['--config', path, '--store', 'offsite', 'drill', 'app']);
    expect(drill.code, drill.stderr).toBe(0);
    const unknown = await runCli(['--config', path, '--store', 'nope', 'list']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown store "nope"');
  });

  it('does not write into a copy store whose target another process holds, and copies once it is free', async () => {
    const { dir, path } = await setup([{ store: 'offsite' }]);
    // Another host's prune of the copy store holds the target there: its lease, fresh for ten minutes.
    const at = Date.now();
    const held = {
      schemaVersion: 1,
      target: 'app',
      holder: { id: 'other', host: 'otherhost', pid: 4242, command: 'lifeboat prune' },
      acquiredAt: new Date(at).toISOString(),
      renewedAt: new Date(at).toISOString(),
      expiresAt: new Date(at + 600_000).toISOString(),
    };
    await mkdir(join(dir, 'offsite', 'app'), { recursive: true });
    await writeFile(join(dir, 'offsite', 'app', 'lease.json'), JSON.stringify(held));
    const refused = await runCli(['--config', path, 'backup', 'app']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /Error: copy app\/\S+ to store offsite: lease: target app is busy: lifeboat prune \(pid 4242 on otherhost\) holds it since .* \(after 3 attempts; the backup itself is intact\)/,
    );
    expect(await ids(path)).toHaveLength(1);
    expect(await ids(path, '--store', 'offsite')).toEqual([]);
    // The prune ended and let go: the next backup is copied.
    await rm(join(dir, 'offsite', 'app', 'lease.json'));
    const next = await runCli(['--config', path, 'backup', 'app']);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain('copied to offsite');
    expect(await ids(path, '--store', 'offsite')).toHaveLength(1);
  });

  it('a failed copy fails the command, names the store, and leaves the backup intact', async () => {
    const { path } = await setup([{ store: 'broken' }]);
    const backup = await runCli(['--config', path, 'backup', 'app']);
    expect(backup.code).toBe(1);
    expect(backup.stderr).toMatch(
      /Error: copy app\/\S+ to store broken: .*ECONNREFUSED.*after 3 attempts; the backup itself is intact/,
    );
    expect(await ids(path)).toHaveLength(1);
    expect((await runCli(['--config', path, 'verify', 'app'])).code).toBe(0);
    const config = await writeConfig({
      storage: { type: 'local', path: './s' },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db', copies: [{ store: 'missing' }] }],
    });
    const refused = await runCli(['--config', config.path, 'config', 'check']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('targets[0].copies[0].store: no store "missing" under stores:');
  });

  it('the daemon copies after each backup, counts failed copies, and keeps backing up', async () => {
    const { path } = await setup([{ store: 'offsite' }, { store: 'broken' }], { schedule: '* * * * * *' });
    const daemon = await startDaemon(path);
    try {
      let samples = parseSamples('');
      await waitForCondition(async () => {
        samples = parseSamples(await (await fetch(`${daemon.url}/metrics`)).text());
        return (
          (sampleValue(samples, 'lifeboat_copy_last_success_timestamp_seconds', { target: 'app', store: 'offsite' }) ??
            0) > 0 &&
          (sampleValue(samples, 'lifeboat_copy_failures_total', { target: 'app', store: 'broken' }) ?? 0) >= 1
        );
      }, 90_000);
      expect(sampleValue(samples, 'lifeboat_backup_last_success', { target: 'app' })).toBe(1);
      expect(
        sampleValue(samples, 'lifeboat_copy_last_success_timestamp_seconds', { target: 'app', store: 'broken' }),
      ).toBeUndefined();
    } finally {
      const stopped = await daemon.stop();
      expect(stopped.stderr).toContain('"event":"copy.failed"');
    }
    expect((await ids(path, '--store', 'offsite')).length).toBeGreaterThanOrEqual(1);
  });
});
