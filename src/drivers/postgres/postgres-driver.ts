// PostgreSQL driver: pg_dump under an exported snapshot (stats and dump agree), pg_restore or psql to restore.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { TableStats } from '../../catalog/manifest.js';
import type { PostgresTargetConfig } from '../../config/schema.js';
import { LifeboatError } from '../../errors.js';
import type { DestinationState, Driver, DumpSession, RestoredState, RestoreOptions, Scratch } from '../driver.js';
import { runTool, toolOutput, toolPath } from '../run-tool.js';
import { connect, connectionFromConfig, describeConnection, libpqEnv } from './connection.js';

const USER_TABLES = `
  SELECT n.nspname AS schema, c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  ORDER BY 1, 2`;

export class PostgresDriver implements Driver {
  readonly name = 'postgres';
  readonly #config: PostgresTargetConfig;

  constructor(config: PostgresTargetConfig) {
    this.#config = config;
  }

  async dump(signal?: AbortSignal): Promise<DumpSession> {
    const connection = connectionFromConfig(this.#config);
    const pgDump = toolPath('pg_dump', this.#config.binDir);
    const dumpMajor = await toolMajor(pgDump);
    const client = await connect(connection);
    try {
      const serverNum = Number((await client.query('SHOW server_version_num')).rows[0].server_version_num);
      assertDumpCanRead(dumpMajor, serverNum, describeConnection(connection));
      // One snapshot for stats and dump: the row counts in the manifest describe exactly the dumped data.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const lockTimeout = this.#config.lockTimeoutSeconds;
      await client.query(`SET LOCAL lock_timeout = '${lockTimeout}s'`);
      const head = await client.query(
        'SELECT pg_export_snapshot() AS snapshot, now() AS at, current_database() AS db, version() AS version',
      );
      const { snapshot, at, db, version } = head.rows[0];
      const stats = await countRows(client, lockTimeout);
      const plain = this.#config.format === 'plain';
      const lockArg = `--lock-wait-timeout=${lockTimeout * 1000}`;
      const args = plain
        ? ['--format=plain', '--clean', '--if-exists', `--snapshot=${snapshot}`, lockArg, ...this.#config.extraDumpArgs]
        : ['--format=custom', '--compress=0', `--snapshot=${snapshot}`, lockArg, ...this.#config.extraDumpArgs];
      const tool = runTool('postgres', pgDump, args, { env: libpqEnv(connection) });
      const onAbort = () => tool.child.kill('SIGTERM');
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = tool.exited.finally(async () => {
        signal?.removeEventListener('abort', onAbort);
        await client.query('COMMIT').catch(() => undefined);
        await client.end().catch(() => undefined);
      });
      done.catch(() => undefined);
      const stream = tool.child.stdout as Readable;
      return {
        stream,
        fileName: plain ? 'dump.sql' : 'dump.pgcustom',
        format: plain ? 'pg_dump-plain' : 'pg_dump-custom',
        snapshotAt: new Date(at),
        source: { database: db, serverVersion: version, serverVersionNum: serverNum, pgDumpMajor: dumpMajor },
        stats: { tables: stats },
        done,
        abort: () => tool.child.kill('SIGTERM'),
      };
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  async inspectDestination(destination?: string): Promise<DestinationState> {
    const connection = connectionFromConfig(this.#config, destination);
    const client = await connect(connection);
    try {
      const tables = (await client.query(USER_TABLES)).rows.length;
      return {
        description: describeConnection(connection),
        hasData: tables > 0,
        detail: tables === 0 ? 'no user tables' : `${tables} user tables`,
      };
    } finally {
      await client.end();
    }
  }

  async restore(raw: Readable, destination: string | undefined, options: RestoreOptions): Promise<void> {
    const connection = connectionFromConfig(this.#config, destination);
    const state = await this.inspectDestination(destination);
    if (state.hasData && !options.force) {
      throw new LifeboatError(
        'DESTINATION_NOT_EMPTY',
        `postgres: restore into ${state.description}: destination holds data (${state.detail})`,
        { hint: 'add --force to replace the objects in the backup, or --to an empty database' },
      );
    }
    const env = libpqEnv(connection);
    if (this.#config.format === 'plain') {
      const psql = toolPath('psql', this.#config.binDir);
      await feed(
        runTool(
          'postgres',
          psql,
          ['--no-psqlrc', '--quiet', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--file=-'],
          { env, stdin: 'pipe', stdout: 'ignore' },
        ),
        raw,
        options.signal,
      );
      return;
    }
    const pgRestore = toolPath('pg_restore', this.#config.binDir);
    const common = [
      '--exit-on-error',
      '--no-password',
      ...(state.hasData ? ['--clean', '--if-exists'] : []),
      `--dbname=${connection.database}`,
    ];
    if (this.#config.restoreJobs <= 1) {
      await feed(
        runTool('postgres', pgRestore, [...common, '--single-transaction'], { env, stdin: 'pipe', stdout: 'ignore' }),
        raw,
        options.signal,
      );
      return;
    }
    // Parallel restore needs a seekable file: the verified dump is written to a temporary one first.
    const workDir = await mkdtemp(join(tmpdir(), 'lifeboat-pgrestore-'));
    try {
      const file = join(workDir, 'dump.pgcustom');
      await pipeline(raw, createWriteStream(file), { signal: options.signal });
      const tool = runTool('postgres', pgRestore, [...common, `--jobs=${this.#config.restoreJobs}`, file], {
        env,
        stdout: 'ignore',
      });
      await tool.exited;
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  async createScratch(label: string, to: string | undefined): Promise<Scratch> {
    // The server the drill restores into: `to`, else the target's own (connecting to its database only to
    // create and drop the scratch one).
    const server = connectionFromConfig(this.#config, to);
    const name = `lifeboat_drill_${label.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(3).toString('hex')}`.slice(0, 63);
    const live = connectionFromConfig(this.#config);
    if (name === live.database)
      throw new LifeboatError('DRILL_DESTINATION', `postgres: scratch ${name} is the live database`);
    const admin = await connect(server);
    try {
      await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    } catch (error) {
      throw new LifeboatError(
        'DRILL_DESTINATION',
        `postgres: create scratch database ${name} on ${describeConnection(server)}: ${(error as Error).message}`,
        { cause: error, hint: 'the drill user needs CREATEDB on that server (or set drill.to to another server)' },
      );
    } finally {
      await admin.end().catch(() => undefined);
    }
    const scratch = { ...server, database: name };
    const url = new URL('postgres://localhost');
    url.hostname = scratch.host;
    url.port = String(scratch.port);
    url.username = encodeURIComponent(scratch.user);
    if (scratch.password !== undefined) url.password = encodeURIComponent(scratch.password);
    url.pathname = `/${encodeURIComponent(name)}`;
    if (scratch.sslmode !== undefined) url.searchParams.set('sslmode', scratch.sslmode);
    let dropped = false;
    return {
      destination: url.toString(),
      description: `scratch database ${describeConnection(scratch)}`,
      drop: async () => {
        if (dropped) return;
        const client = await connect(server);
        try {
          const major = Math.floor(
            Number((await client.query('SHOW server_version_num')).rows[0].server_version_num) / 10000,
          );
          // WITH (FORCE) (PostgreSQL 13+) ends sessions a failed restore may have left behind.
          await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}${major >= 13 ? ' WITH (FORCE)' : ''}`);
          dropped = true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
    };
  }

  async inspectRestored(destination: string): Promise<RestoredState> {
    const client = await connect(connectionFromConfig(this.#config, destination));
    try {
      // pg_restore ran with --exit-on-error (in one transaction unless restoreJobs > 1): it finished cleanly.
      return {
        integrity: 'pg_restore finished without errors',
        problems: [],
        tables: await countRows(client, this.#config.lockTimeoutSeconds),
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async queryValue(destination: string, sql: string): Promise<unknown> {
    const client = await connect(connectionFromConfig(this.#config, destination));
    try {
      const result = await client.query({ text: sql, rowMode: 'array' });
      return (result.rows[0] as unknown[] | undefined)?.[0];
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

async function feed(tool: ReturnType<typeof runTool>, raw: Readable, signal?: AbortSignal): Promise<void> {
  const stdin = tool.child.stdin;
  if (stdin === null) throw new Error('postgres: tool has no stdin');
  const writing = pipeline(raw, stdin, { signal });
  const [wrote, exited] = await Promise.allSettled([writing, tool.exited]);
  if (exited.status === 'rejected') throw exited.reason;
  if (wrote.status === 'rejected') throw wrote.reason;
}

async function countRows(client: pg.Client, lockTimeoutSeconds: number): Promise<TableStats[]> {
  const tables = (await client.query(USER_TABLES)).rows as { schema: string; name: string }[];
  const stats: TableStats[] = [];
  for (const table of tables) {
    const ident = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
    const count = await client.query(`SELECT count(*)::bigint AS n FROM ${ident}`).catch((error: { code?: string }) => {
      if (error.code !== '55P03') throw error;
      throw new LifeboatError(
        'LOCKED',
        `postgres: count rows of ${table.schema}.${table.name}: table lock not granted within ${lockTimeoutSeconds} s`,
        { hint: 'another session holds a conflicting lock (a migration?); retry later or raise lockTimeoutSeconds' },
      );
    });
    stats.push({ name: `${table.schema}.${table.name}`, rows: Number(count.rows[0].n) });
  }
  return stats;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** pg_dump refuses, or silently mis-dumps, servers newer than itself: refuse first, with a way out. */
export function assertDumpCanRead(dumpMajor: number, serverVersionNum: number, where: string): void {
  const serverMajor = Math.floor(serverVersionNum / 10000);
  if (dumpMajor < serverMajor) {
    throw new LifeboatError(
      'TOOL_VERSION',
      `postgres: dump ${where}: pg_dump ${dumpMajor} is older than the server (${serverMajor})`,
      { hint: `install postgresql-client-${serverMajor} or newer, or set binDir` },
    );
  }
}

/** Major version of a PostgreSQL client tool, from `--version`. */
async function toolMajor(command: string): Promise<number> {
  const out = await toolOutput('postgres', command, ['--version']);
  const match = /(\d+)(?:\.\d+)?/.exec(out);
  if (match?.[1] === undefined)
    throw new LifeboatError('TOOL_VERSION', `postgres: read version of ${command}: "${out.trim()}"`);
  return Number(match[1]);
}
