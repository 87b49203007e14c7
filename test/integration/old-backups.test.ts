// Backups written by an earlier Lifeboat (test/fixtures/written-by-0.1.0: single-stream gzip, age on top)
// are verified and restored by today's code: a SQLite file, the same file encrypted, and a PostgreSQL dump
// restored by the real pg_restore into a new database on the test server.
import { readFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, writeConfig } from '../harness/cli.js';
import { createDatabase, pgClient } from '../harness/postgres.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'written-by-0.1.0');
/** The fixture key's public half, from the `# public key:` line age-keygen wrote. */
const RECIPIENT = /public key: (age1\S+)/.exec(readFileSync(join(FIXTURE, 'age-identity.txt'), 'utf8'))?.[1] as string;

const pg = inject('postgres');

interface Manifest {
  id: string;
  artifacts: { compression: string; sha256: string; rawSha256: string }[];
}

describe('backups written before compression was configurable', () => {
  let dir: string;
  let config: string;

  beforeAll(async () => {
    ({ dir, path: config } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [
        { name: 'plain', driver: 'sqlite', path: './live.db' },
        {
          name: 'sealed',
          driver: 'sqlite',
          path: './live.db',
          encryption: {
            recipients: [RECIPIENT],
            identityFile: './age-identity.txt',
          },
        },
        {
          name: 'shop',
          driver: 'postgres',
          url: `postgres://${pg.user}@${pg.host}:${pg.port}/shop_live_not_touched`,
          password: pg.password,
        },
      ],
    }));
    await cp(join(FIXTURE, 'store'), join(dir, 'store'), { recursive: true });
    await cp(join(FIXTURE, 'age-identity.txt'), join(dir, 'age-identity.txt'));
  });

  it('lists them with their manifests and verifies every byte against the old sums', async () => {
    for (const target of ['plain', 'sealed', 'shop']) {
      const listed = await runCli(['--config', config, 'list', target, '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      const manifests = JSON.parse(listed.stdout) as Manifest[];
      expect(manifests).toHaveLength(1);
      expect(manifests[0]?.artifacts[0]?.compression).toBe('gzip');
      const verified = await runCli(['--config', config, 'verify', target, '--json']);
      expect(verified.code, `${target}: ${verified.stderr}`).toBe(0);
      expect(verified.stdout).toContain(manifests[0]?.id);
    }
  });

  it('restores the SQLite file, plain and encrypted, with every row', async () => {
    for (const target of ['plain', 'sealed']) {
      const to = join(dir, `${target}-restored.db`);
      const restored = await runCli(['--config', config, 'restore', target, '--to', to]);
      expect(restored.code, `${target}: ${restored.stderr}`).toBe(0);
      const db = new Database(to, { readonly: true });
      try {
        expect(db.prepare('SELECT count(*) FROM customers').pluck().get()).toBe(500);
        expect(db.prepare('SELECT count(*) FROM orders').pluck().get()).toBe(3000);
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        db.close();
      }
    }
  });

  it('restores the PostgreSQL dump into a new database with pg_restore', async () => {
    const scratch = await createDatabase(pg, 'old_backup');
    const to = `postgres://${pg.user}:${pg.password}@${pg.host}:${pg.port}/${scratch}`;
    const restored = await runCli(['--config', config, 'restore', 'shop', '--to', to]);
    expect(restored.code, restored.stderr).toBe(0);
    const client = await pgClient(pg, scratch);
    try {
      const counts = await client.query(
        "SELECT (SELECT count(*) FROM customers)::int AS c, (SELECT count(*) FROM orders)::int AS o, (SELECT sum((profile->>'n')::int) FROM customers)::int AS n",
      );
      expect(counts.rows[0]).toEqual({ c: 2000, o: 5000, n: (2000 * 2001) / 2 });
    } finally {
      await client.end();
    }
  });
});
