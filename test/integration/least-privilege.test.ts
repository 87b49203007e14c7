// Least privilege against the real MinIO: users with the IAM policies shipped in config/iam/ (writer, pruner,
// restorer). A write-only key backs up, lists, verifies and restores but cannot delete; retention then runs
// with pruneCredentials; the daemon's backups succeed while its prune is refused and counted.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { clockAt, runCli, startDaemon, writeConfig } from '../harness/cli.js';
import { minioUser } from '../harness/mc.js';
import { randomPrefix, s3Keys, s3StorageConfig } from '../harness/s3.js';
import { waitForCondition } from '../hostile/hostile-support.js';
import { parseSamples, sampleValue } from '../support/prom.js';

const s3 = inject('s3');

function policy(role: 'writer' | 'pruner' | 'restorer') {
  const text = readFileSync(new URL(`../../config/iam/${role}.json`, import.meta.url), 'utf8');
  return JSON.parse(text.replaceAll('BUCKET', s3.bucket)).Statement;
}

describe('least-privilege credentials (config/iam/*.json)', () => {
  let writer: { accessKeyId: string; secretAccessKey: string };
  let pruner: { accessKeyId: string; secretAccessKey: string };
  let restorer: { accessKeyId: string; secretAccessKey: string };

  beforeAll(async () => {
    writer = await minioUser(s3, 'writer', policy('writer'));
    pruner = await minioUser(s3, 'pruner', policy('pruner'));
    restorer = await minioUser(s3, 'restorer', policy('restorer'));
  });

  async function setup(
    keys: { accessKeyId: string; secretAccessKey: string },
    extra: Record<string, unknown> = {},
    prefix = randomPrefix('iam'),
  ) {
    const { dir, path } = await writeConfig({
      storage: { ...s3StorageConfig(s3, prefix, './secret'), accessKeyId: keys.accessKeyId, ...extra },
      metrics: { listen: '127.0.0.1:0' },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db', retention: { last: 1 } }],
    });
    await writeFile(join(dir, 'secret'), `${keys.secretAccessKey}\n`);
    const db = new Database(join(dir, 'app.db'));
    db.exec("CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES ('row')");
    db.close();
    return { dir, path, prefix };
  }

  it('a write-only key backs up, lists, verifies and restores, and cannot delete; pruneCredentials can', async () => {
    const { dir, path, prefix } = await setup(writer);
    const base = Date.now() - 10 * 60_000;
    for (let i = 0; i < 2; i += 1) {
      const backup = await runCli(['--config', path, 'backup', 'app'], clockAt(base + i * 60_000));
      expect(backup.code, backup.stderr).toBe(0);
    }
    expect((await runCli(['--config', path, 'verify', 'app'])).code).toBe(0);
    const restored = await runCli(['--config', path, 'restore', 'app', '--to', join(dir, 'restored.db')]);
    expect(restored.code, restored.stderr).toBe(0);
    const before = await s3Keys(s3, prefix);

    const refused = await runCli(['--config', path, 'prune']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('AccessDenied');
    expect(refused.stderr).toContain(
      'Try: these credentials may not delete (a write-only key): give retention its own with storage.pruneCredentials',
    );
    expect(await s3Keys(s3, prefix)).toEqual(before);

    await writeFile(join(dir, 'prune_secret'), `${pruner.secretAccessKey}\n`);
    const { path: withPruner } = await setup(
      writer,
      { pruneCredentials: { accessKeyId: pruner.accessKeyId, secretAccessKeyFile: join(dir, 'prune_secret') } },
      prefix,
    );
    const pruned = await runCli(['--config', withPruner, 'prune', '--json']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as { delete: unknown[] }[])[0]?.delete).toHaveLength(1);
    expect((await s3Keys(s3, prefix)).length).toBeLessThan(before.length);
  });

  it("the daemon's backups succeed with a write-only key while its retention is refused and counted", async () => {
    const { path } = await setup(writer);
    const text = readFileSync(path, 'utf8').replace('retention:', "schedule: '* * * * * *'\n    retention:");
    await writeFile(path, text);
    const daemon = await startDaemon(path);
    try {
      let samples = parseSamples('');
      await waitForCondition(async () => {
        samples = parseSamples(await (await fetch(`${daemon.url}/metrics`)).text());
        // The catalog figures follow the failed prune: wait for both.
        return (
          (sampleValue(samples, 'lifeboat_prune_failures_total', { target: 'app' }) ?? 0) >= 1 &&
          (sampleValue(samples, 'lifeboat_backups_stored', { target: 'app' }) ?? 0) >= 1
        );
      }, 60_000);
      expect(sampleValue(samples, 'lifeboat_backup_last_success', { target: 'app' })).toBe(1);
      expect(sampleValue(samples, 'lifeboat_backups_stored', { target: 'app' })).toBeGreaterThanOrEqual(1);
    } finally {
      const stopped = await daemon.stop();
      expect(stopped.stderr).toContain('AccessDenied');
      expect(stopped.stderr).not.toContain(writer.secretAccessKey);
    }
  });

  it('a restorer key restores and drills, and cannot back up', async () => {
    const { dir, path, prefix } = await setup(writer);
    expect((await runCli(['--config', path, 'backup', 'app'])).code).toBe(0);
    const { path: readOnly } = await setup(restorer, {}, prefix);
    const restored = await runCli(['--config', readOnly, 'restore', 'app', '--to', join(dir, 'by-restorer.db')]);
    expect(restored.code, restored.stderr).toBe(0);
    const drill = await runCli(['--config', readOnly, 'drill', 'app']);
    expect(drill.code, drill.stderr).toBe(0);
    const backup = await runCli(['--config', readOnly, 'backup', 'app']);
    expect(backup.code).toBe(1);
    expect(backup.stderr).toContain('AccessDenied');
    expect(backup.stderr).toContain('Try: the credentials may not do this on bucket');
  });
});
