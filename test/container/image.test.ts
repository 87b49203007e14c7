// The Lifeboat image, built from the Dockerfile and used as a user uses it: `--version` and `config check`,
// a non-root user, a read-only root file system with a tmpfs on /tmp, the HEALTHCHECK, a SQLite file on a
// shared volume and a PostgreSQL server on the container network backed up by the daemon, and `docker stop`
// in the middle of a backup. The base image and the PostgreSQL client are local stand-ins (see
// test/harness/lifeboat-image.ts); everything else is the Dockerfile's own.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { logLines } from '../harness/cli.js';
import { waitFor } from '../harness/free-port.js';
import {
  type BuiltImage,
  buildLifeboatImage,
  docker,
  dockerOk,
  HARDENED,
  IMAGE_BUILD_HOOK_TIMEOUT,
} from '../harness/lifeboat-image.js';

const { engine, images } = inject('docker');
const version = (
  JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

/** Files under a folder, relative, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** A folder the container's `node` user (uid 1000) may write to. */
async function sharedDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `lifeboat-image-${label}-`));
  await chmod(dir, 0o777);
  return dir;
}

async function health(name: string): Promise<string> {
  return (await dockerOk(engine, ['inspect', '--format', '{{.State.Health.Status}}', name])).trim();
}

/** A PostgreSQL target on the `db` container of the test network, its password from the mounted file. */
function pgTarget(name: string, database: string): Record<string, unknown> {
  return {
    name,
    driver: 'postgres',
    url: `postgres://postgres@db:5432/${database}`,
    passwordFile: '/etc/lifeboat/pg_password',
  };
}

describe('the Lifeboat image (built from the Dockerfile)', { timeout: 900_000 }, () => {
  const run = randomBytes(4).toString('hex');
  const network = `lifeboat-image-${run}`;
  const db = `lifeboat-image-db-${run}`;
  const containers: string[] = [db];
  const dirs: string[] = [];
  const password = `pw${randomBytes(8).toString('hex')}`;
  let image: BuiltImage;
  let pgPort: number;

  async function pgQuery(database: string, sql: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'postgres', password, database });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  }

  /** A config folder (lifeboat.yaml and the password file) for a daemon in a container. */
  async function configDir(config: Record<string, unknown>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-image-config-'));
    dirs.push(dir);
    await writeFile(join(dir, 'lifeboat.yaml'), stringify(config));
    await writeFile(join(dir, 'pg_password'), `${password}\n`);
    await chmod(dir, 0o755);
    for (const file of ['lifeboat.yaml', 'pg_password']) await chmod(join(dir, file), 0o644);
    return dir;
  }

  /** `docker run -d` of the daemon as the compose example runs it: read-only root, tmpfs /tmp, no capabilities. */
  async function startDaemon(name: string, config: string, mounts: string[]): Promise<void> {
    containers.push(name);
    await dockerOk(engine, [
      'run',
      '--detach',
      '--name',
      name,
      '--label',
      'org.lifeboat.test=image',
      '--network',
      network,
      ...HARDENED,
      '--init',
      '--volume',
      `${config}:/etc/lifeboat:ro`,
      ...mounts.flatMap((m) => ['--volume', m]),
      image.name,
      'daemon',
    ]);
  }

  beforeAll(async () => {
    image = await buildLifeboatImage(engine, images);
    console.log(`lifeboat image: ${(image.bytes / 1e6).toFixed(1)} MB, built in ${image.seconds.toFixed(1)} s`);
    await dockerOk(engine, ['network', 'create', '--label', 'org.lifeboat.test=image', network]);
    await dockerOk(engine, [
      'run',
      '--detach',
      '--name',
      db,
      '--label',
      'org.lifeboat.test=image',
      '--network',
      network,
      '--network-alias',
      'db',
      '--env',
      `POSTGRES_PASSWORD=${password}`,
      '--publish',
      '127.0.0.1::5432',
      images.postgres,
      'postgres',
    ]);
    const published = (await dockerOk(engine, ['port', db, '5432/tcp'])).trim().split('\n')[0] ?? '';
    pgPort = Number(published.split(':').at(-1));
    await waitFor(
      'postgres in its container',
      async () => (await pgQuery('postgres', 'SELECT 1')).rowCount === 1,
      120_000,
    );
    await pgQuery('postgres', 'CREATE DATABASE app');
    await pgQuery('postgres', 'CREATE DATABASE big');
    await pgQuery('app', 'CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g');
    // About 90 MB of dump: seconds of work, so `docker stop` lands in the middle of the backup.
    await pgQuery(
      'big',
      `CREATE TABLE blob AS SELECT g AS id, md5(g::text) || repeat(md5((g * 7)::text), 6) AS payload
         FROM generate_series(1, 400000) g`,
    );
  }, IMAGE_BUILD_HOOK_TIMEOUT);

  afterAll(async () => {
    for (const name of containers) await docker(engine, ['rm', '--force', '--volumes', name]);
    await docker(engine, ['network', 'rm', network]);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /** What a shell script prints in a new container of the image. */
  const shellInImage = (script: string) =>
    dockerOk(engine, ['run', '--rm', '--entrypoint', 'sh', image.name, '-c', script]);

  it('is under 250 MB and holds no build tools, dev dependencies, sources or tests', async () => {
    expect(image.bytes).toBeLessThan(250e6);
    const listing = await shellInImage(
      'ls /app; ls /app/dist; ls /app/node_modules; for t in gcc make g++ python3 tsc; do command -v $t || true; done',
    );
    const names = listing.split('\n');
    expect(names).toContain('dist');
    // The bundle, as `npm run build` makes it, and in node_modules only the packages it loads from there.
    expect(names).toContain('cli');
    for (const kept of ['better-sqlite3', 'dockerode', 'neo4j-driver']) expect(names).toContain(kept);
    for (const bundled of ['@aws-sdk', 'zod', 'yaml', 'pino', 'pg', 'croner'])
      expect(names, bundled).not.toContain(bundled);
    for (const absent of ['src', 'test', 'bench', 'typescript', 'vitest', '@biomejs', 'testcontainers', 'node']) {
      expect(names, absent).not.toContain(absent);
    }
    expect(names.filter((n) => n.startsWith('/'))).toEqual([]);
    // What pg_dump runs with: stdbuf for its 1 MiB output buffer, ionice for `priority.io: idle`.
    const tools = await shellInImage('for t in stdbuf ionice; do command -v $t; done');
    expect(tools.trim().split('\n')).toEqual(['/usr/bin/stdbuf', '/usr/bin/ionice']);
  });

  it('answers --version and `config check` as a user runs them, and names the field of a bad config', async () => {
    const shown = await docker(engine, ['run', '--rm', image.name, '--version']);
    expect(shown.code).toBe(0);
    expect(shown.stdout.trim()).toBe(version);
    const good = await configDir({
      storage: { type: 'local', path: '/backups' },
      targets: [pgTarget('app-db', 'app')],
    });
    const checked = await docker(engine, [
      'run',
      '--rm',
      '--volume',
      `${good}:/etc/lifeboat:ro`,
      image.name,
      'config',
      'check',
    ]);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toContain('app-db');
    const bad = await configDir({
      storage: { type: 'local', path: '/backups' },
      targets: [{ name: 'x', driver: 'mysql' }],
    });
    const refused = await docker(engine, [
      'run',
      '--rm',
      '--volume',
      `${bad}:/etc/lifeboat:ro`,
      image.name,
      'config',
      'check',
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('targets[0].driver: unknown driver "mysql"');
  });

  it('runs as the non-root `node` user', async () => {
    expect((await dockerOk(engine, ['image', 'inspect', '--format', '{{.Config.User}}', image.name])).trim()).toBe(
      'node',
    );
    const id = await dockerOk(engine, ['run', '--rm', '--entrypoint', 'id', image.name]);
    expect(id).toMatch(/^uid=1000\(node\) gid=1000\(node\)/);
  });

  it('read-only root, tmpfs /tmp: backs up a SQLite file on a shared volume and PostgreSQL on its network, turns healthy', async () => {
    const data = await sharedDir('data');
    const backups = await sharedDir('backups');
    dirs.push(data, backups);
    const sqlite = new Database(join(data, 'app.db'));
    sqlite.exec(
      "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('a'), ('b'), ('c');",
    );
    sqlite.close();
    await chmod(join(data, 'app.db'), 0o666);
    const config = await configDir({
      storage: { type: 'local', path: '/backups' },
      defaults: { schedule: '0 3 * * *', retries: 0 },
      metrics: { listen: '0.0.0.0:9464' },
      targets: [pgTarget('app-db', 'app'), { name: 'notes', driver: 'sqlite', path: '/data/app.db' }],
    });
    const name = `lifeboat-image-daemon-${run}`;
    await startDaemon(name, config, [`${data}:/data`, `${backups}:/backups`]);
    // The catch-up backups at start-up (no backup yet), then the HEALTHCHECK's verdict.
    await waitFor(
      'both backups in the store',
      async () => (await filesUnder(backups)).filter((f) => f.endsWith('manifest.json')).length === 2,
      180_000,
    );
    await waitFor('the container to turn healthy', async () => (await health(name)) === 'healthy', 120_000);
    const listed = await docker(engine, ['exec', name, 'lifeboat', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const backupsListed = JSON.parse(listed.stdout) as { target: string }[];
    expect(backupsListed.map((b) => b.target).sort()).toEqual(['app-db', 'notes']);
    // Read back through the image's own tools: pg_restore for the archive, SQLite for the copy.
    for (const target of ['app-db', 'notes']) {
      const verified = await docker(engine, ['exec', name, 'lifeboat', 'verify', target]);
      expect(verified.code, verified.stderr).toBe(0);
    }
    // The root file system really is read-only for the daemon's user, /tmp is not.
    const write = await docker(engine, ['exec', name, 'sh', '-c', 'touch /app/x 2>&1; touch /tmp/x && echo tmp-ok']);
    expect(write.stdout).toContain('Read-only file system');
    expect(write.stdout).toContain('tmp-ok');
    const stopped = await docker(engine, ['stop', '--time', '30', name]);
    expect(stopped.code).toBe(0);
    expect((await dockerOk(engine, ['inspect', '--format', '{{.State.ExitCode}}', name])).trim()).toBe('0');
  });

  it('`docker stop` in the middle of a backup ends within the grace period and leaves no partial backup', async () => {
    const backups = await sharedDir('stop');
    dirs.push(backups);
    const config = await configDir({
      storage: { type: 'local', path: '/backups' },
      defaults: { schedule: '0 3 * * *', retries: 0 },
      daemon: { shutdownGracePeriod: '300ms' },
      targets: [pgTarget('big', 'big')],
    });
    const name = `lifeboat-image-stop-${run}`;
    await startDaemon(name, config, [`${backups}:/backups`]);
    await waitFor(
      'pg_dump copying the table',
      async () =>
        (
          await pgQuery(
            'postgres',
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'lifeboat' AND query LIKE 'COPY %' AND datname = 'big'",
          )
        ).rows[0].n === 1,
      120_000,
    );
    const started = Date.now();
    const stopped = await docker(engine, ['stop', '--time', '30', name]);
    const seconds = (Date.now() - started) / 1000;
    expect(stopped.code).toBe(0);
    expect(seconds).toBeLessThan(30);
    expect((await dockerOk(engine, ['inspect', '--format', '{{.State.ExitCode}}', name])).trim()).toBe('0');
    const logs = logLines((await docker(engine, ['logs', name])).stderr);
    expect(logs.find((l) => l.event === 'daemon.stopped')).toMatchObject({ aborted: 1, clean: true });
    expect(logs.find((l) => l.event === 'backup.end')).toMatchObject({ result: 'failure', target: 'big' });
    // Nothing of the aborted backup: no artifact, no manifest, no temporary file.
    expect(await filesUnder(backups)).toEqual([]);
    const lingering = await pgQuery(
      'postgres',
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'lifeboat' AND datname = 'big'",
    );
    expect(lingering.rows[0].n).toBe(0);
  });
});
