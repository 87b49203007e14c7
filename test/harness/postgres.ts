// A throwaway PostgreSQL server: initdb + postgres on a free port in a temporary folder (not the system service),
// or, given a container place, a container started with testcontainers. One fixture API for both.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type ContainerPlace, startContainer } from './containers.js';
import { freePort, stopper, waitFor } from './free-port.js';

export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

const PASSWORD = 'lifeboat-test-secret';

/** Settings that make a test server fast and expendable (no durability). */
const FAST = [
  '-c',
  'fsync=off',
  '-c',
  'synchronous_commit=off',
  '-c',
  'full_page_writes=off',
  '-c',
  'max_connections=60',
];

/** The newest Debian PostgreSQL server binaries, or $LIFEBOAT_PG_BINDIR. */
export function postgresBinDir(): string {
  const fromEnv = process.env.LIFEBOAT_PG_BINDIR;
  if (fromEnv !== undefined) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) {
    throw new Error(
      'harness: no PostgreSQL server found under /usr/lib/postgresql; run `apt-get install postgresql` (see .ci/run)',
    );
  }
  return join(root, newest, 'bin');
}

/**
 * Starts a server with password (scram) authentication, as a local process or, given `on`, in a container;
 * returns it and a stop function.
 */
export async function startPostgres(
  on?: ContainerPlace,
): Promise<{ server: PostgresServer; stop: () => Promise<void> }> {
  if (on !== undefined) {
    const password = PASSWORD;
    const started = await startContainer(on, {
      port: 5432,
      env: { POSTGRES_PASSWORD: password },
      command: ['postgres', ...FAST],
    });
    const server: PostgresServer = { host: started.host, port: started.port, user: 'postgres', password };
    await waitForPostgres(server, () => undefined).catch(async (error) => {
      await started.stop();
      throw error;
    });
    return { server, stop: started.stop };
  }
  const binDir = postgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-pg-'));
  const data = join(dir, 'data');
  const password = PASSWORD;
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${password}\n`);
  // PostgreSQL refuses to run as root: run it as the "postgres" system user when we are root.
  const ids = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
  if (ids !== undefined) {
    await chown(dir, ids.uid, ids.gid);
    await chown(pwfile, ids.uid, ids.gid);
  }
  await chmod(dir, 0o700);
  const asUser = ids === undefined ? {} : { uid: ids.uid, gid: ids.gid };
  execFileSync(
    join(binDir, 'initdb'),
    [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ],
    { stdio: 'pipe', ...asUser },
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    join(binDir, 'postgres'),
    ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir, ...FAST],
    { stdio: ['ignore', 'ignore', 'pipe'], ...asUser },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-8000);
  });
  const server: PostgresServer = { host: '127.0.0.1', port, user: 'postgres', password };
  try {
    await waitForPostgres(server, () => {
      if (child.exitCode !== null) throw new Error(`postgres exited: ${log}`);
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { server, stop: stopper(child, 'SIGINT', dir) };
}

async function waitForPostgres(server: PostgresServer, alive: () => void): Promise<void> {
  await waitFor(
    'PostgreSQL',
    async () => {
      alive();
      const client = new pg.Client({ ...server, database: 'postgres' });
      client.on('error', () => undefined);
      await client.connect();
      await client.end();
      return true;
    },
    60_000,
  );
}

function systemUser(name: string): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
    const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error(
      `harness: running as root needs the "${name}" system user (created by Debian's postgresql package)`,
    );
  }
}

/** A client of the test server (superuser), to a given database. */
export async function pgClient(server: PostgresServer, database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database,
  });
  await client.connect();
  return client;
}

/** Creates a fresh database with a unique name, so test files can run in parallel. */
export async function createDatabase(server: PostgresServer, prefix: string): Promise<string> {
  const name = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  const client = await pgClient(server);
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return name;
}

/** A new database holding one table `t` (id, note) of `rows` rows. */
export async function createTableDatabase(server: PostgresServer, prefix: string, rows: number): Promise<string> {
  const name = await createDatabase(server, prefix);
  const client = await pgClient(server, name);
  try {
    await client.query(`CREATE TABLE t AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, ${rows}) g`);
  } finally {
    await client.end();
  }
  return name;
}

/** A `targets:` entry for `database` on `server`, with the password inline, and the given name and fields. */
export function postgresTarget(
  server: PostgresServer,
  database: string,
  fields: { name: string } & Record<string, unknown>,
): Record<string, unknown> {
  return {
    driver: 'postgres',
    url: `postgres://${server.user}@${server.host}:${server.port}/${database}`,
    password: server.password,
    ...fields,
  };
}
