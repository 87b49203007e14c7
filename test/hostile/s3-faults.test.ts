// Hostile network: a fault-injecting proxy in front of the real MinIO resets, stalls and cuts connections in
// the middle of backups and restores of real SQLite files and a real PostgreSQL database.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, startCli, writeConfig } from '../harness/cli.js';
import { standInBinDir } from '../harness/pg-stand-in.js';
import { createDatabase, pgClient, postgresTarget } from '../harness/postgres.js';
import { randomPrefix, s3Keys } from '../harness/s3.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { noStackTrace, randomDatabase, waitForCondition, waitForLine } from './hostile-support.js';

const s3 = inject('s3');
const pg = inject('postgres');

function storage(endpoint: string, prefix: string, extra: Record<string, unknown> = {}) {
  return {
    type: 's3',
    bucket: s3.bucket,
    prefix,
    endpoint,
    region: s3.region,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKeyFile: './s3_secret',
    // Small parts and one in flight: a failure of the store stops the upload while the source still flows.
    partSizeMiB: 5,
    queueSize: 1,
    idleTimeout: '3s',
    ...extra,
  };
}

/** Changes the raw SHA-256 in the manifest of the only backup under `folder`; returns its id. */
function spoilRawSha(folder: string): string {
  const [id] = readdirSync(folder);
  const file = join(folder, id as string, 'manifest.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8'));
  const raw: string = manifest.artifacts[0].rawSha256;
  manifest.artifacts[0].rawSha256 = `${raw[0] === 'a' ? 'b' : 'a'}${raw.slice(1)}`;
  writeFileSync(file, JSON.stringify(manifest));
  return id as string;
}

/** A restore that failed on the network: exit 1, told as a read failure (not damage), with what it left. */
function expectNetworkFailure(code: number | null, stderr: string, state: string): void {
  expect(code).toBe(1);
  expect(stderr).toContain('could not read backup');
  expect(stderr).toContain(state);
  expect(stderr).toContain('Try: the backup is not known to be damaged');
  expect(stderr).not.toContain('failed verification');
}

async function config(content: Record<string, unknown>) {
  const written = await writeConfig(content);
  await writeFile(join(written.dir, 's3_secret'), `${s3.secretAccessKey}\n`);
  return written;
}

function storedSize(stdout: string): number {
  const [manifest] = JSON.parse(stdout) as { artifacts: { size: number }[] }[];
  return manifest?.artifacts[0]?.size ?? 0;
}

describe('S3 failures that tell the truth and restores that survive the network', () => {
  let proxy: FaultProxy;
  let dir: string;
  let path: string;
  let live: string;
  let size: number;
  const prefix = randomPrefix('hostile');

  beforeAll(async () => {
    const endpoint = new URL(s3.endpoint);
    proxy = await startFaultProxy(endpoint.hostname, Number(endpoint.port));
    ({ dir, path } = await config({
      storage: storage(proxy.url, prefix),
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db' }],
    }));
    live = join(dir, 'app.db');
    randomDatabase(live, 12_000);
    const backup = await runCli(['--config', path, 'backup', 'app', '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    size = storedSize(backup.stdout);
    expect(size).toBeGreaterThan(10 * 1024 * 1024);
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it('reports the real cause of a failed upload, with what to try (finding 5)', async () => {
    const cases: [Record<string, unknown>, RegExp, string][] = [
      [{ accessKeyId: 'nobody' }, /InvalidAccessKeyId/, 'Try: check storage.accessKeyId and the secret key'],
      [{ bucket: 'no-such-bucket-here' }, /NoSuchBucket/, 'Try: create the bucket "no-such-bucket-here"'],
      [{ endpoint: 'http://127.0.0.1:1' }, /ECONNREFUSED/, 'Try: nothing answers at http://127.0.0.1:1'],
    ];
    for (const [override, cause, hint] of cases) {
      const { path: bad } = await config({
        storage: storage(proxy.url, randomPrefix('hostile'), override),
        targets: [{ name: 'app', driver: 'sqlite', path: live }],
      });
      const result = await runCli(['--config', bad, 'backup', 'app']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(cause);
      expect(result.stderr).toContain(hint);
      expect(result.stderr).not.toContain('The operation was aborted');
      noStackTrace(result.stderr);
    }
    // The server goes away in the middle of the upload.
    proxy.setFault({ kind: 'reset', direction: 'up', bytes: 3 * 1024 * 1024, once: true });
    const cut = await runCli(['--config', path, 'backup', 'app']);
    proxy.setFault({ kind: 'none' });
    if (cut.code !== 0) {
      // The SDK retries a part once the connection is back; when it gives up, the cause is named.
      expect(cut.stderr).toMatch(/ECONNRESET|socket hang up|aborted/);
      expect(cut.stderr).toContain('the connection to');
      expect(cut.stderr).not.toContain('The operation was aborted');
    }
    expect(proxy.injected()).toBeGreaterThan(0);
  });

  it('says a broken download in the first pass is a network failure, not a damaged backup (finding 6)', async () => {
    // A destination that holds data: the checksum pass comes first.
    const to = join(dir, 'first-pass.db');
    randomDatabase(to, 10);
    const before = readFileSync(to);
    proxy.setFault({ kind: 'reset', direction: 'down', bytes: Math.floor(size / 2) });
    const result = await runCli(['--config', path, 'restore', 'app', '--to', to, '--force']);
    proxy.setFault({ kind: 'none' });
    expectNetworkFailure(result.code, result.stderr, 'destination untouched');
    expect(readFileSync(to).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('lifeboat-restore'))).toEqual([]);
  });

  it('says a broken download in the one pass into a new file is a network failure, and leaves no file', async () => {
    const to = join(dir, 'one-pass.db');
    proxy.setFault({ kind: 'reset', direction: 'down', bytes: Math.floor(size / 2) });
    const result = await runCli(['--config', path, 'restore', 'app', '--to', to]);
    proxy.setFault({ kind: 'none' });
    expectNetworkFailure(result.code, result.stderr, 'sqlite: nothing committed');
    expect(readdirSync(dir).filter((f) => f.startsWith('one-pass') || f.includes('lifeboat-restore'))).toEqual([]);
  });

  it('stops at once when the download breaks during the restore itself, leaving nothing behind (finding 2)', async () => {
    const to = join(dir, 'second-pass.db');
    randomDatabase(to, 10);
    const before = readFileSync(to);
    proxy.setFault({ kind: 'reset', direction: 'down', bytes: Math.floor(size * 1.5) });
    const started = Date.now();
    const result = await runCli(['--config', path, 'restore', 'app', '--to', to, '--force']);
    proxy.setFault({ kind: 'none' });
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(result.stderr).toContain('could not read backup');
    expect(readFileSync(to).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('lifeboat-restore'))).toEqual([]);
  });

  it('gives up on a stalled download after the idle timeout instead of hanging (finding 7)', async () => {
    // One stalled connection costs one range of the download, fetched again after the idle timeout.
    proxy.setFault({ kind: 'stall', bytes: Math.floor(size / 3) });
    let started = Date.now();
    const resumed = await runCli(['--config', path, 'restore', 'app', '--to', join(dir, 'resumed.db')]);
    expect(proxy.injected()).toBeGreaterThan(0);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    const restored = new Database(join(dir, 'resumed.db'), { readonly: true });
    expect(restored.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 12_000 });
    restored.close();
    // Every connection stalls: each range's tries time out, and the restore stops.
    proxy.setFault({ kind: 'stall', bytes: Math.floor(size / 3), persist: true });
    started = Date.now();
    const result = await runCli(['--config', path, 'restore', 'app', '--to', join(dir, 'stalled.db')]);
    proxy.setFault({ kind: 'none' });
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(result.stderr).toMatch(/timed out after 3000 ms of inactivity|no answer within 3000 ms/);
    expect(result.stderr).toContain('storage.idleTimeout');
    expect(existsSync(join(dir, 'stalled.db'))).toBe(false);
  });

  it('retries the read-back after upload when one connection breaks (finding 7)', async () => {
    proxy.setFault({ kind: 'reset', direction: 'down', bytes: Math.floor(size / 2), once: true });
    const result = await runCli(['--config', path, 'backup', 'app', '--json']);
    expect(proxy.injected()).toBeGreaterThan(0);
    expect(result.code, result.stderr).toBe(0);
    const verify = await runCli(['--config', path, 'verify', 'app']);
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('catches a byte changed on its way to the store by the read-back (parts go unsigned): fails, leaves nothing', async () => {
    const before = await runCli(['--config', path, 'list', 'app', '--json']);
    expect(before.code, before.stderr).toBe(0);
    const objectsBefore = await s3Keys(s3, prefix);
    proxy.setFault({ kind: 'flip', bytes: Math.floor(size / 2) });
    const result = await runCli(['--config', path, 'backup', 'app', '--json']);
    expect(proxy.injected()).toBeGreaterThan(0);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/backup app: confirm: .*stored SHA-256/);
    proxy.setFault({ kind: 'none' });
    const after = await runCli(['--config', path, 'list', 'app', '--json']);
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout));
    expect(await s3Keys(s3, prefix)).toEqual(objectsBefore);
  });
});

describe('PostgreSQL restores under faults', () => {
  let proxy: FaultProxy;
  let database: string;
  let path: string;
  let size: number;

  const query = async (text: string) => {
    const client = await pgClient(pg, database);
    try {
      return (await client.query(text)).rows;
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    const endpoint = new URL(s3.endpoint);
    proxy = await startFaultProxy(endpoint.hostname, Number(endpoint.port));
    database = await createDatabase(pg, 'hostile');
    await query(`CREATE TABLE t (id serial PRIMARY KEY, note text);
      INSERT INTO t (note) SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 200000) g`);
    // A binDir whose pg_dump records its environment, then runs the real one (finding 17).
    const bin = await standInBinDir((await writeConfig({})).dir, 'bin', 'env > "$BIN/pg_dump.env"; exec "$REAL" "$@"');
    ({ path } = await config({
      storage: {
        ...storage(proxy.url, randomPrefix('hostile-pg')),
        secretAccessKeyFile: undefined,
        secretAccessKey: '${LB_S3_SECRET}',
      },
      // A restore cut off by the proxy cannot release its lease through it either: a lease shorter than the
      // default frees the target for the next test sooner. Its renewals (every 10 s) come after the few
      // seconds a cut-off restore takes, so the proxy's reset hits the download, not a renewal.
      lease: { ttl: '30s' },
      targets: [postgresTarget(pg, database, { name: 'db', binDir: bin })],
    }));
    const backup = await runCli(['--config', path, 'backup', 'db', '--json'], {
      LB_S3_SECRET: s3.secretAccessKey,
      AWS_SECRET_ACCESS_KEY: 'aws-secret-from-the-environment',
    });
    expect(backup.code, backup.stderr).toBe(0);
    size = storedSize(backup.stdout);
    const env = readFileSync(join(bin, 'pg_dump.env'), 'utf8');
    expect(env).toContain('PGDATABASE=');
    expect(env).not.toContain(s3.secretAccessKey);
    expect(env).not.toContain('aws-secret-from-the-environment');
    expect(statSync(join(bin, 'pg_dump.env')).size).toBeGreaterThan(0);
  });

  afterAll(async () => {
    await proxy?.close();
  });

  const run = (args: string[]) => runCli(['--config', path, ...args], { LB_S3_SECRET: s3.secretAccessKey });

  it('rolls back and lets go of the live database when the download breaks mid-restore (finding 2)', async () => {
    await query("UPDATE t SET note = 'live' WHERE id <= 10");
    proxy.setFault({ kind: 'reset', direction: 'down', bytes: Math.floor(size * 1.5) });
    const result = await run(['restore', 'db', '--force']);
    proxy.setFault({ kind: 'none' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('could not read backup');
    expect(
      await query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'lifeboat-restore-%'"),
    ).toEqual([{ n: 0 }]);
    // Nothing committed, nothing locked: the live data answers at once.
    expect(await query("SELECT count(*)::int AS n FROM t WHERE note = 'live'")).toEqual([{ n: 10 }]);
  });

  it('checks the raw SHA-256 before anything is committed (finding 3)', async () => {
    const { dir: tdir, path: tpath } = await config({
      storage: { type: 'local', path: './store' },
      targets: [postgresTarget(pg, database, { name: 'db' })],
    });
    expect((await runCli(['--config', tpath, 'backup', 'db'])).code).toBe(0);
    await query("UPDATE t SET note = 'after' WHERE id <= 5");
    const id = spoilRawSha(join(tdir, 'store', 'db'));
    const result = await runCli(['--config', tpath, 'restore', 'db', '--force']);
    expect(result.stderr).toContain(`backup ${id} failed verification`);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('failed verification, destination untouched');
    expect(await query("SELECT count(*)::int AS n FROM t WHERE note = 'after'")).toEqual([{ n: 5 }]);
  });

  it('restores into a new empty database in one pass, and commits nothing when the raw SHA-256 differs', async () => {
    const { dir: tdir, path: tpath } = await config({
      storage: { type: 'local', path: './store' },
      targets: [postgresTarget(pg, database, { name: 'db' })],
    });
    expect((await runCli(['--config', tpath, 'backup', 'db'])).code).toBe(0);
    const empty = await createDatabase(pg, 'one_pass');
    const to = `postgres://${pg.user}:${pg.password}@${pg.host}:${pg.port}/${empty}`;
    const plan = await runCli(['--config', tpath, 'restore', 'db', '--to', to, '--dry-run', '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).verification).toBe('while restoring');
    const id = spoilRawSha(join(tdir, 'store', 'db'));
    const result = await runCli(['--config', tpath, 'restore', 'db', '--to', to]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`backup ${id} failed verification while restoring, postgres: nothing committed`);
    expect(result.stderr).toContain('raw SHA-256');
    const client = await pgClient(pg, empty);
    try {
      const tables = await client.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
      expect(tables.rows).toEqual([{ n: 0 }]);
    } finally {
      await client.end();
    }
  });

  it('says which session holds the lock it waits for, and gives up after --lock-timeout (finding 4)', {
    timeout: 120_000,
  }, async () => {
    await query("UPDATE t SET note = 'held' WHERE id <= 7");
    const holder = await pgClient(pg, database);
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT count(*) FROM t');
      const holderPid = Number((await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
      // The lease a cut-off restore of an earlier test could not release has expired (unlock answers 0).
      await waitForCondition(
        async () =>
          (await runCli(['--config', path, 'unlock', 'db', '--yes'], { LB_S3_SECRET: s3.secretAccessKey })).code === 0,
        45_000,
      );
      const running = startCli(['--config', path, 'restore', 'db', '--force', '--lock-timeout', '4s'], {
        LB_S3_SECRET: s3.secretAccessKey,
      });
      await waitForLine(running.child.stderr as Readable, `lock held by pid ${holderPid}`, 20_000).catch(
        async (error) => {
          throw new Error(`${error}\n${(await running.result).stderr}`);
        },
      );
      const result = await running.result;
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`a lock held by pid ${holderPid}`);
      expect(result.stderr).toContain('was not granted within 4 s; nothing committed');
      expect(result.stderr).toContain('Try: stop the application or end those sessions');
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    expect(await query("SELECT count(*)::int AS n FROM t WHERE note = 'held'")).toEqual([{ n: 7 }]);
  });
});
