// Encrypted backups (age v1) end to end: a write-only daemon key, restores and drills with the identity, the
// real `age` command reading Lifeboat's files and Lifeboat reading age's, key rotation, wrong keys, tampered
// and truncated ciphertext, plaintext and encrypted backups side by side; SQLite files and PostgreSQL on S3.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { AgeDecrypter, AgeEncrypter } from '../../src/pipeline/age.js';
import { type AgeKey, ageDecrypt, ageEncrypt, ageKeygen } from '../harness/age.js';
import { clockAt, drillJson, runCli, writeConfig } from '../harness/cli.js';
import { createDatabase, pgClient } from '../harness/postgres.js';
import { randomPrefix, s3StorageConfig } from '../harness/s3.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface ManifestJson {
  id: string;
  artifacts: {
    key: string;
    size: number;
    sha256: string;
    rawSha256: string;
    encryption?: { format: string; recipients: string[] };
  }[];
}

function rows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return Number(db.prepare('SELECT count(*) FROM t').pluck().get());
  } finally {
    db.close();
  }
}

function addRows(path: string, n: number): void {
  const db = new Database(path);
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, note TEXT)');
  const insert = db.prepare("INSERT INTO t (note) VALUES ('row ' || ?)");
  db.transaction(() => {
    for (let i = 0; i < n; i += 1) insert.run(i);
  })();
  db.close();
}

describe('age interoperability of the streams themselves', () => {
  it('age opens what Lifeboat encrypts, and Lifeboat opens what age encrypts, at chunk edges too', async () => {
    const key = await ageKeygen();
    for (const size of [0, 1, 65_535, 65_536, 65_537, 131_072, 400_000]) {
      const plain = Buffer.alloc(size, 7);
      for (let i = 0; i < size; i += 97) plain[i] = i % 251;
      const ours = await buffer(Readable.from([plain]).pipe(new AgeEncrypter([key.recipient])));
      expect(ageDecrypt(key.identityFile, ours).equals(plain), `age -d of ${size} bytes`).toBe(true);
      const theirs = ageEncrypt(key.recipient, plain);
      const opened = await buffer(Readable.from([theirs]).pipe(new AgeDecrypter([key.identity])));
      expect(opened.equals(plain), `ours of age's ${size} bytes`).toBe(true);
    }
  });
});

describe('encrypted SQLite backups', () => {
  let dir: string;
  let writer: string;
  let reader: string;
  let keyA: AgeKey;
  let keyB: AgeKey;
  let live: string;

  const configs = async (recipient: string, identityFiles: string[]) => {
    const identities = identityFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
    writeFileSync(join(dir, 'identities.txt'), identities);
    writeFileSync(
      join(dir, 'writer.yaml'),
      JSON.stringify({
        storage: { type: 'local', path: './store', encryption: { recipients: [recipient] } },
        targets: [{ name: 'app', driver: 'sqlite', path: './app.db' }],
      }),
    );
    writeFileSync(
      join(dir, 'reader.yaml'),
      JSON.stringify({
        storage: {
          type: 'local',
          path: './store',
          encryption: { recipients: [recipient], identityFile: './identities.txt' },
        },
        targets: [{ name: 'app', driver: 'sqlite', path: './app.db' }],
      }),
    );
  };

  beforeAll(async () => {
    ({ dir, path: writer } = await writeConfig({}));
    reader = join(dir, 'reader.yaml');
    writer = join(dir, 'writer.yaml');
    keyA = await ageKeygen();
    keyB = await ageKeygen();
    live = join(dir, 'app.db');
    addRows(live, 1000);
  });

  it('backs up with the public key only, verifies what it can, and restores only with the identity', async () => {
    // An older plaintext backup stays beside the encrypted ones (migration).
    writeFileSync(
      join(dir, 'plain.yaml'),
      JSON.stringify({
        storage: { type: 'local', path: './store' },
        targets: [{ name: 'app', driver: 'sqlite', path: './app.db' }],
      }),
    );
    // Older: its clock starts ten minutes back.
    const plain = await runCli(['--config', join(dir, 'plain.yaml'), 'backup', 'app'], clockAt(Date.now() - 600_000));
    expect(plain.code, plain.stderr).toBe(0);
    addRows(live, 500);
    await configs(keyA.recipient, [keyA.identityFile]);
    const backup = await runCli(['--config', writer, 'backup', 'app', '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const [manifest] = JSON.parse(backup.stdout) as ManifestJson[];
    const artifact = manifest?.artifacts[0];
    expect(artifact?.key).toMatch(/database\.sqlite3\.gz\.age$/);
    expect(artifact?.encryption?.format).toBe('age-v1');
    expect(artifact?.encryption?.recipients[0]).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(readFileSync(writer, 'utf8')).not.toContain('AGE-SECRET-KEY');

    // A person with the key and no Lifeboat: age -d | gunzip gives the dump the manifest describes.
    const stored = readFileSync(join(dir, 'store', ...(artifact?.key ?? '').split('/')));
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(sha256(gunzipSync(ageDecrypt(keyA.identityFile, stored)))).toBe(artifact?.rawSha256);

    const list = await runCli(['--config', writer, 'list', 'app']);
    expect(list.stdout).toMatch(new RegExp(`${manifest?.id}.*age`));
    expect(list.stdout.split('\n').filter((l) => / -$/.test(l.trim()))).toHaveLength(1);

    const verify = await runCli(['--config', writer, 'verify', 'app']);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toContain('the content check needs encryption.identityFile');

    const refused = await runCli(['--config', writer, 'restore', 'app', '--to', join(dir, 'nokey.db')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is encrypted (age, for sha256:');
    expect(refused.stderr).toContain('Try: set encryption.identityFile');

    const restored = await runCli(['--config', reader, 'restore', 'app', '--to', join(dir, 'with-key.db')]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(rows(join(dir, 'with-key.db'))).toBe(1500);
    const older = JSON.parse((await runCli(['--config', reader, 'list', 'app', '--json'])).stdout) as ManifestJson[];
    const plainId = older.find((m) => m.artifacts[0]?.encryption === undefined)?.id as string;
    const old = await runCli([
      '--config',
      reader,
      'restore',
      'app',
      '--backup',
      plainId,
      '--to',
      join(dir, 'plain.db'),
    ]);
    expect(old.code, old.stderr).toBe(0);
    expect(rows(join(dir, 'plain.db'))).toBe(1000);

    const deep = await runCli(['--config', reader, 'verify', 'app', '--all']);
    expect(deep.code, deep.stdout).toBe(0);
    expect(deep.stdout).not.toContain('content check needs');

    const drill = await drillJson(reader, 'app');
    expect(drill.code, drill.stderr).toBe(0);
    expect(drill.record.ok).toBe(true);
    const report = await runCli(['--config', writer, 'report', '--format', 'md']);
    expect(report.stdout).toContain('Newest backup: encrypted (age), not locked.');
  });

  it('opens old and new backups after a key rotation, and refuses a key that opens nothing', async () => {
    await configs(keyB.recipient, [keyA.identityFile, keyB.identityFile]);
    addRows(live, 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const rotated = await runCli(['--config', writer, 'backup', 'app', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const all = JSON.parse((await runCli(['--config', reader, 'list', 'app', '--json'])).stdout) as ManifestJson[];
    const fingerprints = new Set(all.flatMap((m) => m.artifacts[0]?.encryption?.recipients ?? []));
    expect(fingerprints.size).toBe(2);
    for (const manifest of all) {
      const to = join(dir, `rotated-${manifest.id}.db`);
      const result = await runCli(['--config', reader, 'restore', 'app', '--backup', manifest.id, '--to', to]);
      expect(result.code, result.stderr).toBe(0);
    }
    // Only key B: the backups made for key A cannot be opened, and nothing is written.
    await configs(keyB.recipient, [keyB.identityFile]);
    const forA = all.find((m) => m.artifacts[0]?.encryption !== undefined && m.id !== all[0]?.id) as ManifestJson;
    const to = join(dir, 'wrong-key.db');
    const wrong = await runCli(['--config', reader, 'restore', 'app', '--backup', forA.id, '--to', to]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('none of the identities given opens this file');
    expect(wrong.stderr).toContain('Try: add the key this backup was encrypted for');
    expect(readdirSync(dir).filter((f) => f.startsWith('wrong-key') || f.includes('lifeboat-restore'))).toEqual([]);
  });

  it('fails on tampered and on truncated ciphertext, even with matching stored checksums, touching nothing', async () => {
    await configs(keyA.recipient, [keyA.identityFile]);
    const made = JSON.parse((await runCli(['--config', writer, 'backup', 'app', '--json'])).stdout) as ManifestJson[];
    const manifest = made[0] as ManifestJson;
    const artifact = manifest.artifacts[0] as ManifestJson['artifacts'][number];
    const file = join(dir, 'store', ...artifact.key.split('/'));
    const manifestFile = join(dir, 'store', 'app', manifest.id, 'manifest.json');
    const original = readFileSync(file);
    const target = join(dir, 'tamper.db');
    addRows(target, 3);
    const before = readFileSync(target);
    // Changed bytes (and a manifest rewritten to match them: only the cipher's own check can catch it).
    const cases: [string, Buffer, RegExp][] = [
      [
        'tampered',
        Buffer.from(original.map((b, i) => (i === original.length - 40 ? b ^ 1 : b))),
        /does not authenticate/,
      ],
      ['truncated', original.subarray(0, original.length - 100), /truncated|does not authenticate/],
    ];
    for (const [what, bytes, message] of cases) {
      writeFileSync(file, bytes);
      const edited = JSON.parse(readFileSync(manifestFile, 'utf8'));
      edited.artifacts[0].size = bytes.length;
      edited.artifacts[0].sha256 = sha256(bytes);
      writeFileSync(manifestFile, JSON.stringify(edited));
      const result = await runCli([
        '--config',
        reader,
        'restore',
        'app',
        '--backup',
        manifest.id,
        '--to',
        target,
        '--force',
      ]);
      expect(result.code, what).toBe(1);
      expect(result.stderr, what).toMatch(message);
      expect(result.stderr, what).toContain('destination untouched');
      expect(readFileSync(target).equals(before), what).toBe(true);
      const drill = await drillJson(reader, 'app', '--backup', manifest.id);
      expect(drill.record.ok, what).toBe(false);
      expect(drill.record.failure?.message, what).toMatch(message);
    }
  });

  it('refuses to schedule drills of an encrypted target without its key', async () => {
    const key = await ageKeygen();
    const { path } = await writeConfig({
      storage: { type: 'local', path: './store', encryption: { recipients: [key.recipient] } },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db', drill: { schedule: '0 4 * * *' } }],
    });
    const result = await runCli(['--config', path, 'config', 'check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('targets[0].drill.schedule: drills of an encrypted target need its key');
    const bad = await writeConfig({
      storage: { type: 'local', path: './store', encryption: { recipients: ['age1notakey'] } },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db' }],
    });
    const refused = await runCli(['--config', bad.path, 'config', 'check']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('storage.encryption.recipients[0]: must be an age X25519 recipient');
    const shown = await runCli(['--config', join(dir, 'reader.yaml'), 'config', 'check']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).not.toContain('AGE-SECRET-KEY');
  });
});

describe('encrypted PostgreSQL backups on S3', () => {
  const pg = inject('postgres');
  const s3 = inject('s3');

  it('backs up, restores and drills an encrypted PostgreSQL target', async () => {
    const database = await createDatabase(pg, 'enc');
    const client = await pgClient(pg, database);
    await client.query(
      "CREATE TABLE t (id serial PRIMARY KEY, note text); INSERT INTO t (note) SELECT 'n' || g FROM generate_series(1, 5000) g",
    );
    await client.end();
    const key = await ageKeygen();
    const { dir, path } = await writeConfig({
      storage: {
        ...s3StorageConfig(s3, randomPrefix('enc')),
        encryption: { recipients: [key.recipient], identityFile: key.identityFile },
      },
      targets: [
        {
          name: 'db',
          driver: 'postgres',
          url: `postgres://${pg.user}@${pg.host}:${pg.port}/${database}`,
          password: pg.password,
        },
      ],
    });
    await writeFile(join(dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    const backup = await runCli(['--config', path, 'backup', 'db', '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const [manifest] = JSON.parse(backup.stdout) as ManifestJson[];
    expect(manifest?.artifacts[0]?.key).toMatch(/dump\.pgcustom\.gz\.age$/);
    const restoredDb = await createDatabase(pg, 'enc_restored');
    const restored = await runCli([
      '--config',
      path,
      'restore',
      'db',
      '--to',
      `postgres://${pg.user}:${pg.password}@${pg.host}:${pg.port}/${restoredDb}`,
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    const check = await pgClient(pg, restoredDb);
    expect((await check.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 5000 }]);
    await check.end();
    const drill = await drillJson(path, 'db');
    expect(drill.code, drill.stderr).toBe(0);
    expect(drill.record.checks.find((c) => c.name === 'row counts')?.ok).toBe(true);
  });
});
