// Drills of real SQLite files through the CLI: a passing drill, and each way one fails (damaged backup, a
// restore that fails, a failing check, a missed RPO), with the scratch place always removed; then reports and
// the evidence bundle.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { drillJson, runCli, writeConfig } from '../harness/cli.js';
import { plantBackup } from '../harness/plant.js';
import { mountTinyFolder } from '../hostile/hostile-support.js';

interface Setup {
  dir: string;
  path: string;
  scratch: string;
  store: LocalStorage;
}

async function setup(drill: Record<string, unknown>, rows = 500): Promise<Setup> {
  const { dir, path } = await writeConfig({
    storage: { type: 'local', path: './store' },
    targets: [{ name: 'shop', driver: 'sqlite', path: './shop.db', drill: { to: './scratch', ...drill } }],
  });
  const db = new Database(join(dir, 'shop.db'));
  db.exec(
    'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE orders (id INTEGER PRIMARY KEY, user INT)',
  );
  const insert = db.prepare('INSERT INTO users (name) VALUES (?)');
  for (let i = 0; i < rows; i += 1) insert.run(`user ${i}`);
  db.exec('INSERT INTO orders (user) SELECT id FROM users WHERE id % 2 = 0');
  db.close();
  return {
    dir,
    path,
    scratch: join(dir, 'scratch'),
    store: new LocalStorage({ path: join(dir, 'store'), prefix: '' }),
  };
}

function drill(s: Setup, ...args: string[]) {
  return drillJson(s.path, ...args);
}

function scratchLeft(s: Setup): string[] {
  try {
    return readdirSync(s.scratch);
  } catch {
    return [];
  }
}

describe('drills of SQLite targets', () => {
  let ok: Setup;

  beforeAll(async () => {
    ok = await setup({
      objectives: { rpo: '1h', rto: '5m' },
      checks: [
        { name: 'users present', sql: 'SELECT count(*) FROM users', expect: '>= 500' },
        { name: 'orders complete', sql: 'SELECT count(*) FROM orders', expect: '= manifest' },
        {
          name: 'no orphans',
          sql: 'SELECT count(*) FROM orders WHERE user NOT IN (SELECT id FROM users)',
          expect: '= 0',
        },
      ],
    });
    expect((await runCli(['--config', ok.path, 'backup'])).code).toBe(0);
  });

  it('passes: verifies, restores into a scratch file, checks, measures, records, and removes the scratch', async () => {
    const { code, record } = await drill(ok);
    expect(code).toBe(0);
    expect(record).toMatchObject({ target: 'shop', ok: true, verdicts: { rpo: 'pass', rto: 'pass' } });
    expect(record.checks.map((c) => [c.name, c.kind, c.ok])).toEqual([
      ['checksums', 'builtin', true],
      ['integrity', 'builtin', true],
      ['row counts', 'builtin', true],
      ['users present', 'user', true],
      ['orders complete', 'user', true],
      ['no orphans', 'user', true],
    ]);
    expect(record.checks.find((c) => c.name === 'orders complete')?.message).toBe('250 = 250 (manifest)');
    expect(record.checks.find((c) => c.name === 'row counts')?.message).toContain('2 tables');
    const t = record.timings;
    expect(t.total).toBeCloseTo(t.download + t.verify + t.restore + t.checks, 2);
    expect(t.restore).toBeGreaterThan(0);
    expect(record.dataAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(record.scratch).toMatchObject({ cleanedUp: true });
    expect(record.scratch.description).toContain(ok.scratch);
    expect(scratchLeft(ok)).toEqual([]);
    const stored = readdirSync(join(ok.dir, 'store', 'shop', 'drills'));
    expect(stored.some((f) => /^\d{8}T\d{6}\.\d{3}Z\.json$/.test(f))).toBe(true);
    // The live database was not touched: a drill never restores into it.
    const db = new Database(join(ok.dir, 'shop.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) FROM users').pluck().get()).toBe(500);
    db.close();
  });

  it('drills a given backup with --backup instead of the newest', async () => {
    const older = JSON.parse((await runCli(['--config', ok.path, 'list', 'shop', '--json'])).stdout) as {
      id: string;
    }[];
    await runCli(['--config', ok.path, 'backup']);
    const oldest = older.at(-1)?.id as string;
    const { code, record } = await drill(ok, '--backup', oldest);
    expect(code).toBe(0);
    expect(record.backup?.id).toBe(oldest);
    const unknown = await drill(ok, '--backup', '20200101T000000Z-000000');
    expect(unknown.code).toBe(1);
    expect(unknown.record.failure).toEqual({
      stage: 'choose',
      message: 'no committed backup 20200101T000000Z-000000 of shop',
    });
  });

  it('fails a drill whose user check fails, saying which check and why', async () => {
    const s = await setup({ checks: [{ name: 'enough users', sql: 'SELECT count(*) FROM users', expect: '>= 1000' }] });
    await runCli(['--config', s.path, 'backup']);
    const { code, record } = await drill(s);
    expect(code).toBe(1);
    expect(record.failure).toEqual({
      stage: 'checks',
      message: 'check enough users failed: got 500, expected >= 1000',
    });
    expect(record.scratch.cleanedUp).toBe(true);
    expect(scratchLeft(s)).toEqual([]);
  });

  it('fails a drill of a damaged backup at verify, in its one pass, and throws the scratch away', async () => {
    const s = await setup({});
    await runCli(['--config', s.path, 'backup']);
    const [id] = readdirSync(join(s.dir, 'store', 'shop'));
    const file = join(s.dir, 'store', 'shop', id as string, 'database.sqlite3.gz');
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(file, bytes);
    const { code, record } = await drill(s);
    expect(code).toBe(1);
    expect(record.failure?.stage).toBe('verify');
    expect(record.failure?.message).toMatch(
      new RegExp(`backup ${id} is damaged: shop/${id}/database.sqlite3.gz: stored SHA-256 [0-9a-f]{64}, manifest says`),
    );
    expect(record.checks).toEqual([expect.objectContaining({ name: 'checksums', ok: false })]);
    expect(record.scratch.cleanedUp).toBe(true);
    expect(scratchLeft(s)).toEqual([]);
    expect(record.verdicts.rto).toBe('none');
  });

  it('fails a drill whose restore fails (intact bytes that are not a database), and removes the scratch', async () => {
    const s = await setup({ objectives: { rto: '1h' } });
    await plantBackup(s.store, {
      target: 'shop',
      driver: 'sqlite',
      fileName: 'database.sqlite3',
      format: 'sqlite3',
      raw: Buffer.from('this is not a SQLite database, but its checksums are right\n'.repeat(200)),
    });
    const { code, record } = await drill(s);
    expect(code).toBe(1);
    expect(record.failure?.stage).toBe('restore');
    expect(record.failure?.message).toMatch(/integrity_check of the restored file: .*not a database/);
    expect(record.checks).toEqual([expect.objectContaining({ name: 'checksums', ok: true })]);
    expect(record.verdicts.rto).toBe('fail');
    expect(record.scratch.cleanedUp).toBe(true);
    expect(scratchLeft(s)).toEqual([]);
  });

  it('fails a drill whose scratch place has no room for the restored file before it downloads, and removes the scratch', async () => {
    const { path: tiny, unmount } = await mountTinyFolder('64k');
    try {
      const s = await setup({ to: tiny }, 20_000);
      expect((await runCli(['--config', s.path, 'backup'])).code).toBe(0);
      const { code, record } = await drill(s);
      expect(code).toBe(1);
      expect(record.failure?.stage).toBe('restore');
      expect(record.failure?.message).toMatch(
        new RegExp(
          `needs [\\d.]+ KiB free in ${tiny}/lifeboat-drill-shop-\\w+ \\(the restored file is written there\\), which has [\\d.]+ KiB`,
        ),
      );
      expect(record.checks).toEqual([]);
      expect(record.scratch.cleanedUp).toBe(true);
      expect(readdirSync(tiny)).toEqual([]);
    } finally {
      await unmount();
    }
  });

  it('fails a drill when the newest backup is older than the RPO objective', async () => {
    const s = await setup({ objectives: { rpo: '1s' } });
    await runCli(['--config', s.path, 'backup']);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const { code, record } = await drill(s);
    expect(code).toBe(1);
    expect(record.failure?.stage).toBe('objectives');
    expect(record.failure?.message).toMatch(/^RPO objective 1s missed: the newest backup holds data \d+\.\ds old$/);
    expect(record.verdicts).toEqual({ rpo: 'fail', rto: 'none' });
    expect(record.checks.every((c) => c.ok)).toBe(true);
  });

  it('fails a drill of a target without backups, and refuses a scratch place that is the live file', async () => {
    const s = await setup({});
    const { code, record } = await drill(s);
    expect(code).toBe(1);
    expect(record.failure).toEqual({
      stage: 'choose',
      message: expect.stringMatching(/^no backups of shop in local:/),
    });
    const { path } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'shop', driver: 'sqlite', path: './shop.db', drill: { to: './shop.db' } }],
    });
    const refused = await runCli(['--config', path, 'drill']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('targets[0].drill.to: is the live database file');
  });

  it('reports drills and backups in Markdown, HTML and JSON, and bundles the evidence with checksums', async () => {
    // A failing drill in the history: a check that cannot pass.
    const s = await setup({
      objectives: { rpo: '1h', rto: '1h' },
      checks: [{ name: 'impossible', sql: 'SELECT count(*) FROM users', expect: '< 0' }],
    });
    await runCli(['--config', s.path, 'backup']);
    await runCli(['--config', s.path, 'backup']);
    await drill(s);
    const reports = join(s.dir, 'reports');
    const withReport = await runCli(['--config', s.path, 'drill', '--report', reports]);
    expect(withReport.code).toBe(1);
    expect(readdirSync(reports).sort()).toEqual(['report.html', 'report.json', 'report.md']);
    const md = await runCli(['--config', s.path, 'report', '--since', '1d']);
    expect(md.code).toBe(1); // a failing verdict
    expect(md.stdout).toContain('# Lifeboat recovery report');
    expect(md.stdout).toContain('| shop | 1h | ');
    expect(md.stdout).toContain('check impossible failed: got 500, expected < 0');
    const json = JSON.parse((await runCli(['--config', s.path, 'report', '--format', 'json'])).stdout);
    expect(json.targets[0].verdicts).toEqual({ rpo: 'pass', rto: 'pass', lastDrill: 'fail' });
    expect(json.targets[0].drills).toHaveLength(2);
    expect(json.targets[0].backups).toHaveLength(2);
    const out = join(s.dir, 'r.html');
    expect((await runCli(['--config', s.path, 'report', '--format', 'html', '--out', out])).code).toBe(1);
    expect(readFileSync(out, 'utf8')).toMatch(/^<!doctype html>/);

    for (const name of ['evidence.tar.gz', 'evidence.zip']) {
      const bundle = join(s.dir, name);
      const result = await runCli(['--config', s.path, 'report', '--bundle', bundle]);
      expect(result.stderr).toContain(`wrote ${bundle}`);
      const into = mkdtempSync(join(tmpdir(), 'lifeboat-bundle-'));
      if (name.endsWith('.zip')) execFileSync('python3', ['-m', 'zipfile', '-e', bundle, into]);
      else execFileSync('tar', ['-xzf', bundle, '-C', into]);
      const sums = readFileSync(join(into, 'SHA256SUMS'), 'utf8').trim().split('\n');
      const names = sums.map((line) => line.split('  ')[1]);
      expect(names).toEqual(expect.arrayContaining(['report.html', 'report.md', 'report.json']));
      expect(names.filter((n) => n?.startsWith('drills/shop/'))).toHaveLength(2);
      expect(names.filter((n) => n?.startsWith('manifests/shop/'))).toHaveLength(2);
      for (const line of sums) {
        const [hash, file] = line.split('  ');
        expect(
          createHash('sha256')
            .update(readFileSync(join(into, file as string)))
            .digest('hex'),
          file,
        ).toBe(hash);
      }
    }
    const bad = await runCli(['--config', s.path, 'report', '--bundle', join(s.dir, 'x.rar')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--bundle: ');
  });
});
