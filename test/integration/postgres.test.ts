// PostgreSQL end to end through the CLI against a real server and a real S3-compatible store.
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, startCli, writeConfig } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { createDatabase, pgClient } from '../harness/postgres.js';
import { randomPrefix, s3Keys, s3StorageConfig } from '../harness/s3.js';

const pg = inject('postgres');
const s3 = inject('s3');

const SCHEMA = `
  CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, born date, vip boolean, profile jsonb);
  CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers(id), total numeric(12,2),
                       placed timestamptz NOT NULL, note text, tags text[]);
  CREATE SCHEMA audit;
  CREATE TABLE audit.events (at timestamptz, what text);`;

async function snapshot(database: string): Promise<Record<string, unknown[]>> {
  const client = await pgClient(pg, database);
  try {
    const out: Record<string, unknown[]> = {};
    for (const table of ['customers', 'orders', 'audit.events']) {
      out[table] = (await client.query(`SELECT * FROM ${table} ORDER BY 1, 2`)).rows;
    }
    return out;
  } finally {
    await client.end();
  }
}

async function sql(database: string, text: string): Promise<void> {
  const client = await pgClient(pg, database);
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * Terminates the session of `database` whose application name is like `application` once it runs a COPY
 * (within 30 s); how many it terminated.
 */
async function terminateCopy(application: string, database: string): Promise<number> {
  const client = await pgClient(pg);
  try {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const result = await client.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 AND query LIKE 'COPY %' AND datname = $2",
        [application, database],
      );
      if ((result.rowCount ?? 0) > 0) return result.rowCount ?? 0;
    }
    return 0;
  } finally {
    await client.end();
  }
}

function url(database: string, password?: string): string {
  return `postgres://${pg.user}${password === undefined ? '' : `:${password}`}@${pg.host}:${pg.port}/${database}`;
}

async function configFor(database: string, extra: Record<string, unknown> = {}) {
  const prefix = randomPrefix();
  const { dir, path } = await writeConfig({
    storage: s3StorageConfig(s3, prefix),
    targets: [{ name: 'app-db', driver: 'postgres', url: url(database), passwordFile: './pg_password', ...extra }],
  });
  await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
  await writeFile(join(dir, 'pg_password'), `${pg.password}\n`);
  return { dir, path, prefix };
}

describe('postgres backups to S3 through the CLI', () => {
  let database: string;
  let config: string;
  let prefix: string;
  let bigDatabase: string;

  beforeAll(async () => {
    bigDatabase = await createDatabase(pg, 'big');
    // Large enough (about 90 MB of dump) that a backup is still running when the tests interrupt it.
    await sql(
      bigDatabase,
      `CREATE TABLE blob AS SELECT g AS id, md5(g::text) || repeat(md5((g * 7)::text), 6) AS payload FROM generate_series(1, 400000) g`,
    );
    database = await createDatabase(pg, 'app');
    ({ path: config, prefix } = await configFor(database));
    await sql(database, SCHEMA);
  });

  it('backs up several states and restores each by point in time, row for row', async () => {
    const states: { id: string; at: string; data: Record<string, unknown[]> }[] = [];
    for (let round = 0; round < 3; round += 1) {
      await sql(
        database,
        `INSERT INTO customers (name, born, vip, profile)
           SELECT 'customer ' || g || ' r${round}', date '1980-01-01' + g, g % 2 = 0, jsonb_build_object('round', ${round}, 'g', g)
           FROM generate_series(1, 200) g;
         INSERT INTO orders (customer, total, placed, note, tags)
           SELECT (SELECT max(id) FROM customers) - (g % 200), g * 1.25, timestamptz '2026-01-01' + g * interval '1 minute',
                  repeat('x', g % 50), ARRAY['t' || (g % 3), 'round${round}']
           FROM generate_series(1, 2000) g;
         UPDATE customers SET vip = NOT vip WHERE id % 7 = ${round};
         DELETE FROM orders WHERE id % 11 = ${round};
         INSERT INTO audit.events VALUES (now(), 'round ${round}');`,
      );
      const result = await runCli(['--config', config, 'backup', 'app-db']);
      expect(result.code, result.stderr).toBe(0);
      const id = result.stdout.split('\t')[0] as string;
      states.push({ id, at: new Date().toISOString(), data: await snapshot(database) });
      await new Promise((r) => setTimeout(r, 1100));
    }
    const keys = await s3Keys(s3, `${prefix}app-db/`);
    for (const state of states) {
      expect(keys).toContain(`${prefix}app-db/${state.id}/manifest.json`);
      expect(keys).toContain(`${prefix}app-db/${state.id}/dump.pgcustom.gz`);
    }
    const list = JSON.parse((await runCli(['--config', config, 'list', '--json'])).stdout) as {
      id: string;
      stats: { tables: { name: string; rows: number }[] };
      source: { database: string };
    }[];
    expect(list.map((m) => m.id)).toEqual(states.map((s) => s.id).reverse());
    expect(list[0]?.source.database).toBe(database);
    expect(list[0]?.stats.tables.find((t) => t.name === 'public.customers')?.rows).toBe(600);

    for (const state of states) {
      const scratch = await createDatabase(pg, 'restore');
      const restored = await runCli([
        '--config',
        config,
        'restore',
        'app-db',
        '--point-in-time',
        state.at,
        '--to',
        url(scratch),
      ]);
      expect(restored.code, restored.stderr).toBe(0);
      expect(restored.stdout).toContain(`backup:      ${state.id}`);
      expect(await snapshot(scratch)).toEqual(state.data);
    }

    // Back into the live target: refused without --force, replaced with it.
    const refused = await runCli(['--config', config, 'restore', 'app-db', '--backup', states[0]?.id ?? '']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`destination postgres@${pg.host}:${pg.port}/${database} holds data`);
    const forced = await runCli(['--config', config, 'restore', 'app-db', '--backup', states[0]?.id ?? '', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await snapshot(database)).toEqual(states[0]?.data);
    expect((await runCli(['--config', config, 'verify', 'app-db', '--all'])).code).toBe(0);
  });

  it('restores a plain-SQL-format backup, in one transaction and with parallel jobs', async () => {
    for (const extra of [{ format: 'plain' }, { restoreJobs: 1 }, { restoreJobs: 2 }]) {
      const { path } = await configFor(database, extra);
      const backup = await runCli(['--config', path, 'backup']);
      expect(backup.code, backup.stderr).toBe(0);
      const scratch = await createDatabase(pg, 'restore');
      const restored = await runCli(['--config', path, 'restore', 'app-db', '--to', url(scratch)]);
      expect(restored.code, restored.stderr).toBe(0);
      expect(await snapshot(scratch)).toEqual(await snapshot(database));
    }
  });

  it('a pg_dump whose connection is lost half way leaves no manifest and no partial objects, and says why', async () => {
    const { path, prefix: failPrefix } = await configFor(bigDatabase);
    const running = startCli(['--config', path, 'backup', 'app-db']);
    // This test's dump only: other test files dump from the same server at the same time.
    expect(await terminateCopy('lifeboat', bigDatabase)).toBe(1);
    const result = await running.result;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      // libpq reports the killed connection either way, depending on when pg_dump next reads from it.
      /Error: backup app-db: (dump|upload): postgres: pg_dump failed \(exit code 1\): .*(terminating connection due to administrator command|server closed the connection unexpectedly)/s,
    );
    expect(await s3Keys(s3, failPrefix)).toEqual([]);
  });

  it('a pg_restore whose connection is lost half way says that pg_restore failed and why', async () => {
    // restoreJobs 1: pg_restore itself loads (by default psql sessions load an empty destination).
    const { path } = await configFor(bigDatabase, { compression: { algorithm: 'none' }, restoreJobs: 1 });
    const backup = await runCli(['--config', path, 'backup', 'app-db']);
    expect(backup.code, backup.stderr).toBe(0);
    const scratch = await createDatabase(pg, 'killed');
    const running = startCli(['--config', path, 'restore', 'app-db', '--to', url(scratch)]);
    expect(await terminateCopy('lifeboat-restore-%', scratch)).toBe(1);
    const result = await running.result;
    expect(result.code).toBe(1);
    // The cause is pg_restore's lost connection, not the broken pipe into it that followed.
    expect(result.stderr).toMatch(
      /pg_restore failed \(exit code 1\): .*(terminating connection due to administrator command|server closed the connection unexpectedly)/s,
    );
    expect(result.stderr).not.toContain('EPIPE');
    // One transaction: nothing of the cut restore stays.
    const check = await pgClient(pg, scratch);
    try {
      expect((await check.query("SELECT to_regclass('public.blob') AS t")).rows[0].t).toBeNull();
    } finally {
      await check.end();
    }
  });

  it('SIGTERM half way through a backup aborts it cleanly: no objects, no pg_dump left', async () => {
    const big = bigDatabase;
    const { dir, path } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'big', driver: 'postgres', url: url(big, pg.password) }],
    });
    const running = startCli(['--config', path, 'backup', 'big']);
    const store = join(dir, 'store');
    const deadline = Date.now() + 30_000;
    // Wait until bytes are being written to the store, then interrupt.
    while (Date.now() < deadline) {
      const partial = (() => {
        try {
          return readdirSync(store, { recursive: true }).some((f) => String(f).includes('.lifeboat-tmp-'));
        } catch {
          return false;
        }
      })();
      if (partial) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    running.child.kill('SIGTERM');
    const result = await running.result;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('interrupted (received SIGTERM)');
    expect(
      readdirSync(store, { recursive: true }).filter((f) => !String(f).match(/^big(\/\d{8}T\d{6}Z-[0-9a-f]{6})?$/)),
    ).toEqual([]);
    const client = await pgClient(pg);
    try {
      await expect
        .poll(
          async () =>
            (
              await client.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'lifeboat' AND datname = $1",
                [big],
              )
            ).rows[0].n,
          { timeout: 10_000 },
        )
        .toBe(0);
    } finally {
      await client.end();
    }
  });

  it('a table locked by another session fails the backup after lockTimeoutSeconds, naming the table', async () => {
    const { path, prefix: lockPrefix } = await configFor(database, { lockTimeoutSeconds: 1 });
    const blocker = await pgClient(pg, database);
    try {
      await blocker.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
      const result = await runCli(['--config', path, 'backup', 'app-db']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        'Error: backup app-db: dump: postgres: lock public.orders: table lock not granted within 1 s',
      );
      expect(result.stderr).toContain('Try: another session holds a conflicting lock');
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    expect(await s3Keys(s3, lockPrefix)).toEqual([]);
  });

  it('a store that refuses (wrong S3 secret, missing bucket) fails the backup with the cause and a hint', async () => {
    const { path: badSecret, dir } = await configFor(database);
    await writeFile(join(dir, 's3_secret'), 'not-the-secret\n');
    const refused = await runCli(['--config', badSecret, 'backup']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      // The first write to the store is the target's lease: it fails before anything is dumped.
      /Error: backup app-db: lease: storage: write app-db\/lease\.json at s3:\/\/lifeboat-test\/it-\w+\/: SignatureDoesNotMatch/,
    );
    expect(refused.stderr).toContain('Try: check storage.accessKeyId and the secret key');
    expect(refused.stderr + refused.stdout).not.toContain('not-the-secret');

    const { path: noBucket } = await writeConfig({
      storage: {
        type: 's3',
        bucket: 'no-such-bucket',
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      },
      targets: [{ name: 'app-db', driver: 'postgres', url: url(database, pg.password) }],
    });
    const missing = await runCli(['--config', noBucket, 'backup']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NoSuchBucket');
    expect(missing.stderr).toContain('Try: create the bucket "no-such-bucket" or fix storage.bucket');
  });

  it('a wrong password and an unreachable server give clear errors', async () => {
    const { path: wrong, dir } = await configFor(database);
    await writeFile(join(dir, 'pg_password'), 'not-the-password\n');
    const denied = await runCli(['--config', wrong, 'backup']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(
      `Error: backup app-db: dump: postgres: connect to postgres@${pg.host}:${pg.port}/${database}: password authentication failed for user "postgres"`,
    );
    expect(denied.stderr).toContain('Try: check the password (passwordFile) and user of this target');
    expect(denied.stderr + denied.stdout).not.toContain('not-the-password');

    const closedPort = await freePort();
    const { path: unreachable } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [
        { name: 'app-db', driver: 'postgres', host: '127.0.0.1', port: closedPort, user: 'postgres', database: 'x' },
      ],
    });
    const down = await runCli(['--config', unreachable, 'backup']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(
      `postgres: connect to postgres@127.0.0.1:${closedPort}/x: server unreachable (ECONNREFUSED)`,
    );
  });

  it('a missing pg_dump fails the backup naming it and binDir, with the server up or down, and stores nothing', async () => {
    const binDir = '/nonexistent/lifeboat-no-tools';
    const target = { name: 'app-db', driver: 'postgres', user: pg.user, password: pg.password, database, binDir };
    const closedPort = await freePort();
    for (const [host, port] of [
      [pg.host, pg.port],
      ['127.0.0.1', closedPort],
    ] as const) {
      const { path } = await writeConfig({
        storage: { type: 'local', path: './store' },
        targets: [{ ...target, host, port }],
      });
      const result = await runCli(['--config', path, 'backup']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `Error: backup app-db: dump: postgres: run ${join(binDir, 'pg_dump')}: not found`,
      );
      expect(result.stderr).toContain('Try: install pg_dump (Debian: apt-get install postgresql-client) or set binDir');
      expect(result.stderr).not.toContain(pg.password);
      const list = await runCli(['--config', path, 'list', '--json']);
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout)).toEqual([]);
    }
  });
});
