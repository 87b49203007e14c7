// Compression through the CLI: gzip and zstd backups are read back by the plain `gunzip` and `zstd -d`,
// restored row for row (a SQLite file in a folder, a PostgreSQL database through MinIO), and a zstd backup
// to S3 interrupted mid-upload leaves no object and no multipart upload behind; an upload rate limit holds.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { describe, expect, inject, it } from 'vitest';
import { logLines, runCli, startCli, writeConfig } from '../harness/cli.js';
import { createDatabase, createTableDatabase, pgClient, postgresTarget } from '../harness/postgres.js';
import { randomPrefix, s3Client, s3Keys, s3StorageInline } from '../harness/s3.js';

const pg = inject('postgres');
const s3 = inject('s3');

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface Manifest {
  id: string;
  artifacts: { key: string; compression: string; rawSha256: string; rawSize: number }[];
}

function fill(path: string, rows: number): void {
  const db = new Database(path);
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
  const insert = db.prepare("INSERT INTO notes (body) VALUES (hex(randomblob(40)) || ' note ' || ?)");
  db.transaction(() => {
    for (let i = 0; i < rows; i += 1) insert.run(i);
  })();
  db.close();
}

function count(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return Number(db.prepare('SELECT count(*) FROM notes').pluck().get());
  } finally {
    db.close();
  }
}

describe('compressed backups', () => {
  it('gzip and zstd backups of a SQLite file open with gunzip and zstd -d, and restore', async () => {
    for (const [algorithm, tool, suffix] of [
      ['gzip', ['gunzip', '-c'], '.gz'],
      ['zstd', ['zstd', '-d', '-c', '-q'], '.zst'],
    ] as const) {
      const { dir, path } = await writeConfig({
        storage: { type: 'local', path: './store' },
        // Small blocks of work for both threads: a few MB make many gzip members or zstd frames.
        targets: [
          { name: 'app', driver: 'sqlite', path: './app.db', compression: { algorithm, level: 3, threads: 2 } },
        ],
      });
      fill(join(dir, 'app.db'), 40_000);
      const backup = await runCli(['--config', path, 'backup']);
      expect(backup.code, backup.stderr).toBe(0);
      const [manifest] = JSON.parse((await runCli(['--config', path, 'list', 'app', '--json'])).stdout) as Manifest[];
      const artifact = manifest?.artifacts[0];
      expect(artifact?.compression).toBe(algorithm);
      expect(artifact?.key.endsWith(`database.sqlite3${suffix}`)).toBe(true);
      const stored = join(dir, 'store', artifact?.key ?? '');
      const opened = spawnSync(tool[0], [...tool.slice(1), stored], { maxBuffer: 256 * 2 ** 20 });
      expect(opened.status, `${tool[0]}: ${opened.stderr}`).toBe(0);
      expect(opened.stdout.length).toBe(artifact?.rawSize);
      expect(sha256(opened.stdout)).toBe(artifact?.rawSha256);
      expect((await runCli(['--config', path, 'verify', 'app'])).code).toBe(0);
      const to = join(dir, 'restored.db');
      const restored = await runCli(['--config', path, 'restore', 'app', '--to', to]);
      expect(restored.code, restored.stderr).toBe(0);
      expect(count(to)).toBe(40_000);
    }
  });

  it('a zstd backup of PostgreSQL to S3 restores into a new database, and `none` stores the dump as it is', async () => {
    const database = await createTableDatabase(pg, 'zstd', 20_000);
    for (const algorithm of ['zstd', 'none'] as const) {
      const prefix = randomPrefix('compression');
      const { path } = await writeConfig({
        storage: s3StorageInline(s3, prefix),
        targets: [postgresTarget(pg, database, { name: 'db', compression: { algorithm } })],
      });
      const backup = await runCli(['--config', path, 'backup']);
      expect(backup.code, backup.stderr).toBe(0);
      const [manifest] = JSON.parse((await runCli(['--config', path, 'list', 'db', '--json'])).stdout) as Manifest[];
      expect(manifest?.artifacts[0]?.compression).toBe(algorithm);
      expect(await s3Keys(s3, prefix)).toContain(
        `${prefix}db/${manifest?.id}/dump.pgcustom${algorithm === 'zstd' ? '.zst' : ''}`,
      );
      const scratch = await createDatabase(pg, 'restored');
      const to = `postgres://${pg.user}@${pg.host}:${pg.port}/${scratch}`;
      const restored = await runCli(['--config', path, 'restore', 'db', '--to', to]);
      expect(restored.code, restored.stderr).toBe(0);
      const client = await pgClient(pg, scratch);
      const rows = await client.query('SELECT count(*)::int AS n, sum(id)::bigint AS s FROM t');
      await client.end();
      expect(rows.rows[0]).toEqual({ n: 20_000, s: String((20_000 * 20_001) / 2) });
    }
  });

  it('SIGTERM during a zstd upload to S3 leaves no object and no multipart upload', async () => {
    const database = await createTableDatabase(pg, 'zstd_abort', 400_000);
    const prefix = randomPrefix('compression-abort');
    const { path } = await writeConfig({
      storage: { ...s3StorageInline(s3, prefix), partSizeMiB: 5 },
      targets: [
        postgresTarget(pg, database, {
          name: 'db',
          compression: { algorithm: 'zstd', level: 1 },
          // Slow enough to be caught half way.
          rateLimit: { upload: '1MiB' },
        }),
      ],
    });
    const running = startCli(['--config', path, 'backup']);
    // The backup's id from its first log line; MinIO lists multipart uploads by their whole key.
    const id = await new Promise<string>((resolve) => {
      let seen = '';
      running.child.stderr?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const line = seen.split('\n').find((l) => l.includes('"event":"backup.start"'));
        const found = line?.match(/"id":"([^"]+)"/)?.[1];
        if (found !== undefined) resolve(found);
      });
    });
    const key = `${prefix}db/${id}/dump.pgcustom.zst`;
    const client = s3Client(s3);
    try {
      const uploads = async () =>
        (await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: key }))).Uploads ?? [];
      await expect.poll(async () => (await uploads()).length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
      running.child.kill('SIGTERM');
      const result = await running.result;
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('interrupted (received SIGTERM)');
      expect(await s3Keys(s3, prefix)).toEqual([]);
      expect(await uploads()).toEqual([]);
    } finally {
      client.destroy();
    }
  });

  it('a rate limit on uploads holds to S3: the upload takes at least its bytes over the rate, less one burst', async () => {
    const rate = 2 * 2 ** 20;
    const { dir, path } = await writeConfig({
      storage: s3StorageInline(s3, randomPrefix('limited')),
      targets: [
        {
          name: 'app',
          driver: 'sqlite',
          path: './app.db',
          compression: { algorithm: 'none' },
          rateLimit: { upload: '2MiB' },
        },
      ],
    });
    fill(join(dir, 'app.db'), 60_000);
    const backup = await runCli(['--config', path, 'backup']);
    expect(backup.code, backup.stderr).toBe(0);
    const end = logLines(backup.stderr).find((line) => line.event === 'backup.end') as {
      bytes: number;
      uploadMs: number;
      durationMs: number;
    };
    expect(end.bytes).toBeGreaterThan((5 * rate) / 2);
    // The bucket lets a quarter second's worth through at once (RateBucket), then spaces the rest at the rate.
    expect(end.uploadMs).toBeGreaterThanOrEqual(((end.bytes - rate / 4) / rate) * 1000);
    expect(end.uploadMs).toBeLessThanOrEqual(end.durationMs);
  });
});
