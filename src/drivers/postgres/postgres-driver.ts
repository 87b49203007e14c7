// PostgreSQL driver: pg_dump under an exported snapshot (stats and dump agree), pg_restore or psql to restore.
import { randomBytes } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import type { TableStats } from '../../catalog/manifest.js';
import type { PostgresTargetConfig } from '../../config/schema.js';
import { LifeboatError } from '../../errors.js';
import { ensureRoom, measureRoom } from '../../free-space.js';
import { withSpooledFile } from '../../work-dir.js';
import {
  DEFAULT_RESTORE_LOCK_TIMEOUT_MS,
  type DestinationState,
  type Driver,
  type DumpSession,
  type Landing,
  type RestoredState,
  RestoreLeftChanges,
  type RestoreOptions,
  type Scratch,
} from '../driver.js';
import { fedProcess, feedTool } from '../feed-tool.js';
import { runTool, type ToolProcess, toolOutput, toolPath } from '../run-tool.js';
import { startBaseBackup } from './basebackup.js';
import {
  arrayRows,
  connect,
  connectionFromConfig,
  describeConnection,
  libpqEnv,
  type PgConnection,
  quoteIdent,
  withClient,
} from './connection.js';
import { statsMismatch } from './copy-count.js';
import { checkArchive, checkPlainEnd } from './dump-check.js';
import { DATABASE_COMMENT, markRestore, refuseUnfinishedRestore, unfinishedSince } from './restore-mark.js';
import { readArchiveHead, restoreStreamed, StreamedRestoreStopped } from './streamed-restore.js';

/** What a failed restore that is not one transaction left in its destination, as RestoreLeftChanges says it. */
interface LeftPart {
  /** A phrase after the database's name ("may hold part of the backup ..."). */
  readonly what: string;
  readonly cause: unknown;
  readonly hint: string | undefined;
}

/**
 * Sessions that load an empty destination when restoreJobs is not set: one a core of this machine (the
 * restore's own work, decompression and checksums, shares them), at most 4.
 */
const DEFAULT_LOAD_JOBS = Math.min(4, availableParallelism());

/**
 * How a restore loads its destination: psql for a plain dump; pg_restore in one transaction; psql sessions
 * that load an empty destination as the backup downloads (`streamed`), and for an archive they do not read
 * (`otherwise`) pg_restore in one transaction, unless parallel was asked for; pg_restore --jobs from a
 * temporary copy (`spooled`, restoreJobs above 1 into a destination that holds data).
 */
type LoadPlan =
  | { readonly way: 'psql' }
  | { readonly way: 'one transaction' }
  | { readonly way: 'spooled'; readonly jobs: number }
  | { readonly way: 'streamed'; readonly jobs: number; readonly otherwise: 'one transaction' | 'spooled' };

function loadPlan(config: PostgresTargetConfig, replace: boolean): LoadPlan {
  if (config.format === 'plain') return { way: 'psql' };
  const jobs = config.restoreJobs ?? (replace ? 1 : DEFAULT_LOAD_JOBS);
  if (jobs <= 1) return { way: 'one transaction' };
  if (replace) return { way: 'spooled', jobs };
  return { way: 'streamed', jobs, otherwise: config.restoreJobs === undefined ? 'one transaction' : 'spooled' };
}

/** The plan in words, for `restore --dry-run`. */
function describeLoad(plan: LoadPlan): string {
  switch (plan.way) {
    case 'psql':
      return 'psql, in one transaction';
    case 'one transaction':
      return 'pg_restore, in one transaction';
    case 'spooled':
      return `pg_restore --jobs=${plan.jobs} from a temporary copy of the backup`;
    case 'streamed':
      return (
        `${plan.jobs} psql sessions as the backup downloads (pg_restore for the schema and indexes), each ` +
        'committed once the backup proved itself; an archive with large objects or data pg_dump compressed: ' +
        (plan.otherwise === 'one transaction'
          ? 'pg_restore, in one transaction'
          : `pg_restore --jobs=${plan.jobs} from a temporary copy`)
      );
  }
}

const USER_TABLES = `
  SELECT n.nspname AS schema, c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  ORDER BY 1, 2`;

export class PostgresDriver implements Driver {
  readonly name = 'postgres';
  readonly #config: PostgresTargetConfig;
  /** How each destination this driver restored was loaded, by destination: what inspectRestored reports. */
  readonly #loadedBy = new Map<string, string>();

  constructor(config: PostgresTargetConfig) {
    this.#config = config;
  }

  async dump(): Promise<DumpSession> {
    if (this.#config.method === 'physical') return startBaseBackup(this.#config);
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
      await client.query([`SET LOCAL lock_timeout = '${lockTimeout}s'`, ...countSettings(serverNum)].join('; '));
      const head = await client.query(
        `SELECT pg_export_snapshot() AS snapshot, now() AS at, current_database() AS db, version() AS version, ${DATABASE_COMMENT} AS comment`,
      );
      const { snapshot, at, db, version, comment } = head.rows[0];
      refuseUnfinishedRestore([{ name: db, comment }]);
      // The tables' locks first (a lock another session holds fails here, naming its table); then the rows are
      // counted in the snapshot while pg_dump reads it, on this idle connection: no wait before the dump.
      const tables = (await client.query(USER_TABLES)).rows as TableName[];
      await lockTables(client, tables, lockTimeout);
      const plain = this.#config.format === 'plain';
      const lockArg = `--lock-wait-timeout=${lockTimeout * 1000}`;
      const args = plain
        ? ['--format=plain', '--clean', '--if-exists', `--snapshot=${snapshot}`, lockArg, ...this.#config.extraDumpArgs]
        : ['--format=custom', '--compress=0', `--snapshot=${snapshot}`, lockArg, ...this.#config.extraDumpArgs];
      const tool = runTool('postgres', pgDump, args, {
        env: libpqEnv(connection),
        priority: this.#config.priority,
        stdoutBuffer: true,
      });
      // pg_dump exiting 0 is not proof of a whole dump (a wrapper, a proxy, a full pipe can cut it short):
      // the bytes themselves are checked as they flow, and a dump that is not whole fails the backup.
      const completeness = plain
        ? checkPlainEnd(tool.child.stdout as Readable)
        : checkArchive(tool.child.stdout as Readable, toolPath('pg_restore', this.#config.binDir));
      // A dump that is not whole because pg_dump failed is reported as pg_dump's failure.
      const whole = completeness.whole.catch(async (error: unknown) => {
        await tool.exited;
        throw error;
      });
      /** Known once the count ends, before `done` resolves (DumpSession.stats). */
      const stats: DumpSession['stats'] = {};
      const counting = countRows(client, lockTimeout, tables).then(
        (counted) => {
          stats.tables = counted;
          return counted;
        },
        (error: unknown) => {
          // Without the snapshot's counts the dump proves nothing: it is stopped, and the reader hears why.
          tool.child.kill('SIGTERM');
          completeness.stream.destroy(error as Error);
          throw error;
        },
      );
      const done = Promise.all([tool.exited, whole, counting])
        .then(
          ([, , counted]) => {
            // The rows in the dump are the rows counted in its snapshot, or the dump is not the data.
            const complete = this.#config.extraDumpArgs.length === 0;
            const problems = statsMismatch(counted, completeness.counts(), complete);
            if (problems.length > 0) {
              throw new LifeboatError(
                'DUMP_MISMATCH',
                `postgres: the dump does not hold the rows counted in its snapshot: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`,
                { hint: 'check pg_dump (binDir) and extraDumpArgs; the backups before this one are untouched' },
              );
            }
          },
          (error: unknown) => {
            completeness.stop();
            throw error;
          },
        )
        .finally(async () => {
          await client.query('COMMIT').catch(() => undefined);
          await client.end().catch(() => undefined);
        });
      done.catch(() => undefined);
      const stream = completeness.stream;
      return {
        stream,
        fileName: plain ? 'dump.sql' : 'dump.pgcustom',
        format: plain ? 'pg_dump-plain' : 'pg_dump-custom',
        snapshotAt: new Date(at),
        source: { database: db, serverVersion: version, serverVersionNum: serverNum, pgDumpMajor: dumpMajor },
        stats,
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
    const { tables, comment } = await withClient(connection, async (client) => ({
      tables: (await client.query(USER_TABLES)).rows.length,
      comment: (await client.query(`SELECT ${DATABASE_COMMENT} AS comment`)).rows[0].comment as string | null,
    }));
    const since = unfinishedSince(comment);
    return {
      description: describeConnection(connection),
      hasData: tables > 0,
      detail:
        (tables === 0 ? 'no user tables' : `${tables} user tables`) +
        (since === undefined ? '' : `; a restore that began at ${since} did not finish there`),
      load: describeLoad(loadPlan(this.#config, tables > 0)),
    };
  }

  landing(_destination: string | undefined, found: DestinationState): Landing | undefined {
    // An archive the streamed restore does not read may still go to pg_restore --jobs: known once its head
    // is read, too late for this check; the restore measures the room then, before it writes the file.
    if (loadPlan(this.#config, found.hasData).way !== 'spooled') return undefined;
    return { folder: tmpdir(), ...SPOOL_LANDING };
  }

  async restore(raw: Readable, destination: string | undefined, options: RestoreOptions): Promise<void> {
    const connection = connectionFromConfig(this.#config, destination);
    // Whether it is replaced (--clean); whether it may be is the core's rule (restoreInto).
    const state = options.found ?? (await this.inspectDestination(destination));
    const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_RESTORE_LOCK_TIMEOUT_MS;
    const appName = `lifeboat-restore-${randomBytes(4).toString('hex')}`;
    // A session holding a lock on an object the restore replaces must make it fail clearly instead of
    // waiting for ever. lock_timeout cannot do it (every dump starts with SET lock_timeout = 0), so the
    // watcher says who holds the lock and cancels the restore's statement once it waited that long.
    const env = { ...libpqEnv(connection), PGAPPNAME: appName };
    const watcher = watchLockWaits(connection, appName, lockTimeoutMs, options.onNotice);
    try {
      const loadedBy = await this.#runRestoreTool(raw, env, state.hasData, connection, options);
      this.#loadedBy.set(destination ?? '', loadedBy);
    } catch (error) {
      if (!watcher.cancelled()) throw error;
      throw lockTimedOut(error, state.description, lockTimeoutMs, watcher.blockers());
    } finally {
      await watcher.stop();
    }
  }

  async #runRestoreTool(
    raw: Readable,
    env: NodeJS.ProcessEnv,
    replace: boolean,
    connection: PgConnection,
    { signal, onNotice, rawSize }: Pick<RestoreOptions, 'signal' | 'onNotice' | 'rawSize'>,
  ): Promise<string> {
    const database = connection.database;
    const plan = loadPlan(this.#config, replace);
    if (plan.way === 'psql') {
      const psql = toolPath('psql', this.#config.binDir);
      await feed(
        runTool(
          'postgres',
          psql,
          ['--no-psqlrc', '--quiet', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--file=-'],
          { env, stdin: 'pipe', stdout: 'ignore' },
        ),
        raw,
        signal,
      );
      return 'psql';
    }
    const pgRestore = toolPath('pg_restore', this.#config.binDir);
    const common = [
      '--exit-on-error',
      '--no-password',
      ...(replace ? ['--clean', '--if-exists'] : []),
      `--dbname=${database}`,
    ];
    /** pg_restore in one transaction, fed as the bytes come: rolled back whole if anything fails. */
    const serial = async (input: Readable) => {
      await feed(
        runTool('postgres', pgRestore, [...common, '--single-transaction'], { env, stdin: 'pipe', stdout: 'ignore' }),
        input,
        signal,
      );
      return 'pg_restore';
    };
    if (plan.way === 'one transaction') return serial(raw);
    const jobs = plan.jobs;
    // What follows is not one transaction: while it runs the destination is marked (restore-mark.ts).
    // A failure that leaves the destination not as it was found (`leftPart` says what is there, with the
    // failure's cause and hint, else undefined) keeps the mark, and says so.
    const marked = async <T>(
      work: () => Promise<T>,
      leftPart: (error: unknown) => LeftPart | undefined,
    ): Promise<T> => {
      const unmark = await markRestore(connection, new Date());
      if (unmark === undefined) {
        onNotice?.(
          `postgres: ${database} is restored unmarked: user ${connection.user} may not comment on it (only its owner may), so a restore killed half way would leave part of the backup there with nothing that says so`,
          'restore.unmarked',
        );
      }
      let result: T;
      try {
        result = await work();
      } catch (error) {
        const left = leftPart(error);
        if (left === undefined) {
          await unmark?.().catch(() => undefined);
          throw error;
        }
        const state = `postgres: ${database} ${left.what}${unmark === undefined ? '' : ', and stays marked as a restore that did not finish'}`;
        throw new RestoreLeftChanges(state, left.cause, left.hint);
      }
      await unmark?.();
      return result;
    };
    let input = raw;
    if (plan.way === 'streamed') {
      // Into an empty destination, the tables load in parallel as the backup downloads, committed once it
      // proved itself (streamed-restore.ts); an archive that restore does not run goes to pg_restore. The head
      // decides, before anything is written: one mark, whichever restores.
      const archive = await readArchiveHead(raw);
      const toc = archive.toc;
      if (toc !== undefined) {
        // A failure leaves the destination as empty as it was found, unless dropping what it made failed too.
        await marked(
          () =>
            restoreStreamed(toc, archive, {
              pgRestore,
              psql: toolPath('psql', this.#config.binDir),
              env,
              database,
              jobs,
              signal,
              query: (sql, params) => withClient(connection, (client) => arrayRows(client, sql, params)),
            }),
          (error) =>
            error instanceof StreamedRestoreStopped && error.leftBehind !== undefined
              ? { what: error.leftBehind, cause: error.cause, hint: error.hint }
              : undefined,
        );
        return `pg_restore (schema, indexes) and ${jobs} psql sessions (data)`;
      }
      if (plan.otherwise === 'one transaction') return serial(archive.stream());
      // Known only now, with the head read: the file pg_restore --jobs needs, measured before it is written.
      if (rawSize !== undefined) {
        const room = await measureRoom({ folder: tmpdir(), bytes: rawSize, ...SPOOL_LANDING });
        ensureRoom(room, `postgres: restore into ${database}`, 'nothing committed');
      }
      input = archive.stream();
    }
    // Parallel restore needs a seekable file: the verified dump is written to a temporary one first.
    return withSpooledFile('pgrestore', 'dump.pgcustom', input, signal, async (file) => {
      // pg_restore --jobs commits table by table: a failure leaves part of the backup, and the mark says so.
      await marked(
        async () => {
          const tool = runTool('postgres', pgRestore, [...common, `--jobs=${jobs}`, file], {
            env,
            stdout: 'ignore',
          });
          const onAbort = () => tool.child.kill('SIGTERM');
          signal?.addEventListener('abort', onAbort, { once: true });
          try {
            await tool.exited;
          } finally {
            signal?.removeEventListener('abort', onAbort);
          }
        },
        (error) => ({
          what: 'may hold part of the backup (pg_restore --jobs commits table by table)',
          cause: error,
          hint: 'restore it again with --force once the cause is mended',
        }),
      );
      return `pg_restore --jobs=${jobs}`;
    });
  }

  async createScratch(label: string, to: string | undefined): Promise<Scratch> {
    // The server the drill restores into: `to`, else the target's own (connecting to its database only to
    // create and drop the scratch one).
    const server = connectionFromConfig(this.#config, to);
    const name = `lifeboat_drill_${label.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(3).toString('hex')}`.slice(0, 63);
    const live = connectionFromConfig(this.#config);
    if (name === live.database)
      throw new LifeboatError('DRILL_DESTINATION', `postgres: scratch ${name} is the live database`);
    await withClient(server, (admin) =>
      admin.query(`CREATE DATABASE ${quoteIdent(name)}`).catch((error: unknown) => {
        throw new LifeboatError(
          'DRILL_DESTINATION',
          `postgres: create scratch database ${name} on ${describeConnection(server)}: ${(error as Error).message}`,
          { cause: error, hint: 'the drill user needs CREATEDB on that server (or set drill.to to another server)' },
        );
      }),
    );
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
        await withClient(server, async (client) => {
          const major = Math.floor(
            Number((await client.query('SHOW server_version_num')).rows[0].server_version_num) / 10000,
          );
          // WITH (FORCE) (PostgreSQL 13+) ends sessions a failed restore may have left behind.
          await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}${major >= 13 ? ' WITH (FORCE)' : ''}`);
        });
        dropped = true;
      },
    };
  }

  async inspectRestored(destination: string): Promise<RestoredState> {
    // pg_restore or the loading sessions ran with --exit-on-error (psql: ON_ERROR_STOP): it finished cleanly.
    const tables = await withClient(connectionFromConfig(this.#config, destination), (client) =>
      countRows(client, this.#config.lockTimeoutSeconds),
    );
    const loadedBy = this.#loadedBy.get(destination) ?? 'the restore';
    return { integrity: `${loadedBy} finished without errors`, problems: [], tables };
  }

  async queryValue(destination: string, sql: string): Promise<unknown> {
    const rows = await withClient(connectionFromConfig(this.#config, destination), (client) => arrayRows(client, sql));
    return rows[0]?.[0];
  }
}

/** The restore tool fed from `raw`; stopped half way, its single transaction rolls back (feedTool). */
function feed(tool: ToolProcess, raw: Readable, signal?: AbortSignal): Promise<void> {
  return feedTool(fedProcess(tool), raw, {
    driver: 'postgres',
    name: tool.name,
    stopped: 'its transaction rolled back',
    signal,
  });
}

interface LockBlocker {
  readonly pid: number;
  readonly text: string;
}

/**
 * Polls pg_stat_activity while the restore tool runs, and tells `onNotice` once about each session that
 * holds a lock the restore waits for; the restore's own sessions, which wait for each other in a parallel
 * load, are not counted (nor towards the lock timeout).
 */
function watchLockWaits(
  connection: PgConnection,
  appName: string,
  lockTimeoutMs: number,
  onNotice: ((message: string) => void) | undefined,
): { stop(): Promise<void>; blockers(): LockBlocker[]; cancelled(): boolean } {
  const seen = new Map<number, LockBlocker>();
  let stopped = false;
  let cancelled = false;
  let waitingSince: number | undefined;
  let client: pg.Client | undefined;
  const poll = async () => {
    client ??= await connect(connection);
    const result = await client.query(
      `SELECT w.pid AS waiter, b.pid, b.usename, b.application_name, b.state, b.xact_start, b.client_addr
         FROM pg_stat_activity w
         CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocking(pid)
         JOIN pg_stat_activity b ON b.pid = blocking.pid
        WHERE w.application_name = $1 AND w.wait_event_type = 'Lock'
          -- The restore's own sessions wait for each other (for the lock that grows a table they both load).
          AND b.application_name IS DISTINCT FROM $1`,
      [appName],
    );
    const rows = result.rows as Record<string, unknown>[];
    waitingSince = rows.length === 0 ? undefined : (waitingSince ?? Date.now());
    if (waitingSince !== undefined && Date.now() - waitingSince >= lockTimeoutMs && !cancelled) {
      cancelled = true;
      // The statement fails, pg_restore (--exit-on-error) stops, and its transaction rolls back.
      await client.query('SELECT pg_cancel_backend($1)', [rows[0]?.waiter]);
    }
    for (const row of rows) {
      const pid = Number(row.pid);
      if (seen.has(pid)) continue;
      const since = row.xact_start instanceof Date ? ` since ${row.xact_start.toISOString()}` : '';
      const app =
        row.application_name === '' || row.application_name == null ? '' : `, application "${row.application_name}"`;
      const text =
        `pid ${pid} (user ${row.usename ?? '?'}${app}, ${row.state ?? 'state unknown'}${since}` +
        `${row.client_addr == null ? '' : `, from ${row.client_addr}`})`;
      seen.set(pid, { pid, text });
      onNotice?.(
        `postgres: restore waits for a lock held by ${text}; it gives up after ${lockTimeoutMs / 1000} s (--lock-timeout)`,
      );
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await poll().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, lockTimeoutMs / 4)).unref());
    }
  })();
  return {
    blockers: () => [...seen.values()],
    cancelled: () => cancelled,
    stop: async () => {
      stopped = true;
      await loop;
      await client?.end().catch(() => undefined);
    },
  };
}

/** The restore cancelled after waiting `lockTimeoutMs` for a lock, as a sentence naming who held it. */
function lockTimedOut(error: unknown, where: string, lockTimeoutMs: number, blockers: LockBlocker[]): LifeboatError {
  const held = blockers.length === 0 ? 'another session' : blockers.map((b) => b.text).join(', ');
  return new LifeboatError(
    'LOCKED',
    `postgres: restore into ${where}: a lock held by ${held} was not granted within ${lockTimeoutMs / 1000} s; nothing committed`,
    {
      cause: error,
      hint:
        'stop the application or end those sessions (SELECT pg_terminate_backend(pid)), then restore again; ' +
        'or wait longer with --lock-timeout',
    },
  );
}

interface TableName {
  readonly schema: string;
  readonly name: string;
}

/** A statement on `table` that waited past lock_timeout (55P03) becomes LOCKED, naming the table. */
function lockedTable(what: string, table: TableName, lockTimeoutSeconds: number) {
  return (error: { code?: string }): never => {
    if (error.code !== '55P03') throw error;
    throw new LifeboatError(
      'LOCKED',
      `postgres: ${what} ${table.schema}.${table.name}: table lock not granted within ${lockTimeoutSeconds} s`,
      { hint: 'another session holds a conflicting lock (a migration?); retry later or raise lockTimeoutSeconds' },
    );
  };
}

/** ACCESS SHARE locks on `tables` until the transaction ends (what a count or a dump takes anyway). */
async function lockTables(client: pg.Client, tables: readonly TableName[], lockTimeoutSeconds: number): Promise<void> {
  for (const table of tables) {
    await client
      .query(`LOCK TABLE ${quoteIdent(table.schema)}.${quoteIdent(table.name)} IN ACCESS SHARE MODE`)
      .catch(lockedTable('lock', table, lockTimeoutSeconds));
  }
}

async function countRows(
  client: pg.Client,
  lockTimeoutSeconds: number,
  tables?: readonly TableName[],
): Promise<TableStats[]> {
  const names = tables ?? ((await client.query(USER_TABLES)).rows as TableName[]);
  const stats: TableStats[] = [];
  for (const table of names) {
    const ident = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
    const count = await client
      .query(`SELECT count(*)::bigint AS n FROM ${ident}`)
      .catch(lockedTable('count rows of', table, lockTimeoutSeconds));
    stats.push({ name: `${table.schema}.${table.name}`, rows: Number(count.rows[0].n) });
  }
  return stats;
}

/** Why and where pg_restore --jobs lands the dump on local disk, and what to do when it has no room there. */
const SPOOL_LANDING = {
  why: 'pg_restore --jobs reads the dump from a file, downloaded to the temp folder first',
  hint: 'free space in the temp folder, point TMPDIR at a folder with room, or set restoreJobs: 1 (one transaction, no file)',
} as const;

/**
 * The row counts run beside pg_dump and only have to end before it does: one process, no parallel workers
 * taking cores from the dump (and the application), no JIT compilation for a count. A server older than a
 * setting (9.6, 11) has no such thing to turn off, and would refuse its name.
 */
export function countSettings(serverVersionNum: number): string[] {
  return [
    ...(serverVersionNum >= 90600 ? ['SET LOCAL max_parallel_workers_per_gather = 0'] : []),
    ...(serverVersionNum >= 110000 ? ['SET LOCAL jit = off'] : []),
  ];
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
