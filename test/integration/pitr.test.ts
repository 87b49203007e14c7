// Point-in-time recovery of a physical PostgreSQL target, against a real server (wal_level=replica) with a
// writer inserting timestamped rows all along: base backups by pg_basebackup, WAL streamed by the daemon's
// pg_receivewal into a real MinIO, and restores to chosen seconds that hold exactly the rows committed by
// then; across a kill -9 of the daemon (and its receiver), across a promotion (timeline 2), and with a missing
// or damaged segment found by verify and refused by restore.

import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stopRecovered } from '../../src/core/restore-datadir.js';
import { type AgeKey, ageDecrypt, ageKeygen } from '../harness/age.js';
import { type RunningDaemon, runCli, startDaemon, writeConfig } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { type PostgresServer, postgresBinDir, startPostgres } from '../harness/postgres.js';
import { randomPrefix, s3Client, s3Keys, s3StorageConfig } from '../harness/s3.js';
import { mountTinyFolder } from '../hostile/hostile-support.js';

const s3 = inject('s3');

async function s3Object(key: string): Promise<Buffer> {
  const client = s3Client(s3);
  try {
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  } finally {
    client.destroy();
  }
}

interface Row {
  readonly id: number;
  /** clock_timestamp() of the insert, in ms. */
  readonly at: number;
  /** When the INSERT returned: its commit happened before this. */
  readonly returned: number;
}

/** Inserts one timestamped row every 50 ms, each its own transaction, until stopped. */
class Writer {
  readonly rows: Row[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(readonly client: pg.Client) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const result = await this.client.query(
        'INSERT INTO ev DEFAULT VALUES RETURNING id, (extract(epoch from at) * 1000)::float8 AS at',
      );
      const row = result.rows[0];
      this.rows.push({ id: row.id, at: row.at, returned: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
    await this.client.end();
  }

  /** A time strictly between one row's commit and the next row's insert, after `after`. */
  pick(after: number): { at: number; expected: Row[] } {
    for (let k = 0; k + 1 < this.rows.length; k += 1) {
      const row = this.rows[k] as Row;
      const next = this.rows[k + 1] as Row;
      if (row.at <= after || next.at - row.returned < 4) continue;
      return { at: Math.floor((row.returned + next.at) / 2), expected: this.rows.slice(0, k + 1) };
    }
    throw new Error(`no row after ${new Date(after).toISOString()} yet`);
  }
}

async function connectTo(server: { host: string; port: number; user: string; password: string }): Promise<pg.Client> {
  const client = new pg.Client({ ...server, database: 'postgres' });
  await client.connect();
  return client;
}

describe('point-in-time recovery of a physical PostgreSQL target', () => {
  let server: PostgresServer;
  let stopServer: () => Promise<void>;
  let dir: string;
  /** Where the data directories go: a folder the "postgres" user can reach (the config's folder is private). */
  let datadirs: string;
  let configPath: string;
  let prefix: string;
  let writer: Writer;
  let daemon: RunningDaemon;
  let key: AgeKey;
  const started: number[] = [];

  async function configFor(port: number, spool: string): Promise<void> {
    await writeFile(
      configPath,
      JSON.stringify({
        storage: s3StorageConfig(s3, prefix),
        metrics: { listen: '127.0.0.1:0' },
        targets: [
          {
            name: 'pg',
            driver: 'postgres',
            method: 'physical',
            host: '127.0.0.1',
            port,
            user: server.user,
            passwordFile: './pg_password',
            binDir: postgresBinDir(),
            wal: { spool: join(dir, spool), partialInterval: '1s' },
            retention: { last: 1 },
            // Base backups and WAL encrypted: every restore below decrypts what it fetches.
            encryption: { recipients: [key.recipient], identityFile: key.identityFile },
            drill: {
              pointInTimeAgo: '6s',
              checks: [{ name: 'events present', sql: 'SELECT count(*) FROM ev', expect: '>= 10' }],
              objectives: { rpo: '30s' },
            },
          },
        ],
      }),
    );
  }

  const cli = (...args: string[]) => runCli(['--config', configPath, ...args]);

  async function windows(): Promise<{ timeline: number; from: string; to: string }[]> {
    const result = await cli('list', 'pg', '--json');
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout).recovery[0].windows;
  }

  /** Waits until the archive covers `at` on `timeline`. */
  async function archivedUntil(at: number, timeline = 1): Promise<void> {
    await expect
      .poll(async () => (await windows()).some((w) => w.timeline === timeline && Date.parse(w.to) >= at), {
        timeout: 60_000,
        interval: 500,
      })
      .toBe(true);
  }

  /** Restores to `at` with --start; returns the ids the recovered server holds, oldest first. */
  async function restoreAt(at: number, name: string, ...extra: string[]): Promise<{ ids: number[]; port: number }> {
    const datadir = join(datadirs, name);
    const result = await cli(
      'restore',
      'pg',
      '--point-in-time',
      new Date(at).toISOString(),
      '--to-datadir',
      datadir,
      '--start',
      '--json',
      ...extra,
    );
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    started.push(out.server.pid);
    const port = Number(new URL(out.server.url).port);
    const client = await connectTo({ ...server, port });
    try {
      const ids = (await client.query('SELECT id FROM ev ORDER BY at')).rows.map((r) => r.id as number);
      return { ids, port };
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    ({ server, stop: stopServer } = await startPostgres());
    key = await ageKeygen();
    prefix = randomPrefix('pitr');
    ({ dir, path: configPath } = await writeConfig('{}'));
    datadirs = await mkdtemp(join(tmpdir(), 'lifeboat-pitr-'));
    await chmod(datadirs, 0o755);
    await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    await writeFile(join(dir, 'pg_password'), `${server.password}\n`);
    await configFor(server.port, 'spool');
    const setup = await connectTo(server);
    await setup.query('CREATE TABLE ev (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await setup.query('CREATE TABLE filler (note text)');
    await setup.end();
    writer = new Writer(await connectTo(server));
  });

  afterAll(async () => {
    await writer?.stop().catch(() => undefined);
    await daemon?.stop();
    for (const pid of started) await stopRecovered(pid);
    await stopServer?.();
  });

  it('restores to chosen seconds with exactly the rows committed by then', async () => {
    // The first base backup runs before the daemon ever streamed: the slot it creates keeps its WAL.
    const backup = await cli('backup', 'pg');
    expect(backup.code, backup.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    daemon = await startDaemon(configPath);
    const [manifest] = JSON.parse((await cli('list', 'pg', '--json')).stdout).backups;
    expect(manifest.wal.timeline).toBe(1);
    expect(manifest.artifacts[0].format).toBe('pg_basebackup-tar');
    expect(manifest.artifacts[0].key).toMatch(/base\.tar\.gz\.age$/);
    const base = Date.parse(manifest.snapshotAt);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const points = [writer.pick(base + 300), writer.pick(base + 1_800), writer.pick(base + 3_200)];
    await archivedUntil((writer.rows.at(-1) as Row).returned);
    for (const [i, point] of points.entries()) {
      const { ids } = await restoreAt(point.at, `at-${i}`);
      expect(ids).toEqual(point.expected.map((r) => r.id));
    }
    // A time before the first base backup was consistent: refused, naming the window.
    const early = await cli(
      'restore',
      'pg',
      '--point-in-time',
      new Date(base - 60_000).toISOString(),
      '--to-datadir',
      join(datadirs, 'early'),
    );
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/is not recoverable: recoverable windows: timeline 1 from \S+ to \S+/);
    // The dry run says which base backup and how much WAL, and changes nothing.
    const plan = await cli(
      'restore',
      'pg',
      '--point-in-time',
      new Date(points[2]?.at as number).toISOString(),
      '--to-datadir',
      join(datadirs, 'plan'),
      '--dry-run',
    );
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`base backup: ${manifest.id}`);
    expect(plan.stdout).toMatch(/WAL: +up to \d+ files/);
    await expect(readdir(join(datadirs, 'plan'))).rejects.toThrow(/ENOENT/);
  }, 240_000);

  it('refuses bad requests clearly and changes nothing', async () => {
    // Well inside the window (the archive lags the server by a second or two).
    const at = new Date(Date.now() - 8_000).toISOString();
    const noDir = await cli('restore', 'pg', '--point-in-time', at);
    expect(noDir.code).toBe(2);
    expect(noDir.stderr).toContain('a physical target restores into a data directory: add --to-datadir DIR');
    const busy = join(datadirs, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'keep.txt'), 'precious');
    const full = await cli('restore', 'pg', '--point-in-time', at, '--to-datadir', busy);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain(`data directory ${busy} is not empty`);
    expect(await readFile(join(busy, 'keep.txt'), 'utf8')).toBe('precious');
    const timeline = await cli('restore', 'pg', '--to-datadir', join(datadirs, 'x'), '--timeline', 'two');
    expect(timeline.code).toBe(2);
    expect(timeline.stderr).toContain('--timeline: "two" is not a timeline number');
    const both = await cli('restore', 'pg', '--to-datadir', join(datadirs, 'x'), '--start', '--dry-run');
    expect(both.code).toBe(2);
    const logical = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'db', driver: 'postgres', host: '127.0.0.1' }],
    });
    const wrong = await runCli(['--config', logical.path, 'restore', 'db', '--to-datadir', join(datadirs, 'x')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--to-datadir, --start and --timeline are for physical PostgreSQL targets');
    await expect(readdir(join(datadirs, 'x'))).rejects.toThrow(/ENOENT/);
  });

  it('--force keeps what the data directory holds until the backup proved itself: a key that opens nothing changes nothing', async () => {
    const held = join(datadirs, 'held');
    await mkdir(held);
    await writeFile(join(held, 'PG_VERSION'), 'the old cluster');
    await writeFile(join(held, 'keep.txt'), 'precious');
    // The same configuration with a key that opens nothing in the store: the download fails half way in.
    const other = await ageKeygen();
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    config.targets[0].encryption.identityFile = other.identityFile;
    const wrongKey = join(dir, 'wrong-key.json');
    await writeFile(wrongKey, JSON.stringify(config));
    const failed = await runCli(['--config', wrongKey, 'restore', 'pg', '--to-datadir', held, '--force']);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain(`data directory ${held} untouched`);
    expect((await readdir(held)).sort()).toEqual(['PG_VERSION', 'keep.txt']);
    expect(await readFile(join(held, 'keep.txt'), 'utf8')).toBe('precious');
    // With the right key the restored cluster takes their place, and nothing of the restore's own is left.
    const restored = await cli('restore', 'pg', '--to-datadir', held, '--force');
    expect(restored.code, restored.stderr).toBe(0);
    const entries = await readdir(held);
    expect(entries).toEqual(expect.arrayContaining(['recovery.signal', 'base', 'global']));
    expect(entries).not.toContain('keep.txt');
    expect(entries.filter((entry) => entry.startsWith('.lifeboat-'))).toEqual([]);
    expect(await readFile(join(held, 'PG_VERSION'), 'utf8')).toMatch(/^\d+\n$/);
  });

  it('a data directory on a file system without room for the base backup is refused before the download', async () => {
    const tiny = await mountTinyFolder('1m');
    try {
      const datadir = join(tiny.path, 'pg');
      const refused = await cli('restore', 'pg', '--to-datadir', datadir);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `restore pg: needs [\\d.]+ MiB free in ${datadir} \\(the base backup is unpacked there\\), which has [\\d.]+ [KM]iB; data directory ${datadir} untouched`,
        ),
      );
      expect(refused.stderr).toContain(
        'Try: free space on that file system, or restore into an empty --to-datadir on a larger one',
      );
      expect(await readdir(datadir)).toEqual([]);
    } finally {
      await tiny.unmount();
    }
  });

  it('a base backup of a cluster where a restore left a database half done is refused, and stores nothing', async () => {
    const ids = async () =>
      JSON.parse((await cli('list', 'pg', '--json')).stdout).backups.map((b: { id: string }) => b.id);
    const before = await ids();
    const admin = await connectTo(server);
    try {
      await admin.query('CREATE DATABASE half');
      // The mark a restore leaves on the database it loads until it ends, as a killed one leaves it.
      await admin.query(
        "COMMENT ON DATABASE half IS 'lifeboat: a restore began here at 2026-12-01T10:00:00.000Z and has not finished; until one finishes, this database may hold part of a backup'",
      );
      const refused = await cli('backup', 'pg');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        'postgres: not backed up: half (a restore began there at 2026-12-01T10:00:00.000Z) carries the mark of a restore that has not finished',
      );
      expect(refused.stderr).toContain('COMMENT ON DATABASE "half" IS NULL');
      expect(await ids()).toEqual(before);
    } finally {
      await admin.query('DROP DATABASE IF EXISTS half');
      await admin.end();
    }
  });

  it('drills: recovers to a point six seconds ago into a scratch server, checks it, measures RPO and RTO', async () => {
    // The archive lags the server by its partialInterval (1 s here) and a status report or two.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    await archivedUntil(Date.now() - 1_000);
    const result = await cli('drill', 'pg', '--json');
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const [record] = JSON.parse(result.stdout);
    expect(record.ok, JSON.stringify(record.failure)).toBe(true);
    const names = record.checks.map((c: { name: string }) => c.name);
    expect(names).toEqual(['checksums', 'files', 'recovery point', 'tables', 'events present']);
    expect(record.checks[2].message).toMatch(
      /recovered to \S+ and promoted; the last commit replayed is from \S+, [\d.]+ s before/,
    );
    // The RPO is the newest archived WAL's age (seconds, with a 1 s partial interval), not the base backup's.
    expect(record.dataAgeSeconds).toBeLessThan(10);
    expect(record.verdicts.rpo).toBe('pass');
    expect(record.timings.download).toBeGreaterThan(0);
    expect(record.timings.restore).toBeGreaterThan(0);
    expect(record.scratch.cleanedUp).toBe(true);
    await expect(readdir(record.scratch.description.replace('data directory in ', ''))).rejects.toThrow(/ENOENT/);
  }, 120_000);

  it('a server started by hand fetches its WAL through restore_command (lifeboat wal-fetch)', async () => {
    const point = writer.pick(Date.now() - 4_000);
    await archivedUntil((writer.rows.at(-1) as Row).returned);
    // The server runs as "postgres": it gets a config, secrets and key it can read (a test-only copy).
    const pub = await mkdtemp(join(tmpdir(), 'lifeboat-pitr-pub-'));
    await chmod(pub, 0o755);
    for (const file of ['s3_secret', 'pg_password']) {
      await writeFile(join(pub, file), await readFile(join(dir, file)), { mode: 0o644 });
    }
    await writeFile(join(pub, 'key.txt'), await readFile(key.identityFile), { mode: 0o644 });
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    config.targets[0].encryption.identityFile = join(pub, 'key.txt');
    await writeFile(join(pub, 'lifeboat.yaml'), JSON.stringify(config), { mode: 0o644 });
    const datadir = join(datadirs, 'by-hand');
    const restore = await runCli([
      '--config',
      join(pub, 'lifeboat.yaml'),
      'restore',
      'pg',
      '--point-in-time',
      new Date(point.at).toISOString(),
      '--to-datadir',
      datadir,
    ]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`postgres -D ${datadir}`);
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    execFileSync('chown', ['-R', `${uid}:${gid}`, datadir]);
    const port = await freePort();
    const log = join(datadir, 'by-hand.log');
    const child = spawn(
      join(postgresBinDir(), 'postgres'),
      [
        '-D',
        datadir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${datadir}`,
      ],
      { uid, gid, stdio: ['ignore', 'ignore', 'pipe'], env: process.env },
    );
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    started.push(child.pid as number);
    try {
      await expect
        .poll(
          async () => {
            const client = new pg.Client({ ...server, port, database: 'postgres' });
            client.on('error', () => undefined);
            try {
              await client.connect();
              return (await client.query('SELECT NOT pg_is_in_recovery() AS done')).rows[0].done;
            } catch {
              return false;
            } finally {
              await client.end().catch(() => undefined);
            }
          },
          { timeout: 90_000, interval: 250 },
        )
        .toBe(true);
      // Each segment came from the archive, through Lifeboat (nothing was put into pg_wal beforehand).
      expect(output).toMatch(/restored log file "[0-9A-F]{24}" from archive/);
      const client = await connectTo({ ...server, port });
      const ids = (await client.query('SELECT id FROM ev ORDER BY at')).rows.map((r) => r.id as number);
      await client.end();
      expect(ids).toEqual(point.expected.map((r) => r.id));
    } finally {
      await writeFile(log, output);
      await stopRecovered(child.pid as number);
    }
  }, 150_000);

  it('wal-push and wal-fetch, the archive_command way: each file checked on its way back', async () => {
    const [name] = (await s3Keys(s3, `${prefix}pg/wal/`))
      .map((k) => /([0-9A-F]{24})\.json$/.exec(k)?.[1])
      .filter((n): n is string => n !== undefined)
      .sort();
    const fetched = join(dir, name as string);
    const fetch = await cli('wal-fetch', 'pg', name as string, fetched);
    expect(fetch.code, fetch.stderr).toBe(0);
    const segment = await readFile(fetched);
    expect(segment.length).toBe(16 * 1024 * 1024);
    // Stored encrypted: the reference age and gunzip give the same segment back, without Lifeboat.
    const stored = await s3Object(`${prefix}pg/wal/${name}.gz.age`);
    expect(gunzipSync(ageDecrypt(key.identityFile, stored)).equals(segment)).toBe(true);
    // A second store, written by `archive_command = 'lifeboat wal-push pg %p'`.
    const pushed = await writeConfig({
      storage: { type: 'local', path: './pushed' },
      targets: [{ name: 'pg', driver: 'postgres', method: 'physical', host: '127.0.0.1', wal: { receive: false } }],
    });
    const other = (...args: string[]) => runCli(['--config', pushed.path, ...args]);
    const push = await other('wal-push', 'pg', fetched);
    expect(push.code, push.stderr).toBe(0);
    const back = join(pushed.dir, 'back');
    expect((await other('wal-fetch', 'pg', name as string, back)).code).toBe(0);
    expect((await readFile(back)).equals(segment)).toBe(true);
    // A damaged copy is refused and never reaches PostgreSQL's path; an absent file is "not in the archive".
    await writeFile(join(pushed.dir, 'pushed', 'pg', 'wal', `${name}.gz`), 'damaged');
    const damaged = await other('wal-fetch', 'pg', name as string, join(pushed.dir, 'damaged'));
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toContain(`${name} failed verification, not restored`);
    await expect(readdir(pushed.dir)).resolves.not.toContain('damaged');
    const absent = await other('wal-fetch', 'pg', '0000000100000000000000FE', join(pushed.dir, 'absent'));
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain('0000000100000000000000FE is not in the archive');
    const bad = await other('wal-push', 'pg', join(pushed.dir, 'lifeboat.yaml'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not a WAL segment or history file/);
  }, 60_000);

  it('loses no segment across a kill -9 of the daemon and its receiver', async () => {
    const spool = join(dir, 'spool');
    const receiverPid = Number((await readFile(join(spool, 'lifeboat-receivewal.pid'), 'utf8')).trim());
    const before = (await s3Keys(s3, `${prefix}pg/wal/`)).filter((k) => /[0-9A-F]{24}\.json$/.test(k)).length;
    daemon.child.kill('SIGKILL');
    process.kill(receiverPid, 'SIGKILL');
    await daemon.result;
    const downFrom = Date.now();
    // While nothing archives, the server writes three segments and more: the slot keeps them.
    const bulk = await connectTo(server);
    await bulk.query('INSERT INTO filler SELECT repeat(md5(g::text), 30) FROM generate_series(1, 60000) g');
    await bulk.end();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const down = writer.pick(downFrom + 200);
    daemon = await startDaemon(configPath);
    await archivedUntil((writer.rows.at(-1) as Row).returned);
    const after = (await s3Keys(s3, `${prefix}pg/wal/`)).filter((k) => /[0-9A-F]{24}\.json$/.test(k)).length;
    expect(after - before).toBeGreaterThanOrEqual(3);
    const verify = await cli('verify', 'pg');
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/ok +pg WAL: \d+ files checked/);
    const { ids } = await restoreAt(down.at, 'after-kill');
    expect(ids).toEqual(down.expected.map((r) => r.id));
  }, 240_000);

  it('follows a promotion: archiving goes on on timeline 2, and restores choose either history', async () => {
    // The "disaster": recover to a point, promote, and make the recovered server the target's database.
    const fork = writer.pick(Date.now() - 1_500);
    await archivedUntil((writer.rows.at(-1) as Row).returned);
    const { port } = await restoreAt(fork.at, 'promoted');
    // The old server goes on a little (its history after the fork stays on timeline 1), then stops.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await writer.stop();
    const oldRows = writer.rows;
    await archivedUntil((oldRows.at(-1) as Row).returned);
    const oldLater = writer.pick((oldRows.at(-1) as Row).at - 600);
    await daemon.stop();
    await configFor(port, 'spool-promoted');
    daemon = await startDaemon(configPath);
    writer = new Writer(await connectTo({ ...server, port }));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const late = writer.pick(writer.rows[0]?.at as number);
    await archivedUntil((writer.rows.at(-1) as Row).returned, 2);
    expect((await s3Keys(s3, `${prefix}pg/wal/`)).some((k) => k.endsWith('00000002.history.json'))).toBe(true);
    const onTwo = await restoreAt(late.at, 'timeline-2');
    expect(onTwo.ids).toEqual([...fork.expected, ...late.expected].map((r) => r.id));
    const onOne = await restoreAt(oldLater.at, 'timeline-1', '--timeline', '1');
    expect(onOne.ids).toEqual(oldLater.expected.map((r) => r.id));
  }, 300_000);

  it('finds a missing and a damaged segment, and refuses a restore past the gap naming the window', async () => {
    const names = (await s3Keys(s3, `${prefix}pg/wal/`))
      .map((k) => /(0000000100000000[0-9A-F]{8})\.json$/.exec(k)?.[1])
      .filter((n): n is string => n !== undefined)
      .sort();
    const missing = names[Math.floor(names.length / 2)] as string;
    const damaged = names[Math.floor(names.length / 2) + 1] as string;
    const client = s3Client(s3);
    await client.send(
      new DeleteObjectsCommand({
        Bucket: s3.bucket,
        Delete: { Objects: [{ Key: `${prefix}pg/wal/${missing}.gz.age` }, { Key: `${prefix}pg/wal/${missing}.json` }] },
      }),
    );
    await client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${prefix}pg/wal/${damaged}.gz.age`,
        Body: Buffer.from('not the segment'),
      }),
    );
    client.destroy();
    const verify = await cli('verify', 'pg');
    expect(verify.code).toBe(1);
    // Encrypted: the damage shows as the age header cut short (a plain artifact says "stored size 15 bytes").
    expect(verify.stdout).toMatch(new RegExp(`WAL ${damaged}: .*(stored size 15 bytes|ends inside its header)`));
    expect(verify.stdout).toMatch(
      new RegExp(`WAL segment ${missing} is missing \\(timeline 1, base backup \\S+\\): recovery stops at \\S+`),
    );
    // Timeline 1's history after the gap cannot be recovered; the message names what can.
    const refused = await cli(
      'restore',
      'pg',
      '--point-in-time',
      new Date(Date.now() - 1_000).toISOString(),
      '--timeline',
      '1',
      '--to-datadir',
      join(datadirs, 'refused'),
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not recoverable on timeline 1: recoverable windows: timeline 1 from \S+ to \S+/);
    expect(refused.stderr).toContain(`WAL segment ${missing} is missing`);
    await expect(readdir(join(datadirs, 'refused'))).rejects.toThrow(/ENOENT/);
  }, 120_000);

  it('retention keeps the newest base backup and removes only the WAL before it', async () => {
    const walKeys = async () => (await s3Keys(s3, `${prefix}pg/wal/`)).filter((k) => /[0-9A-F]{24}\.json$/.test(k));
    const segmentNumber = (key: string) => (/([0-9A-F]{24})\.json$/.exec(key)?.[1] ?? '').slice(8);
    const backup = await cli('backup', 'pg');
    expect(backup.code, backup.stderr).toBe(0);
    const newest = JSON.parse((await cli('list', 'pg', '--json')).stdout).backups[0];
    expect(newest.wal.timeline).toBe(2);
    await archivedUntil(Date.parse(newest.snapshotAt) + 500, 2);
    const before = await walKeys();
    const first = newest.wal.firstSegment.slice(8);
    const old = before.filter((k) => segmentNumber(k) < first);
    expect(old.length).toBeGreaterThanOrEqual(3);
    const dry = await cli('prune', 'pg', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(`WAL +would remove \\d+ file\\(s\\) \\(kept from ${newest.wal.firstSegment},`),
    );
    // The dry run removed nothing.
    const afterDry = await walKeys();
    expect(before.every((k) => afterDry.includes(k))).toBe(true);
    const prune = await cli('prune', 'pg');
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/pg: keep 1, deleted 1/);
    const backups = JSON.parse((await cli('list', 'pg', '--json')).stdout).backups;
    expect(backups.map((b: { id: string }) => b.id)).toEqual([newest.id]);
    const after = await walKeys();
    // Everything numbered before the kept base backup's first segment is gone, nothing from it on.
    expect(after.filter((k) => segmentNumber(k) < first)).toEqual([]);
    expect(before.filter((k) => segmentNumber(k) >= first).every((k) => after.includes(k))).toBe(true);
    // The gap and the damaged segment were before it: the archive that is left verifies whole.
    const verify = await cli('verify', 'pg');
    expect(verify.code, verify.stdout).toBe(0);
    const windows = JSON.parse((await cli('list', 'pg', '--json')).stdout).recovery[0].windows;
    expect(windows.map((w: { timeline: number }) => w.timeline)).toEqual([2]);
    expect(windows[0].from).toBe(newest.snapshotAt);
  }, 120_000);
});
