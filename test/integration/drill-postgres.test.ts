// Drills of a real PostgreSQL database from a real S3 server: restore into lifeboat_drill_<id>, compare with the
// manifest, run SQL checks, drop the scratch database whatever happens; a restore that fails; refused configs.
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createStorage } from '../../src/storage/create-storage.js';
import { listDrills } from '../../src/verify/drill-record.js';
import { drillJson, runCli, writeConfig } from '../harness/cli.js';
import { plantBackup } from '../harness/plant.js';
import { createDatabase, pgClient } from '../harness/postgres.js';
import { randomPrefix, s3StorageConfig } from '../harness/s3.js';

const pg = inject('postgres');
const s3 = inject('s3');

async function configFor(database: string, drill: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const { dir, path } = await writeConfig({
    storage: s3StorageConfig(s3, randomPrefix('drill')),
    targets: [
      {
        name: 'app-db',
        driver: 'postgres',
        url: `postgres://${pg.user}@${pg.host}:${pg.port}/${database}`,
        passwordFile: './pg_password',
        drill,
        ...extra,
      },
    ],
  });
  await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
  await writeFile(join(dir, 'pg_password'), `${pg.password}\n`);
  return path;
}

/**
 * The scratch databases of this file's drills (target app-db) left on the server. Other files drill their own
 * targets on the same server at the same time: theirs are not this file's to count.
 */
async function scratchDatabases(): Promise<string[]> {
  const client = await pgClient(pg);
  try {
    const result = await client.query("SELECT datname FROM pg_database WHERE datname LIKE 'lifeboat_drill_app_db_%'");
    return result.rows.map((r: { datname: string }) => r.datname);
  } finally {
    await client.end();
  }
}

describe('drills of PostgreSQL targets (S3 storage)', () => {
  let database: string;

  beforeAll(async () => {
    database = await createDatabase(pg, 'drill');
    const client = await pgClient(pg, database);
    try {
      await client.query(`
        CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, profile jsonb);
        CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), total numeric(10,2));
        CREATE SCHEMA audit; CREATE TABLE audit.events (at timestamptz DEFAULT now(), what text);
        INSERT INTO users (name, profile) SELECT 'u' || g, jsonb_build_object('g', g) FROM generate_series(1, 1500) g;
        INSERT INTO orders (user_id, total) SELECT 1 + g % 1500, g * 0.5 FROM generate_series(1, 4000) g;
        INSERT INTO audit.events (what) SELECT 'e' || g FROM generate_series(1, 30) g;`);
    } finally {
      await client.end();
    }
  });

  it('restores into a scratch database, matches the manifest, runs the checks and drops the scratch', async () => {
    const path = await configFor(database, {
      objectives: { rpo: '1h', rto: '10m' },
      checks: [
        { name: 'users present', sql: 'SELECT count(*) FROM users', expect: '>= 1000' },
        { name: 'orders complete', sql: 'SELECT count(*) FROM orders', expect: '= manifest' },
        { name: 'audit complete', sql: 'SELECT count(*) FROM audit.events', expect: '= manifest' },
        { name: 'revenue', sql: 'SELECT sum(total) FROM orders', expect: '= 4001000' },
      ],
    });
    expect((await runCli(['--config', path, 'backup'])).code).toBe(0);
    const { code, record } = await drillJson(path);
    expect(code).toBe(0);
    expect(record.ok).toBe(true);
    expect(record.checks.map((c) => `${c.name}: ${c.message}`)).toEqual([
      'checksums: stored and raw size and SHA-256 match the manifest',
      // The scratch database is empty: by default psql sessions load it, one a core (at most 4).
      `integrity: pg_restore (schema, indexes) and ${Math.min(4, availableParallelism())} psql sessions (data) finished without errors`,
      'row counts: 3 tables, row counts equal the manifest (5530 rows)',
      'users present: 1500 >= 1000',
      'orders complete: 4000 = 4000 (manifest)',
      'audit complete: 30 = 30 (manifest)',
      'revenue: 4001000 = 4001000',
    ]);
    expect(record.scratch.description).toMatch(
      new RegExp(`^scratch database ${pg.user}@${pg.host}:${pg.port}/lifeboat_drill_app_db_[0-9a-f]{6}$`),
    );
    expect(record.scratch.cleanedUp).toBe(true);
    expect(await scratchDatabases()).toEqual([]);
    expect(record.timings.restore).toBeGreaterThan(0);
    expect(record.verdicts).toEqual({ rpo: 'pass', rto: 'pass' });
  });

  it('names pg_restore alone as the loader when restoreJobs is 1', async () => {
    const path = await configFor(database, {}, { restoreJobs: 1 });
    expect((await runCli(['--config', path, 'backup'])).code).toBe(0);
    const { code, record } = await drillJson(path);
    expect(code).toBe(0);
    expect(record.checks.find((c) => c.name === 'integrity')?.message).toBe('pg_restore finished without errors');
  });

  it('fails a drill whose restore fails, names the cause, and still drops the scratch database', async () => {
    const path = await configFor(database, {});
    const storage = await createStorage(loadConfig(path).storage);
    await plantBackup(storage, {
      target: 'app-db',
      driver: 'postgres',
      fileName: 'dump.pgcustom',
      format: 'pg_dump-custom',
      raw: Buffer.from('PGDMP but not really a custom-format archive\n'.repeat(100)),
    });
    const { code, record } = await drillJson(path);
    expect(code).toBe(1);
    expect(record.failure?.stage).toBe('restore');
    expect(record.failure?.message).toMatch(
      /pg_restore failed \(exit code 1\): .*(not a valid archive|unsupported version|did not find magic string)/s,
    );
    expect(record.scratch.cleanedUp).toBe(true);
    expect(await scratchDatabases()).toEqual([]);
  });

  it('fails a drill whose check fails, naming the check', async () => {
    const path = await configFor(database, {
      checks: [{ name: 'no big spenders', sql: 'SELECT count(*) FROM orders WHERE total > 100', expect: '= 0' }],
    });
    await runCli(['--config', path, 'backup']);
    const { code, record } = await drillJson(path);
    expect(code).toBe(1);
    expect(record.failure).toEqual({
      stage: 'checks',
      message: 'check no big spenders failed: got 3800, expected = 0',
    });
    expect(await scratchDatabases()).toEqual([]);
  });

  it('fails a drill whose user may not create the scratch database, naming the database and the server', async () => {
    const role = `nocreate_${Math.random().toString(36).slice(2, 8)}`;
    const admin = await pgClient(pg);
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN NOCREATEDB PASSWORD '${pg.password}'`);
    } finally {
      await admin.end();
    }
    const path = await configFor(database, { to: `postgres://${role}@${pg.host}:${pg.port}/postgres` });
    expect((await runCli(['--config', path, 'backup'])).code).toBe(0);
    const result = await runCli(['--config', path, 'drill']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`create scratch database lifeboat_drill_app_db_`);
    expect(result.stderr).toContain(`on ${role}@${pg.host}:${pg.port}/postgres: permission denied to create database`);
    // What to try travels with the failure: printed, and kept in the stored record.
    const hint = 'the drill user needs CREATEDB on that server (or set drill.to to another server)';
    expect(result.stdout).toContain(`drill FAILED at restore: `);
    expect(result.stdout).toContain(`  Try: ${hint}\n`);
    const [stored] = await listDrills(await createStorage(loadConfig(path).storage), 'app-db');
    expect(stored?.failure).toMatchObject({ stage: 'restore', hint });
    expect(await scratchDatabases()).toEqual([]);
  });

  it('refuses a drill destination that is the live database', async () => {
    const path = await configFor(database, { to: `postgres://${pg.user}@${pg.host}:${pg.port}/${database}` });
    const result = await runCli(['--config', path, 'drill']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`targets[0].drill.to: is the live database "${database}"`);
  });
});
