// Hostile input: configs and arguments that must be refused with the field named, manifests that must not be
// trusted, and failures that must read as sentences (no stack traces), through the real CLI.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifestKey } from '../../src/catalog/manifest.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { CLI, captured, runCli, writeConfig } from '../harness/cli.js';
import { plantBackup } from '../harness/plant.js';
import { noStackTrace } from './hostile-support.js';

const SQLITE_TARGET = { name: 'app', driver: 'sqlite', path: './app.db' };

async function configCheck(config: unknown) {
  const { path } = await writeConfig(config);
  return runCli(['--config', path, 'config', 'check']);
}

describe('input that must be refused', () => {
  it('refuses a storage prefix that climbs out of the store, in the config and in the storage layer (finding 10)', async () => {
    for (const prefix of ['../../', 'ok/../', './', 'a/./']) {
      const result = await configCheck({
        storage: { type: 'local', path: './store', prefix },
        targets: [SQLITE_TARGET],
      });
      expect(result.code, prefix).toBe(2);
      expect(result.stderr).toContain('storage.prefix: must be empty or path segments');
    }
    expect(() => new LocalStorage({ path: '/tmp/x', prefix: '../../' })).toThrow(/could escape the store/);
    const fine = await configCheck({
      storage: { type: 'local', path: './store', prefix: 'prod.v2/' },
      targets: [SQLITE_TARGET],
    });
    expect(fine.code, fine.stderr).toBe(0);
  });

  it('refuses dates that do not exist and times without a zone (finding 11)', async () => {
    const { path } = await writeConfig({ storage: { type: 'local', path: './store' }, targets: [SQLITE_TARGET] });
    const cases: [string[], string][] = [
      [['restore', 'app', '--point-in-time', '2026-02-30T00:00:00Z'], 'is not a real date and time'],
      [['restore', 'app', '--point-in-time', '2026-02-01T00:00:00'], 'with a time zone (Z or +hh:mm)'],
      [['restore', 'app', '--point-in-time', '2026-02-01'], 'with a time zone'],
      [['restore', 'app', '--point-in-time', '2026-13-01T00:00:00Z'], 'is not a real date and time'],
      [['prune', '--now', '2026-02-30T00:00:00Z'], 'is not a real date and time'],
      [['prune', '--now', 'yesterday'], 'is not an ISO 8601 time'],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['--config', path, ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain(message);
    }
    const offset = await runCli(['--config', path, 'prune', '--dry-run', '--now', '2026-02-28T23:30:00+01:00']);
    expect(offset.code, offset.stderr).toBe(0);
  });

  it('validates S3 endpoints and PostgreSQL URLs up front, naming the field (finding 12)', async () => {
    const s3 = await configCheck({
      storage: { type: 's3', bucket: 'backups', endpoint: 'minio:9000:x y' },
      targets: [SQLITE_TARGET],
    });
    expect(s3.code).toBe(2);
    expect(s3.stderr).toContain('storage.endpoint: must be an http:// or https:// URL with a host');
    const pg = await configCheck({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'db', driver: 'postgres', url: 'postgres://app@[::1/app' }],
    });
    expect(pg.code).toBe(2);
    expect(pg.stderr).toContain('targets[0].url: is not a valid URL');
    noStackTrace(pg.stderr);
  });

  it('warns about plain HTTP to a store that is not on this host', async () => {
    const remote = await configCheck({
      storage: { type: 's3', bucket: 'backups', endpoint: 'http://minio:9000', forcePathStyle: true },
      targets: [SQLITE_TARGET],
    });
    expect(remote.code, remote.stderr).toBe(0);
    expect(remote.stderr).toContain('warning: storage.endpoint: http://minio:9000 is plain HTTP');
    const local = await configCheck({
      storage: { type: 's3', bucket: 'backups', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true },
      targets: [SQLITE_TARGET],
    });
    expect(local.stderr).not.toContain('warning:');
  });

  it('refuses a storage path in a kernel file system at once (finding 14)', async () => {
    const started = Date.now();
    const result = await configCheck({ storage: { type: 'local', path: '/proc/x' }, targets: [SQLITE_TARGET] });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('storage.path: /proc/x is inside /proc');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('redacts the password of every URL that config check prints (finding 15)', async () => {
    const result = await configCheck({
      storage: { type: 'local', path: './store' },
      targets: [
        {
          name: 'db',
          driver: 'postgres',
          url: 'postgres://app:TOPSECRET1@db:5432/app',
          drill: { to: 'postgres://admin:TOPSECRET2@scratch:5432/postgres' },
        },
      ],
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('postgres://admin:redacted@scratch:5432/postgres');
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/TOPSECRET/);
  });
});

describe('failures told as sentences, not stack traces (finding 9)', () => {
  let dir: string;
  let path: string;

  beforeAll(async () => {
    ({ dir, path } = await writeConfig({ storage: { type: 'local', path: './store' }, targets: [SQLITE_TARGET] }));
    const db = new Database(join(dir, 'app.db'));
    db.exec('CREATE TABLE t (x)');
    db.close();
  });

  it('refuses a backup id that is a path', async () => {
    const result = await runCli(['--config', path, 'restore', 'app', '--backup', '../../../etc/passwd']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--backup: "../../../etc/passwd" is not a backup id');
    noStackTrace(result.stderr);
  });

  it('says which report file it could not write', async () => {
    const result = await runCli(['--config', path, 'report', '--out', '/nonexistent/r.md']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('report: write /nonexistent/r.md: ENOENT');
    noStackTrace(result.stderr);
  });

  it('refuses a YAML alias bomb', async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i += 1) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      lines.push(
        `${name}: &${name} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`,
      );
    }
    const bomb = await writeConfig(`${lines.join('\n')}\nstorage: { type: local, path: ./s }\ntargets: []\n`);
    const result = await runCli(['--config', bomb.path, 'config', 'check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/YAML: .*alias/i);
    noStackTrace(result.stderr);
  });

  it('ends quietly when the reader of its output goes away (list | head -1)', async () => {
    const storage = new LocalStorage({ path: join(dir, 'store'), prefix: '' });
    for (let i = 0; i < 150; i += 1) {
      await plantBackup(storage, {
        target: 'app',
        driver: 'sqlite',
        fileName: 'database.sqlite3',
        format: 'sqlite3',
        raw: Buffer.from(`backup ${i}`),
        at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
      });
    }
    const child = spawn('sh', ['-c', `"${process.execPath}" "${CLI}" --config "${path}" list --json | head -1`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { stdout, stderr } = await captured(child);
    expect(stdout).toBe('[\n');
    expect(stderr).not.toContain('EPIPE');
    noStackTrace(stderr);
  });
});

describe('manifests that must not be trusted (finding 13)', () => {
  it('lists them as damaged, passes over them, fails verify for them, keeps them, and carries on', async () => {
    const { dir, path } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ ...SQLITE_TARGET, retention: { last: 1 } }],
    });
    const file = join(dir, 'app.db');
    const db = new Database(file);
    db.exec('CREATE TABLE t (x)');
    db.exec("INSERT INTO t VALUES ('good')");
    db.close();
    const backup = await runCli(['--config', path, 'backup', 'app']);
    expect(backup.code, backup.stderr).toBe(0);
    const good = backup.stdout.split('\t')[0] as string;
    const storage = new LocalStorage({ path: join(dir, 'store'), prefix: '' });
    const plant = async (seconds: number, edit: (manifest: Record<string, unknown>) => unknown) => {
      // Newer than the good backup, so that each would be "the newest" if it were trusted.
      const id = await plantBackup(storage, {
        target: 'app',
        driver: 'sqlite',
        fileName: 'database.sqlite3',
        format: 'sqlite3',
        raw: Buffer.from('not a database'),
        at: new Date(Date.now() + seconds * 1000),
      });
      const key = join(dir, 'store', ...manifestKey('app', id).split('/'));
      const manifest = JSON.parse(await readFile(key, 'utf8'));
      const edited = edit(manifest);
      await writeFile(key, typeof edited === 'string' ? edited : JSON.stringify(edited));
      return id;
    };
    const damaged = [
      await plant(2, () => '{ not json'),
      await plant(4, (m) => ({ ...m, id: '20200101T000000Z-abcdef' })),
      await plant(6, (m) => ({ ...m, target: 'other' })),
      await plant(8, (m) => ({ ...m, snapshotAt: '2099-01-01T00:00:00.000Z' })),
      await plant(10, (m) => ({ ...m, artifacts: [...(m.artifacts as unknown[]), ...(m.artifacts as unknown[])] })),
      await plant(12, (m) => ({
        ...m,
        artifacts: (m.artifacts as Record<string, unknown>[]).map((a) => ({
          ...a,
          key: `app/${good}/database.sqlite3.gz`,
        })),
      })),
    ];
    await mkdir(join(dir, 'restored'));

    const list = await runCli(['--config', path, 'list']);
    expect(list.code, list.stderr).toBe(0);
    for (const id of damaged) expect(list.stdout).toMatch(new RegExp(`${id}\\s+app\\s+DAMAGED`));
    expect(list.stdout).toContain(good);
    for (const reason of [
      'not JSON',
      'differs from its folder',
      'is in the future',
      'listed twice',
      "outside the backup's folder",
    ]) {
      expect(list.stderr).toContain(reason);
    }

    const restored = await runCli(['--config', path, 'restore', 'app', '--to', join(dir, 'restored', 'app.db')]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`backup:      ${good}`);
    expect(restored.stderr).toContain('is damaged and was passed over');

    const verify = await runCli(['--config', path, 'verify', 'app']);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`ok      app/${good}`);
    for (const id of damaged) expect(verify.stdout).toContain(`FAILED  app/${id}`);

    const drill = await runCli(['--config', path, 'drill', 'app']);
    expect(drill.code, drill.stderr).toBe(0);

    const prune = await runCli(['--config', path, 'prune', '--json']);
    expect(prune.code, prune.stderr).toBe(0);
    const [report] = JSON.parse(prune.stdout) as { keep: { id: string; reasons: string[] }[]; delete: unknown[] }[];
    expect(report?.delete).toEqual([]);
    for (const id of damaged) {
      expect(report?.keep.find((k) => k.id === id)?.reasons[0]).toMatch(/^damaged, kept for inspection/);
    }
    expect(readdirSync(join(dir, 'store', 'app')).filter((f) => f !== 'drills').length).toBe(damaged.length + 1);
  });
});
