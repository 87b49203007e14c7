// SQLite end to end through the CLI: back up while writing, point-in-time restore, corruption, refusals.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { clockAt, runCli, writeConfig } from '../harness/cli.js';

function rows(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT id, name, amount FROM orders ORDER BY id').all();
  } finally {
    db.close();
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.push(p.slice(dir.length + 1));
    }
  };
  try {
    walk(dir);
  } catch {
    // no store folder yet
  }
  return out.sort();
}

describe('sqlite backups through the CLI', () => {
  let dir: string;
  let config: string;
  let live: string;
  let store: string;

  beforeAll(async () => {
    ({ dir, path: config } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'shop', driver: 'sqlite', path: './shop.db' }],
    }));
    live = join(dir, 'shop.db');
    store = join(dir, 'store');
    const db = new Database(live);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount REAL)');
    db.close();
  });

  it('backs up, chooses by point in time, and restores each state row for row', async () => {
    const db = new Database(live);
    const insert = db.prepare('INSERT INTO orders (name, amount) VALUES (?, ?)');
    const states: { id: string; at: string; rows: unknown[] }[] = [];
    // Each round's backup runs a minute after the last on its own clock; `at` lies between two of them.
    const base = Date.now() - 10 * 60_000;
    for (let round = 0; round < 3; round += 1) {
      db.transaction(() => {
        for (let i = 0; i < 500; i += 1) insert.run(`order-${round}-${i}`, round * 1000 + i / 7);
      })();
      db.prepare('UPDATE orders SET amount = amount + 1 WHERE id % 3 = ?').run(round);
      const result = await runCli(['--config', config, 'backup', 'shop'], clockAt(base + round * 60_000));
      expect(result.code, result.stderr).toBe(0);
      const id = result.stdout.split('\t')[0] as string;
      expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
      expect(id.slice(0, 13)).toBe(new Date(base + round * 60_000).toISOString().replace(/[-:]/g, '').slice(0, 13));
      states.push({ id, at: new Date(base + round * 60_000 + 30_000).toISOString(), rows: rows(live) });
    }
    db.close();

    const list = await runCli(['--config', config, 'list', 'shop', '--json']);
    const manifests = JSON.parse(list.stdout) as { id: string; stats: { tables: { name: string; rows: number }[] } }[];
    expect(manifests.map((m) => m.id)).toEqual(states.map((s) => s.id).reverse());
    expect(manifests[0]?.stats.tables).toEqual([{ name: 'orders', rows: 1500 }]);

    for (const [index, state] of states.entries()) {
      const to = join(dir, `restored-${index}.db`);
      const restored = await runCli(['--config', config, 'restore', 'shop', '--point-in-time', state.at, '--to', to]);
      expect(restored.code, restored.stderr).toBe(0);
      expect(restored.stdout).toContain(`backup:      ${state.id}`);
      expect(restored.stdout).toMatch(/data is [\d.]+(ms|s|m( \d+s)?) before that time/);
      expect(rows(to)).toEqual(state.rows);
    }

    const tooEarly = await runCli([
      '--config',
      config,
      'restore',
      'shop',
      '--point-in-time',
      '2000-01-01T00:00:00Z',
      '--to',
      join(dir, 'x.db'),
    ]);
    expect(tooEarly.code).toBe(1);
    expect(tooEarly.stderr).toContain('no backup with data from 2000-01-01T00:00:00.000Z or before');
  });

  it('takes a consistent copy while another connection keeps writing', async () => {
    const writer = new Database(live);
    const insert = writer.prepare('INSERT INTO orders (name, amount) VALUES (?, ?)');
    let writing = true;
    let written = 0;
    const loop = (async () => {
      while (writing) {
        writer.transaction(() => {
          for (let i = 0; i < 50; i += 1) insert.run('concurrent', i);
        })();
        written += 50;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const result = await runCli(['--config', config, 'backup', 'shop', '--json']);
    writing = false;
    await loop;
    writer.close();
    expect(result.code, result.stderr).toBe(0);
    expect(written).toBeGreaterThan(0);
    const [manifest] = JSON.parse(result.stdout) as { id: string; stats: { tables: { rows: number }[] } }[];
    const to = join(dir, 'concurrent.db');
    expect(
      (await runCli(['--config', config, 'restore', 'shop', '--backup', manifest?.id ?? '', '--to', to])).code,
    ).toBe(0);
    const copy = new Database(to, { readonly: true });
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
    const count = copy.prepare('SELECT count(*) FROM orders').pluck().get() as number;
    copy.close();
    expect(count).toBe(manifest?.stats.tables[0]?.rows);
    expect((count - 1500) % 50).toBe(0); // whole transactions only
  });

  it('refuses to replace data without --force, plans with --dry-run, replaces with --force', async () => {
    const target = join(dir, 'occupied.db');
    const other = new Database(target);
    other.exec('CREATE TABLE keep_me (x); INSERT INTO keep_me VALUES (42);');
    other.close();
    const before = readFileSync(target);
    const refused = await runCli(['--config', config, 'restore', 'shop', '--to', target]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`destination ${target} holds data`);
    expect(refused.stderr).toContain('Try: add --force');
    const dry = await runCli(['--config', config, 'restore', 'shop', '--to', target, '--dry-run', '--force']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('will be replaced');
    expect(dry.stdout).toContain('verify:      before restoring, then again while restoring (two passes');
    expect(dry.stdout).toContain('dry run:     nothing changed');
    const fresh = await runCli(['--config', config, 'restore', 'shop', '--to', join(dir, 'new.db'), '--dry-run']);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).toContain('verify:      while restoring, in one pass');
    expect(readdirSync(dir)).not.toContain('new.db');
    expect(readFileSync(target).equals(before)).toBe(true);
    const forced = await runCli(['--config', config, 'restore', 'shop', '--to', target, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(rows(target).length).toBeGreaterThanOrEqual(1500);
  });

  it('detects a corrupted stored byte in verify; restore throws its one pass away or refuses before touching data', async () => {
    const backup = await runCli(['--config', config, 'backup', 'shop']);
    const id = backup.stdout.split('\t')[0] as string;
    const artifact = join(store, 'shop', id, 'database.sqlite3.gz');
    expect((await runCli(['--config', config, 'verify', id])).code).toBe(0);
    const bytes = readFileSync(artifact);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] as number) ^ 0xff;
    writeFileSync(artifact, bytes);

    const verify = await runCli(['--config', config, 'verify', id]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`FAILED  shop/${id}`);
    expect(verify.stdout).toContain(`shop/${id}/database.sqlite3.gz: stored SHA-256`);

    // An empty destination: one pass, whose result is thrown away on the mismatch.
    const target = join(dir, 'untouched.db');
    writeFileSync(target, '');
    const restore = await runCli(['--config', config, 'restore', 'shop', '--backup', id, '--to', target]);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain(
      `backup ${id} failed verification while restoring, sqlite: nothing committed to ${target}`,
    );
    expect(restore.stderr).toContain(`shop/${id}/database.sqlite3.gz: stored SHA-256`);
    expect(statSync(target).size).toBe(0);
    expect(readdirSync(dir).filter((f) => f.startsWith('untouched.db') && f !== 'untouched.db')).toEqual([]);
    // A destination that holds data: the checksum pass refuses the backup before the destination is touched.
    const occupied = join(dir, 'occupied-too.db');
    const other = new Database(occupied);
    other.exec('CREATE TABLE keep_me (x); INSERT INTO keep_me VALUES (7);');
    other.close();
    const before = readFileSync(occupied);
    const refused = await runCli(['--config', config, 'restore', 'shop', '--backup', id, '--to', occupied, '--force']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`backup ${id} failed verification, destination untouched`);
    expect(readFileSync(occupied).equals(before)).toBe(true);
    const records = filesUnder(join(store, 'shop', id)).filter((f) => f.startsWith('verify-'));
    expect(records.length).toBeGreaterThanOrEqual(2);
  });

  it('fails clearly when the database file is missing, and leaves nothing in the store', async () => {
    const { path: missing, dir: missingDir } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'gone', driver: 'sqlite', path: './nope.db' }],
    });
    const result = await runCli(['--config', missing, 'backup']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `Error: backup gone: dump: sqlite: open ${join(missingDir, 'nope.db')}: no such file`,
    );
    expect(filesUnder(join(missingDir, 'store'))).toEqual([]);
  });
});

describe('CLI usage and configuration errors', () => {
  it('exits 2 naming the field of an invalid config', async () => {
    const { path } = await writeConfig('storage: { type: local, path: x }\ntargets:\n  - { name: a, driver: mysql }\n');
    const result = await runCli(['--config', path, 'list']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'targets[0].driver: unknown driver "mysql" (expected one of: neo4j, postgres, sqlite)',
    );
  });

  it('exits 2 for a missing config file, an unknown target and a bad argument', async () => {
    const missing = await runCli(['--config', '/nonexistent/lifeboat.yaml', 'list']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('config: read /nonexistent/lifeboat.yaml: no such file');
    const { path } = await writeConfig({
      storage: { type: 'local', path: 's' },
      targets: [{ name: 'a', driver: 'sqlite', path: 'a.db' }],
    });
    const unknown = await runCli(['--config', path, 'backup', 'b']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown target "b" (configured: a)');
    const badTime = await runCli(['--config', path, 'restore', 'a', '--point-in-time', 'yesterday']);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('--point-in-time: "yesterday" is not an ISO 8601 time');
    const badFlag = await runCli(['--config', path, 'list', '--colour']);
    expect(badFlag.code).toBe(2);
  });

  it('config check prints the effective config with secrets redacted', async () => {
    const { path } = await writeConfig(
      'storage: { type: s3, bucket: backups, accessKeyId: AKIA, secretAccessKey: "${S3_SECRET}" }\ntargets:\n  - { name: a, driver: postgres, url: "postgres://u:inurl@h/db", password: pw-value }\n',
    );
    const result = await runCli(['--config', path, 'config', 'check'], { S3_SECRET: 'from-env-secret' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('secretAccessKey: <redacted>');
    for (const secret of ['from-env-secret', 'inurl', 'pw-value'])
      expect(result.stdout + result.stderr).not.toContain(secret);
  });
});
