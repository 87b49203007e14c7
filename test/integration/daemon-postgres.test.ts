// Graceful shutdown under a real long-running backup: a large PostgreSQL dump to a real S3 server, SIGTERM in the
// middle. Within the grace period the backup completes; past it the run is aborted and leaves nothing behind.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { logLines, startDaemon, writeConfig } from '../harness/cli.js';
import { createDatabase, pgClient } from '../harness/postgres.js';
import { randomPrefix, s3Client, s3Keys, s3StorageConfig } from '../harness/s3.js';

const pg = inject('postgres');
const s3 = inject('s3');

async function daemonConfig(database: string, grace: string) {
  const prefix = randomPrefix('daemon');
  const { dir, path } = await writeConfig({
    storage: s3StorageConfig(s3, prefix),
    defaults: { schedule: '0 3 * * *', retries: 0 },
    daemon: { shutdownGracePeriod: grace },
    metrics: { listen: '127.0.0.1:0' },
    targets: [
      {
        name: 'big',
        driver: 'postgres',
        url: `postgres://${pg.user}@${pg.host}:${pg.port}/${database}`,
        passwordFile: './pg_password',
      },
    ],
  });
  await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
  await writeFile(join(dir, 'pg_password'), `${pg.password}\n`);
  return { path, prefix };
}

/**
 * Waits until pg_dump is copying table data of `database` (the catch-up backup at start-up is under way).
 * Only that database: other test files dump from the same server at the same time.
 */
async function waitForCopy(database: string): Promise<void> {
  const client = await pgClient(pg);
  try {
    await expect
      .poll(
        async () =>
          (
            await client.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'lifeboat' AND query LIKE 'COPY %' AND datname = $1",
              [database],
            )
          ).rows[0].n,
        { timeout: 30_000, interval: 20 },
      )
      .toBe(1);
  } finally {
    await client.end();
  }
}

async function multipartUploads(prefix: string): Promise<string[]> {
  const client = s3Client(s3);
  try {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
    return (page.Uploads ?? []).map((u) => u.Key ?? '').filter((key) => key.startsWith(prefix));
  } finally {
    client.destroy();
  }
}

describe('daemon shutdown during a large PostgreSQL backup to S3', () => {
  let database: string;

  beforeAll(async () => {
    database = await createDatabase(pg, 'daemonbig');
    const client = await pgClient(pg, database);
    try {
      // About 90 MB of dump: seconds of work, so SIGTERM lands in the middle of it.
      await client.query(
        `CREATE TABLE blob AS SELECT g AS id, md5(g::text) || repeat(md5((g * 7)::text), 6) AS payload
           FROM generate_series(1, 400000) g`,
      );
    } finally {
      await client.end();
    }
  });

  it('past the grace period: aborts the run, no manifest, no objects, no multipart upload, exit 0', async () => {
    const { path, prefix } = await daemonConfig(database, '300ms');
    const daemon = await startDaemon(path);
    await waitForCopy(database);
    const result = await daemon.stop();
    expect(result.code).toBe(0);
    const logs = logLines(result.stderr);
    expect(logs.find((l) => l.event === 'daemon.stopped')).toMatchObject({ aborted: 1, finished: 0, clean: true });
    const end = logs.find((l) => l.event === 'backup.end');
    expect(end).toMatchObject({ result: 'failure', target: 'big' });
    expect(String(end?.error)).toContain('shutdown grace period ran out');
    expect(end?.removedObjects).not.toBe(-1);
    expect(await s3Keys(s3, prefix)).toEqual([]);
    expect(await multipartUploads(prefix)).toEqual([]);
    const client = await pgClient(pg);
    try {
      // This test's database only: other test files use the same server, and Lifeboat's name, at the same time.
      const lingering = await client.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'lifeboat' AND datname = $1",
        [database],
      );
      expect(lingering.rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });

  it('within the grace period: lets the running backup finish and commit, then exits 0', async () => {
    const { path, prefix } = await daemonConfig(database, '2m');
    const daemon = await startDaemon(path);
    await waitForCopy(database);
    const result = await daemon.stop();
    expect(result.code).toBe(0);
    const logs = logLines(result.stderr);
    expect(logs.find((l) => l.event === 'daemon.stopped')).toMatchObject({ aborted: 0, finished: 1, clean: true });
    expect(logs.find((l) => l.event === 'backup.end')).toMatchObject({ result: 'success', target: 'big' });
    const keys = await s3Keys(s3, prefix);
    expect(keys.filter((k) => k.endsWith('/manifest.json'))).toHaveLength(1);
    expect(keys.filter((k) => k.endsWith('/dump.pgcustom.gz'))).toHaveLength(1);
  });
});
