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

  it('reads a physical PostgreSQL target: its WAL settings, defaults and paths, and names a bad slot', () => {
    const config = parseConfig(
      `
storage: { type: local, path: x }
targets:
  - { name: app-db, driver: postgres, host: db, method: physical, wal: { spool: spool/wal }, drill: { to: scratch } }
`,
      { baseDir: '/base' },
    );
    const pg = config.targets[0];
    expect(pg?.driver === 'postgres' && pg.method).toBe('physical');
    expect(pg?.driver === 'postgres' && pg.wal).toEqual({
      spool: '/base/spool/wal',
      receive: true,
      partialInterval: '10s',
      retainedWarning: 1024 ** 3,
    });
    expect(pg?.drill?.to).toBe('/base/scratch');
    expect(pg?.drill?.pointInTimeAgo).toBe('1m');
    const logical = parseConfig(valid, { env: { PG_PASSWORD: 'x' }, baseDir: '/base' }).targets[1];
    expect(logical?.driver === 'postgres' && logical.method).toBe('logical');
    expect(
      issuesOf(`
storage: { type: local, path: x }
targets:
  - { name: a, driver: postgres, method: physical, wal: { slot: "Bad-Slot", partialInterval: soon } }
`),
    ).toEqual([
      'targets[0].wal.slot: must be a replication slot name: lower-case letters, digits, _',
      'targets[0].wal.partialInterval: must be a duration like "30s", "5m", "1h30m" or "7d"',
    ]);
  });

  it('names an unknown driver and lists the known ones', () => {
    const issues = issuesOf(`
storage: { type: local, path: x }
targets:
  - { name: a, driver: sqlite, path: a.db }
  - { name: b, driver: mysql }
`);
    expect(issues).toEqual(['targets[1].driver: unknown driver "mysql" (expected one of: neo4j, postgres, sqlite)']);
  });

  it('refuses drill.to and a relative dataPath for a Neo4j target reached through Docker, naming them', () => {
    const issues = issuesOf(`
storage: { type: local, path: x }
targets:
  - name: graph
    driver: neo4j
    access: docker
    docker: { container: neo4j, dataPath: data }
    drill: { to: /tmp/scratch }
`);
    expect(issues).toEqual([
      'targets[0].docker.dataPath: must be an absolute path',
      'targets[0].drill.to: not used with access "docker": drills load into a new Docker volume and a throwaway container',
    ]);
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

  it('refuses an empty secret file, naming the field and the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-cfg-'));
    await writeFile(join(dir, 'pg_password'), '\n');
    const text = `
storage: { type: local, path: /b }
targets:
  - { name: db, driver: postgres, url: "postgres://u@h/db", passwordFile: pg_password }
`;
    expect(() => parseConfig(text, { baseDir: dir })).toThrow(
      'targets[0].passwordFile: secret file pg_password is empty',
    );
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

  it('names a bad cron pattern, time zone, duration or retention count by its path', () => {
    const issues = issuesOf(`
storage: { type: local, path: x }
defaults: { schedule: "61 * * * *", jitter: 5 minutes }
daemon: { shutdownGracePeriod: soon, concurrency: 0 }
metrics: { listen: "9464" }
targets:
  - { name: a, driver: sqlite, path: a.db, timezone: Mars/Olympus, retention: { daily: -1, hourly: 3 } }
  - { name: b, driver: sqlite, path: b.db, schedule: "* * * *" }
`);
    expect(issues).toEqual(
      expect.arrayContaining([
        'defaults.schedule: invalid cron pattern: Invalid value for minute: 61',
        'defaults.jitter: must be a duration like "30s", "5m", "1h30m" or "7d"',
        'daemon.shutdownGracePeriod: must be a duration like "30s", "5m", "1h30m" or "7d"',
        'daemon.concurrency: Too small: expected number to be >=1',
        'metrics.listen: must be host:port, e.g. "0.0.0.0:9464"',
        'targets[0].timezone: unknown IANA time zone (e.g. "UTC", "Europe/Berlin")',
        'targets[0].retention.daily: Too small: expected number to be >=0',
        'targets[0].retention.hourly: unknown key',
        expect.stringMatching(/^targets\[1\]\.schedule: invalid cron pattern: .*five, six/),
      ]),
    );
  });

  it('fills the daemon, metrics and defaults sections, and target settings inherit from defaults', async () => {
    const { effectiveSettings } = await import('../../src/scheduler/settings.js');
    const config = parseConfig(
      `
storage: { type: local, path: x }
defaults: { schedule: "0 3 * * *", timezone: Europe/Berlin, retention: { daily: 7 }, retries: 4 }
targets:
  - { name: a, driver: sqlite, path: a.db }
  - { name: b, driver: sqlite, path: b.db, schedule: "*/5 * * * * *", retries: 0, retention: { last: 3, timezone: UTC } }
`,
      { baseDir: '/base' },
    );
    expect(config.daemon).toEqual({ concurrency: 1, shutdownGracePeriod: '60s', incompleteGracePeriod: '24h' });
    expect(config.metrics).toEqual({ enabled: true, listen: '0.0.0.0:9464' });
    const [a, b] = config.targets.map((t) => effectiveSettings(config, t));
    expect(a).toMatchObject({
      timezone: 'Europe/Berlin',
      retries: 4,
      timeoutMs: 12 * 3_600_000,
      retryDelayMs: 60_000,
      jitterMs: 0,
      catchUp: true,
      retention: { daily: 7, timezone: 'Europe/Berlin' },
    });
    expect(a?.schedule?.pattern).toBe('0 3 * * *');
    expect(b).toMatchObject({ retries: 0, retention: { last: 3, timezone: 'UTC' } });
    expect(b?.schedule?.intervalSeconds(new Date('2026-01-01T00:00:00Z'))).toBe(5);
  });

  it('reads webhook URLs from files and never shows their path or query', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-cfg-'));
    await writeFile(join(dir, 'hook'), 'https://hooks.example.com/services/T000/B000/XXXXSECRET\n');
    const config = parseConfig(
      `
storage: { type: local, path: x }
defaults:
  webhooks: [{ urlFile: ./hook }]
targets:
  - name: a
    driver: sqlite
    path: a.db
    webhooks: [{ url: "https://chat.example.org/hook?token=abc123", on: [success, failure] }]
`,
      { baseDir: dir },
    );
    expect(config.defaults.webhooks?.[0]?.url).toBe('https://hooks.example.com/services/T000/B000/XXXXSECRET');
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toContain('XXXXSECRET');
    expect(shown).not.toContain('abc123');
    expect(shown).toContain('https://hooks.example.com/<redacted>');
    expect(
      issuesOf(
        'storage: { type: local, path: x }\ntargets: [{ name: a, driver: sqlite, path: a.db, webhooks: [{ on: [failure] }] }]',
      ),
    ).toEqual(['targets[0].webhooks[0]: set exactly one of url or urlFile']);
  });
});
