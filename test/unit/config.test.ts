// Configuration: parsing, interpolation, secret files, and errors that name the field at fault.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, redactConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, { env, baseDir: '/base' });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const valid = `
storage: { type: local, path: ./var/backups }
targets:
  - { name: audit, driver: sqlite, path: data/audit.db }
  - { name: app-db, driver: postgres, url: "postgres://app@db:5432/app", password: "\${PG_PASSWORD}" }
`;

describe('config', () => {
  it('parses a valid file, applies defaults, resolves paths and interpolates the environment', () => {
    const config = parseConfig(valid, { env: { PG_PASSWORD: 's3cret' }, baseDir: '/base' });
    expect(config.storage).toEqual({ type: 'local', path: '/base/var/backups', prefix: '', verifyUpload: 'checksum' });
    expect(config.targets[0]).toEqual({ name: 'audit', driver: 'sqlite', path: '/base/data/audit.db' });
    const pg = config.targets[1];
    expect(pg?.driver === 'postgres' && pg.password).toBe('s3cret');
    expect(pg?.driver === 'postgres' && pg.format).toBe('custom');
    expect(Object.isFrozen(config.targets)).toBe(true);
  });

  it('names an unknown driver and lists the known ones', () => {
    const issues = issuesOf(`
storage: { type: local, path: x }
targets:
  - { name: a, driver: sqlite, path: a.db }
  - { name: b, driver: mysql }
`);
    expect(issues).toEqual(['targets[1].driver: unknown driver "mysql" (expected one of: postgres, sqlite)']);
  });

  it('reports unknown keys, bad names, missing fields and duplicates with their paths', () => {
    const issues = issuesOf(`
storage: { type: s3, bucket: backups, accessKeyId: AKIA }
targets:
  - { name: "Bad Name", driver: sqlite, path: a.db, colour: blue }
  - { name: b, driver: sqlite }
  - { name: b, driver: sqlite, path: c.db }
`);
    expect(issues).toEqual(
      expect.arrayContaining([
        'targets[0].colour: unknown key',
        'targets[0].name: must match [a-z0-9][a-z0-9_-]{0,62} (it becomes part of object keys)',
        'targets[1].path: required',
      ]),
    );
    const second = issuesOf(`
storage: { type: s3, bucket: backups, accessKeyId: AKIA }
targets:
  - { name: b, driver: sqlite, path: b.db }
  - { name: b, driver: sqlite, path: c.db }
`);
    expect(second).toEqual([
      'targets[1].name: duplicate target name "b"',
      'storage.accessKeyId: accessKeyId and a secret key go together (or omit both for the default chain)',
    ]);
  });

  it('names an unknown storage type and a missing environment variable', () => {
    expect(issuesOf('storage: { type: ftp }\ntargets: [{ name: a, driver: sqlite, path: a }]')).toEqual([
      'storage.type: unknown type "ftp" (expected one of: local, s3)',
    ]);
    expect(
      issuesOf('storage: { type: local, path: "${NOPE}" }\ntargets: [{ name: a, driver: sqlite, path: a }]'),
    ).toEqual(['storage.path: environment variable NOPE is not set']);
  });

  it('reports YAML syntax errors', () => {
    expect(issuesOf('storage: [unclosed')[0]).toMatch(/^config: YAML: /);
  });

  it('reads secrets from files and names a missing secret file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-cfg-'));
    await writeFile(join(dir, 's3_secret'), 'very-secret\n');
    const text = `
storage: { type: s3, bucket: backups, accessKeyId: AKIA, secretAccessKeyFile: s3_secret }
targets:
  - { name: db, driver: postgres, url: "postgres://u@h/db", passwordFile: /nonexistent/pg_password }
`;
    expect(() => parseConfig(text, { baseDir: dir })).toThrow(
      'targets[0].passwordFile: read secret file /nonexistent/pg_password: ENOENT',
    );
    const config = parseConfig(text.replace(', passwordFile: /nonexistent/pg_password', ''), { baseDir: dir });
    expect(config.storage.type === 's3' && config.storage.secretAccessKey).toBe('very-secret');
  });

  it('redacts every secret and URL password when shown', () => {
    const config = parseConfig(valid.replace('app@db', 'app:urlpass@db'), {
      env: { PG_PASSWORD: 's3cret' },
      baseDir: '/b',
    });
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toContain('s3cret');
    expect(shown).not.toContain('urlpass');
    expect(shown).toContain('<redacted>');
  });
});
