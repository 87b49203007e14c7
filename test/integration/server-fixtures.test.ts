// The harness's two ways to run the test servers, behind one fixture API: local processes, and containers
// started with testcontainers on a Docker engine. Each carries a PostgreSQL backup to S3 and a point-in-time
// restore, so both are known to work whichever one the rest of the suite runs on.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, writeConfig } from '../harness/cli.js';
import type { ContainerPlace } from '../harness/containers.js';
import { type S3Server, startMinio } from '../harness/minio.js';
import { type PostgresServer, pgClient, startPostgres } from '../harness/postgres.js';
import { randomPrefix, s3Keys, s3StorageConfig } from '../harness/s3.js';

const docker = inject('docker');

const places: [string, (image: 'postgres' | 'minio') => ContainerPlace | undefined][] = [
  ['local processes', () => undefined],
  ['containers (testcontainers)', (image) => ({ engine: docker.engine, image: docker.images[image] })],
];

describe.each(places)('server fixtures: %s', { timeout: 180_000 }, (_name, place) => {
  let pg: PostgresServer;
  let s3: S3Server;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const postgres = await startPostgres(place('postgres'));
    stops.push(postgres.stop);
    const minio = await startMinio(place('minio'));
    stops.push(minio.stop);
    pg = postgres.server;
    s3 = minio.server;
  }, 180_000);

  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  async function sql(text: string): Promise<{ rows: Record<string, unknown>[] }> {
    const client = await pgClient(pg);
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  }

  it('backs up PostgreSQL to S3 and restores the older of two backups by point in time', async () => {
    await sql('CREATE TABLE notes (id int PRIMARY KEY, body text)');
    await sql("INSERT INTO notes SELECT g, 'first ' || g FROM generate_series(1, 500) g");
    const prefix = randomPrefix('fixtures');
    const { dir, path } = await writeConfig({
      storage: s3StorageConfig(s3, prefix),
      targets: [
        {
          name: 'app',
          driver: 'postgres',
          url: `postgres://${pg.user}@${pg.host}:${pg.port}/postgres`,
          passwordFile: './pg_password',
        },
      ],
    });
    await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    await writeFile(join(dir, 'pg_password'), `${pg.password}\n`);

    const first = await runCli(['--config', path, 'backup', 'app']);
    expect(first.code, first.stderr).toBe(0);
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await sql("UPDATE notes SET body = 'second' WHERE id <= 250");
    const second = await runCli(['--config', path, 'backup', 'app']);
    expect(second.code, second.stderr).toBe(0);
    expect(await s3Keys(s3, prefix)).toHaveLength(4); // two dumps, two manifests

    await sql('CREATE DATABASE restored');
    const restore = await runCli([
      '--config',
      path,
      'restore',
      'app',
      '--point-in-time',
      between,
      '--to',
      `postgres://${pg.user}@${pg.host}:${pg.port}/restored`,
    ]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(first.stdout.split('\t')[0]);
    const client = await pgClient(pg, 'restored');
    try {
      const rows = await client.query(
        'SELECT count(*)::int AS n, count(*) FILTER (WHERE body LIKE $1)::int AS f FROM notes',
        ['first %'],
      );
      expect(rows.rows[0]).toEqual({ n: 500, f: 500 });
    } finally {
      await client.end();
    }
  });
});
