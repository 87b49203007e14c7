// restoreJobs above 1 into an empty destination: the tables load in parallel while the backup downloads (a big
// one in pieces, by every session), and nothing is committed before it proved itself. Against a real server
// and real pg_dump, pg_restore and psql: the schema comes back whole (sequences, indexes, constraints,
// triggers, views), a backup that fails its checksum at the end or a load cut half way leaves the destination
// as empty as it was (so does a stop between the schema step's commit and its exit), a clean-up that cannot
// drop what it made says what is left and keeps the mark, an interrupted pg_restore --jobs says it may have
// left part of the backup, SIGTERM stops a pg_restore that has read everything, and an archive the streamed
// restore does not read itself (large objects) is still restored, by pg_restore.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { logLines, runCli, startCli, writeConfig } from '../harness/cli.js';
import { waitFor } from '../harness/free-port.js';
import { standInBinDir } from '../harness/pg-stand-in.js';
import { createDatabase, pgClient } from '../harness/postgres.js';
import { mountTinyFolder } from '../hostile/hostile-support.js';

const pg = inject('postgres');

const SCHEMA = `
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
  CREATE SCHEMA audit;
  CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, mood mood, profile jsonb);
  CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers(id), note text, tags text[]);
  CREATE INDEX orders_customer ON orders (customer);
  CREATE TABLE audit.events (id int, at timestamptz, what text);
  CREATE TABLE empty (x int);
  CREATE VIEW big_orders AS SELECT * FROM orders WHERE id > 100;
  CREATE FUNCTION audit.stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.at := now(); RETURN NEW; END $$;
  INSERT INTO customers (name, mood, profile)
    SELECT 'customer ' || g, (ARRAY['sad', 'ok', 'happy']::mood[])[1 + g % 3], jsonb_build_object('g', g)
    FROM generate_series(1, 3000) g;
  INSERT INTO orders (customer, note, tags)
    SELECT 1 + g % 3000, E'line ' || g || E'\\nwith\\ttab, a \\\\ backslash and ü', ARRAY['t' || g % 5]
    FROM generate_series(1, 20000) g;
  INSERT INTO audit.events SELECT g, timestamptz '2026-01-01' + g * interval '1 second', 'marker-' || g FROM generate_series(1, 5000) g;
  -- Made after the load: restored, it must not fire while the rows go in (their times would change).
  CREATE TRIGGER stamp BEFORE INSERT ON audit.events FOR EACH ROW EXECUTE FUNCTION audit.stamp();`;

function url(database: string): string {
  return `postgres://${pg.user}:${encodeURIComponent(pg.password ?? '')}@${pg.host}:${pg.port}/${database}`;
}

/** Rows of `sql` on `database`, as the suite's superuser or as another `user` of the server. */
async function query(database: string, sql: string, user?: { user: string; password: string }): Promise<unknown[]> {
  const client = await pgClient({ ...pg, ...user }, database);
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Everything the restore must bring back: rows, sequence values, indexes, constraints, triggers, views. */
async function snapshot(database: string): Promise<Record<string, unknown[]>> {
  return {
    customers: await query(database, 'SELECT * FROM customers ORDER BY id'),
    orders: await query(database, 'SELECT * FROM orders ORDER BY id'),
    events: await query(database, 'SELECT * FROM audit.events ORDER BY id'),
    view: await query(database, 'SELECT count(*) FROM big_orders'),
    sequences: await query(
      database,
      'SELECT last_value FROM customers_id_seq UNION ALL SELECT last_value FROM orders_id_seq',
    ),
    indexes: await query(
      database,
      "SELECT indexdef FROM pg_indexes WHERE schemaname IN ('public', 'audit') ORDER BY 1",
    ),
    constraints: await query(
      database,
      "SELECT conname, contype FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1",
    ),
    triggers: await query(database, 'SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1'),
  };
}

/** What a destination holds that a restore may have made: tables, schemas, types of the dump. */
async function leftovers(database: string): Promise<unknown[]> {
  return query(
    database,
    `SELECT 'table ' || relname AS what FROM pg_class WHERE relnamespace::regnamespace::text IN ('public', 'audit')
     UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname = 'audit'
     UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typname = 'mood'`,
  );
}

/** The comment of `database` (where a restore under way marks it), null without one. */
async function commentOf(database: string): Promise<string | null> {
  const [row] = (await query(
    database,
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = current_database()`,
  )) as { comment: string | null }[];
  return row?.comment ?? null;
}

async function configFor(database: string, extra: Record<string, unknown> = {}) {
  return writeConfig({
    storage: { type: 'local', path: './store' },
    targets: [{ name: 'app', driver: 'postgres', url: url(database), restoreJobs: 2, ...extra }],
  });
}

/** A config for `database` and one backup made with it. */
async function backedUp(database: string, extra: Record<string, unknown> = {}) {
  const config = await configFor(database, extra);
  const backup = await runCli(['--config', config.path, 'backup']);
  expect(backup.code, backup.stderr).toBe(0);
  return config;
}

/** A new database holding what `sql` makes. */
async function databaseWith(label: string, sql: string): Promise<string> {
  const database = await createDatabase(pg, label);
  await query(database, sql);
  return database;
}

/** `lifeboat restore` of the newest backup into a new, empty database, with `options`; that database and the result. */
async function restoreIntoNew(path: string, label: string, ...options: string[]) {
  const scratch = await createDatabase(pg, label);
  return { scratch, restored: await runCli(['--config', path, 'restore', 'app', '--to', url(scratch), ...options]) };
}

/** The one stored dump of the newest backup in a local store. */
function storedDump(dir: string): string {
  const target = join(dir, 'store', 'app');
  const id = readdirSync(target).sort().at(-1) as string;
  const name = readdirSync(join(target, id)).find((f) => f.startsWith('dump.')) as string;
  return join(target, id, name);
}

describe('postgres: restoreJobs 2 into an empty destination (tables loaded as the backup downloads)', () => {
  let database: string;

  beforeAll(async () => {
    database = await createDatabase(pg, 'streamed');
    await query(database, SCHEMA);
  });

  it('brings back rows, sequences, indexes, constraints, triggers and views as pg_restore would', async () => {
    const { path } = await backedUp(database);
    const { scratch, restored } = await restoreIntoNew(path, 'streamed-to');
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain('while restoring');
    const expected = await snapshot(database);
    expect((expected.events as unknown[]).length).toBe(5000);
    expect(await snapshot(scratch)).toEqual(expected);
    expect(await commentOf(scratch)).toBeNull();
  });

  /** A backup whose stored dump has one byte changed in a row near its end: every row loads, only the checksum can tell. */
  async function corruptedBackup(): Promise<string> {
    const { dir, path } = await backedUp(database, { compression: { algorithm: 'none' } });
    const file = storedDump(dir);
    const bytes = readFileSync(file);
    const at = bytes.lastIndexOf('marker-4999');
    expect(at).toBeGreaterThan(0);
    bytes[at] = 'M'.charCodeAt(0);
    writeFileSync(file, bytes);
    return path;
  }

  it('a backup that fails its checksum at the end leaves the destination as empty as it was', async () => {
    const { scratch, restored } = await restoreIntoNew(await corruptedBackup(), 'streamed-bad');
    expect(restored.code).not.toBe(0);
    expect(restored.stderr).toMatch(/failed verification while restoring, postgres: nothing committed/);
    expect(restored.stderr).toMatch(/SHA-256/);
    expect(await leftovers(scratch)).toEqual([]);
    expect(await commentOf(scratch)).toBeNull();
  });

  /**
   * `lifeboat restore` of the newest backup into `scratch`, with a pg_restore that makes the schema (the real
   * one, committed) and then does not exit until it is killed; the restore is stopped (SIGTERM) once the
   * schema committed, before the schema step said so.
   */
  async function stoppedAfterSchema(scratch: string) {
    const hold = `case " $* " in *" --section=pre-data "*) "$REAL" "$@" || exit $?; touch "$BIN/schema-made"; exec sleep 600;; esac
exec "$REAL" "$@"`;
    const bin = await standInBinDir(await mkdtemp(join(tmpdir(), 'lifeboat-it-')), 'bin', hold, 'pg_restore');
    const { path } = await backedUp(database, { binDir: bin });
    const running = startCli(['--config', path, 'restore', 'app', '--to', url(scratch)]);
    await waitFor('the schema step of the restore', async () => existsSync(join(bin, 'schema-made')), 60_000);
    running.child.kill('SIGTERM');
    return { path, stopped: await running.result };
  }

  it('a restore stopped between the commit of its schema step and the exit of that step drops the schema: the destination is left as empty as it was', async () => {
    const scratch = await createDatabase(pg, 'streamed-held');
    const { stopped } = await stoppedAfterSchema(scratch);
    expect(stopped.code).not.toBe(0);
    expect(stopped.stderr).toContain('interrupted (received SIGTERM); postgres: nothing committed');
    expect(await leftovers(scratch)).toEqual([]);
    expect(await commentOf(scratch)).toBeNull();
  });

  it('a failed restore whose clean-up cannot drop what it made says what is left and stays marked: the next restore refuses it', async () => {
    const scratch = await createDatabase(pg, 'streamed-undropped');
    // An event trigger that refuses every drop: the clean-up's DROP ... CASCADE fails.
    await query(
      scratch,
      `CREATE FUNCTION refuse_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'drops are refused here'; END $$;
       CREATE EVENT TRIGGER refuse_drops ON sql_drop EXECUTE FUNCTION refuse_drops();`,
    );
    const { path, stopped: failed } = await stoppedAfterSchema(scratch);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain(
      `interrupted (received SIGTERM); postgres: ${scratch} holds the schema this restore made (dropping it failed: `,
    );
    expect(failed.stderr).toMatch(/drops are refused here\), and stays marked as a restore that did not finish/);
    expect(failed.stderr).toContain('drop what the restore made in the destination, then restore again');
    // The schema is there, with no row of the backup in it, and the mark says a restore did not finish.
    expect(await leftovers(scratch)).toEqual(
      expect.arrayContaining([{ what: 'table customers' }, { what: 'schema audit' }]),
    );
    expect(await query(scratch, 'SELECT count(*)::int AS n FROM customers')).toEqual([{ n: 0 }]);
    expect(await commentOf(scratch)).toMatch(/^lifeboat: a restore began here at \S+ and has not finished/);
    const refused = await runCli(['--config', path, 'restore', 'app', '--to', url(scratch)]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/holds data \(\d+ user tables; a restore that began at \S+ did not finish there\)/);
    // Once drops are allowed again, --force with a sound backup replaces what was left and takes the mark off.
    await query(scratch, 'DROP EVENT TRIGGER refuse_drops');
    const restored = await runCli([
      '--config',
      (await backedUp(database)).path,
      'restore',
      'app',
      '--to',
      url(scratch),
      '--force',
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await snapshot(scratch)).toEqual(await snapshot(database));
    expect(await commentOf(scratch)).toBeNull();
  });

  /** A database of about 90 MB of dump, backed up: restores of it are still loading when a test cuts in. */
  async function bigBackup(extra: Record<string, unknown> = {}): Promise<string> {
    const big = await databaseWith(
      'streamed-big',
      `CREATE TABLE blob AS SELECT g AS id, md5(g::text) || repeat(md5((g * 7)::text), 6) AS payload FROM generate_series(1, 400000) g;
       CREATE TABLE other AS SELECT g AS id FROM generate_series(1, 1000) g;`,
    );
    const { path } = await backedUp(big, extra);
    return path;
  }

  /** The big table restored into `database`: rows, distinct ids, rows not as made, loading transactions. */
  async function blobLoaded(database: string) {
    const [loaded] = await query(
      database,
      `SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids,
              count(*) FILTER (WHERE payload <> md5(id::text) || repeat(md5((id * 7)::text), 6))::int AS wrong,
              count(DISTINCT xmin::text)::int AS transactions
         FROM blob`,
    );
    return loaded as { rows: number; ids: number; wrong: number; transactions: number };
  }

  /** Waits (up to 60 s) until a session of the restore into `database` loads the big table; its pid. */
  async function loadingSession(database: string, terminate: boolean): Promise<number | undefined> {
    const admin = await pgClient(pg);
    try {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const result = await admin.query(
          `SELECT pid, ${terminate ? 'pg_terminate_backend(pid)' : 'true'} FROM pg_stat_activity
           WHERE application_name LIKE 'lifeboat-restore-%' AND query LIKE 'COPY public.blob%' AND datname = $1`,
          [database],
        );
        if ((result.rowCount ?? 0) > 0) return result.rows[0].pid as number;
      }
      return undefined;
    } finally {
      await admin.end();
    }
  }

  it('a loading session cut half way stops the restore, and the destination is left as empty as it was', async () => {
    const path = await bigBackup();
    const scratch = await createDatabase(pg, 'streamed-cut');
    const running = startCli(['--config', path, 'restore', 'app', '--to', url(scratch)]);
    expect(await loadingSession(scratch, true)).toBeDefined();
    const result = await running.result;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /restore stopped, nothing committed: postgres: psql failed \(exit code \d\): .*terminating connection/s,
    );
    expect(await leftovers(scratch)).toEqual([]);
  });

  it('SIGTERM half way stops the restore: the destination is left as empty as it was', async () => {
    const path = await bigBackup();
    const scratch = await createDatabase(pg, 'streamed-term');
    const running = startCli(['--config', path, 'restore', 'app', '--to', url(scratch)]);
    expect(await loadingSession(scratch, false)).toBeDefined();
    running.child.kill('SIGTERM');
    const result = await running.result;
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('interrupted (received SIGTERM)');
    expect(await leftovers(scratch)).toEqual([]);
    expect(await commentOf(scratch)).toBeNull();
  });

  /** Waits (up to 60 s) until no session of a restore is left on `database` (a killed one's tools exit too). */
  async function restoreSessionsGone(database: string): Promise<void> {
    const sessions = `SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'lifeboat-restore-%' AND datname = '${database}'`;
    await waitFor(
      `no restore session on ${database}`,
      async () => (await query(database, sessions)).length === 0,
      60_000,
    );
  }

  it('a restore killed half way (SIGKILL) leaves the destination marked: the next restore names it, and --force replaces it and takes the mark off', async () => {
    const path = await bigBackup();
    const scratch = await createDatabase(pg, 'streamed-kill');
    const running = startCli(['--config', path, 'restore', 'app', '--to', url(scratch)]);
    expect(await loadingSession(scratch, false)).toBeDefined();
    // While the tables load, the destination says a restore is under way.
    expect(await commentOf(scratch)).toMatch(/^lifeboat: a restore began here at \S+ and has not finished/);
    running.child.kill('SIGKILL');
    expect((await running.result).code).toBeNull();
    await restoreSessionsGone(scratch);
    expect(await commentOf(scratch)).toMatch(/^lifeboat: a restore began here at /);
    // Backed up now, the half-loaded database would pass for the newest good backup: refused, nothing stored.
    const source = await configFor(scratch);
    const backupsOf = async () => JSON.parse((await runCli(['--config', source.path, 'list', '--json'])).stdout);
    const backup = await runCli(['--config', source.path, 'backup']);
    expect(backup.code).toBe(1);
    expect(backup.stderr).toMatch(
      new RegExp(
        `postgres: not backed up: ${scratch} \\(a restore began there at \\S+\\) carries the mark of a restore`,
      ),
    );
    expect(backup.stderr).toContain(`COMMENT ON DATABASE "${scratch}" IS NULL`);
    expect(await backupsOf()).toEqual([]);
    const dryRun = await runCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--dry-run']);
    expect(dryRun.stdout).toMatch(/a restore that began at \S+ did not finish there/);
    const refused = await runCli(['--config', path, 'restore', 'app', '--to', url(scratch)]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/holds data \(\d+ user tables; a restore that began at \S+ did not finish there\)/);
    const restored = await runCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--force']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await blobLoaded(scratch)).toMatchObject({ rows: 400000, ids: 400000, wrong: 0 });
    expect(await commentOf(scratch)).toBeNull();
    // Once a restore finished there, it is backed up again.
    const again = await runCli(['--config', source.path, 'backup']);
    expect(again.code, again.stderr).toBe(0);
    expect(await backupsOf()).toHaveLength(1);
  });

  it('pg_restore --jobs stopped half way over a database that held data leaves it marked; one that ends puts its comment back', async () => {
    const path = await bigBackup();
    const scratch = await createDatabase(pg, 'streamed-jobs-cut');
    await query(
      scratch,
      `CREATE TABLE blob (id int); COMMENT ON DATABASE ${JSON.stringify(scratch)} IS 'the shop''s orders'`,
    );
    const running = startCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--force']);
    expect(await loadingSession(scratch, true)).toBeDefined();
    const cut = await running.result;
    expect(cut.code).toBe(1);
    await restoreSessionsGone(scratch);
    expect(await commentOf(scratch)).toMatch(/^lifeboat: a restore began here at /);
    const refused = await runCli(['--config', path, 'restore', 'app', '--to', url(scratch)]);
    expect(refused.stderr).toMatch(/a restore that began at \S+ did not finish there/);
    // A restore that ends takes the mark off. The comment the database had before is gone with the failed run
    // (the mark took its place); a restore that ends puts back the comment it found.
    expect((await runCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--force'])).code).toBe(0);
    expect(await commentOf(scratch)).toBeNull();
    await query(scratch, `COMMENT ON DATABASE ${JSON.stringify(scratch)} IS 'the shop''s orders'`);
    expect((await runCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--force'])).code).toBe(0);
    expect(await commentOf(scratch)).toBe("the shop's orders");
  });

  it('SIGTERM during pg_restore --jobs over a database that held data says it may hold part of the backup, not that nothing was committed', async () => {
    const path = await bigBackup();
    const scratch = await createDatabase(pg, 'streamed-jobs-term');
    await query(scratch, 'CREATE TABLE blob (id int)');
    const running = startCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--force']);
    expect(await loadingSession(scratch, false)).toBeDefined();
    running.child.kill('SIGTERM');
    const stopped = await running.result;
    expect(stopped.code).not.toBe(0);
    expect(stopped.stderr).toContain(
      `interrupted (received SIGTERM); postgres: ${scratch} may hold part of the backup (pg_restore --jobs commits table by table), and stays marked as a restore that did not finish`,
    );
    expect(stopped.stderr).toContain('Try: restore it again with --force once the cause is mended');
    expect(stopped.stderr).not.toContain('nothing committed');
    await restoreSessionsGone(scratch);
    expect(await commentOf(scratch)).toMatch(/^lifeboat: a restore began here at /);
  });

  it('SIGTERM once a one-transaction pg_restore has read the whole backup stops it at once: nothing committed', async () => {
    // A pg_restore that reads the backup to its end and then does not exit until it is killed.
    const bin = await standInBinDir(
      await mkdtemp(join(tmpdir(), 'lifeboat-it-')),
      'bin',
      'cat > /dev/null; touch "$BIN/read"; exec sleep 600',
      'pg_restore',
    );
    const { dir } = await backedUp(database, { restoreJobs: undefined });
    const { path } = await writeConfig({
      storage: { type: 'local', path: join(dir, 'store') },
      targets: [{ name: 'app', driver: 'postgres', url: url(database), binDir: bin }],
    });
    const scratch = await createDatabase(pg, 'streamed-read-held');
    await query(scratch, 'CREATE TABLE customers (id int)');
    const running = startCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--force']);
    await waitFor('pg_restore to read the whole backup', async () => existsSync(join(bin, 'read')), 60_000);
    running.child.kill('SIGTERM');
    const stopped = await running.result;
    expect(stopped.code).not.toBe(0);
    expect(stopped.stderr).toContain('interrupted (received SIGTERM); postgres: nothing committed');
  });

  it('a user that does not own the destination restores it unmarked, and is told so', async () => {
    // The user owns its tables but neither database (only a database's owner may comment on it).
    const user = `restorer_${Math.random().toString(36).slice(2, 8)}`;
    const password = `${user}-secret`;
    const source = await createDatabase(pg, 'streamed-owner-from');
    const scratch = await createDatabase(pg, 'streamed-owner-to');
    await query('postgres', `CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
    for (const db of [source, scratch]) await query(db, `GRANT CREATE ON SCHEMA public TO ${user}`);
    const as = (db: string) => `postgres://${user}:${password}@${pg.host}:${pg.port}/${db}`;
    const asUser = (db: string, sql: string) => query(db, sql, { user, password });
    await asUser(source, 'CREATE TABLE notes AS SELECT g AS id FROM generate_series(1, 5000) g');
    const config = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'app', driver: 'postgres', url: as(source), restoreJobs: 2 }],
    });
    const told = `postgres: ${scratch} is restored unmarked: user ${user} may not comment on it (only its owner may)`;
    /** A backup of the source as it is now, restored into the scratch database; the restore's unmarked warnings. */
    const backUpAndRestore = async (...options: string[]) => {
      const backup = await runCli(['--config', config.path, 'backup']);
      expect(backup.code, backup.stderr).toBe(0);
      const restored = await runCli(['--config', config.path, 'restore', 'app', '--to', as(scratch), ...options]);
      expect(restored.code, restored.stderr).toBe(0);
      return logLines(restored.stderr).filter((line) => line.event === 'restore.unmarked');
    };
    // The streamed restore (an empty destination).
    expect(await backUpAndRestore()).toEqual([
      expect.objectContaining({ level: 40, message: expect.stringContaining(told) }),
    ]);
    expect(await query(scratch, 'SELECT count(*)::int AS n FROM notes')).toEqual([{ n: 5000 }]);
    expect(await commentOf(scratch)).toBeNull();
    // A large object: the streamed restore hands the archive to pg_restore --jobs, which is unmarked too; told once.
    await asUser(source, "CREATE TABLE docs AS SELECT 1 AS id, lo_from_bytea(0, convert_to('body', 'UTF8')) AS body");
    await query(scratch, 'DROP TABLE notes');
    expect(await backUpAndRestore()).toEqual([
      expect.objectContaining({ level: 40, message: expect.stringContaining(told) }),
    ]);
    expect(await query(scratch, "SELECT convert_from(lo_get(body), 'UTF8') AS body FROM docs")).toEqual([
      { body: 'body' },
    ]);
    expect(await commentOf(scratch)).toBeNull();
    // The target's own user, the owner, restores marked and says nothing of it.
    const owner = await createDatabase(pg, 'streamed-owner-own');
    const own = await runCli(['--config', (await backedUp(database)).path, 'restore', 'app', '--to', url(owner)]);
    expect(own.code, own.stderr).toBe(0);
    expect(logLines(own.stderr).map((line) => line.event)).toContain('restore.end');
    expect(own.stderr).not.toContain('restored unmarked');
  });

  it('a table of many pieces is loaded by both sessions, every row once, with no lock notice about their waits', async () => {
    const path = await bigBackup();
    // A short lock timeout: the two sessions that load one table wait for each other to grow it, and that
    // wait is neither a lock to report nor one to give up on.
    const { scratch, restored } = await restoreIntoNew(path, 'streamed-shared', '--lock-timeout', '1s');
    expect(restored.code, restored.stderr).toBe(0);
    expect(`${restored.stdout}${restored.stderr}`).not.toContain('waits for a lock');
    // Each session loads in one transaction of its own: rows of two transactions, two sessions.
    expect(await blobLoaded(scratch)).toEqual({ rows: 400000, ids: 400000, wrong: 0, transactions: 2 });
  });

  it('without restoreJobs, an empty destination is loaded by one session a core (at most 4)', async () => {
    const path = await bigBackup({ restoreJobs: undefined });
    const { scratch, restored } = await restoreIntoNew(path, 'streamed-default');
    expect(restored.code, restored.stderr).toBe(0);
    const loaded = await blobLoaded(scratch);
    expect(loaded).toMatchObject({ rows: 400000, ids: 400000, wrong: 0 });
    // Six pieces or so: each session most likely gets one, and none is a session more than asked for.
    const sessions = Math.min(4, availableParallelism());
    expect(loaded.transactions).toBeLessThanOrEqual(sessions);
    expect(loaded.transactions).toBeGreaterThanOrEqual(Math.min(2, sessions));
  });

  it('restore --dry-run says how each destination would be loaded', async () => {
    const sessions = Math.min(4, availableParallelism());
    const dryRun = async (config: string, to: string) => {
      const result = await runCli(['--config', config, 'restore', 'app', '--to', url(to), '--force', '--dry-run']);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout.split('\n').find((line) => line.startsWith('load:'));
    };
    const empty = await createDatabase(pg, 'streamed-dry');
    const byDefault = (await backedUp(database, { restoreJobs: undefined })).path;
    expect(await dryRun(byDefault, empty)).toBe(
      `load:        ${sessions} psql sessions as the backup downloads (pg_restore for the schema and indexes), ` +
        'each committed once the backup proved itself; ' +
        'an archive with large objects or data pg_dump compressed: pg_restore, in one transaction',
    );
    expect(await dryRun(byDefault, database)).toBe('load:        pg_restore, in one transaction');
    const twoJobs = (await backedUp(database)).path;
    expect(await dryRun(twoJobs, empty)).toMatch(
      /^load: +2 psql sessions .*compressed: pg_restore --jobs=2 from a temporary copy$/,
    );
    expect(await dryRun(twoJobs, database)).toBe(
      'load:        pg_restore --jobs=2 from a temporary copy of the backup',
    );
    expect(await leftovers(empty)).toEqual([]);
  });

  it('without restoreJobs, an archive the streamed restore does not read keeps one transaction', async () => {
    const withObjects = await databaseWith(
      'streamed-lo-default',
      `CREATE TABLE docs (id int, body oid); INSERT INTO docs SELECT 1, lo_from_bytea(0, convert_to('body', 'UTF8'));
       CREATE TABLE notes AS SELECT g AS id FROM generate_series(1, 1000) g;`,
    );
    const { path } = await backedUp(withObjects, { restoreJobs: undefined });
    const { scratch, restored } = await restoreIntoNew(path, 'streamed-lo-default-to');
    expect(restored.code, restored.stderr).toBe(0);
    // pg_restore --single-transaction: both tables' rows in one transaction (--jobs would load each in its own).
    expect(
      await query(
        scratch,
        `SELECT count(DISTINCT x)::int AS transactions, sum(n)::int AS rows
           FROM (SELECT xmin::text AS x, 1 AS n FROM docs UNION ALL SELECT xmin::text, 1 FROM notes) t`,
      ),
    ).toEqual([{ transactions: 1, rows: 1001 }]);
    expect(await query(scratch, "SELECT convert_from(lo_get(body), 'UTF8') AS body FROM docs")).toEqual([
      { body: 'body' },
    ]);
  });

  it('--force into a database that holds data replaces it (pg_restore --jobs from a spooled file)', async () => {
    const { path } = await backedUp(database);
    const scratch = await createDatabase(pg, 'streamed-force');
    await query(scratch, 'CREATE TABLE customers (id int); INSERT INTO customers VALUES (-1)');
    const refused = await runCli(['--config', path, 'restore', 'app', '--to', url(scratch)]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('holds data');
    // The spooled file goes to the temp folder: one without room for it is refused before the download.
    const [newest] = JSON.parse((await runCli(['--config', path, 'list', '--json'])).stdout) as {
      artifacts: { rawSize: number }[];
    }[];
    expect(newest?.artifacts[0]?.rawSize).toBeGreaterThan(64 * 1024);
    const tiny = await mountTinyFolder('64k');
    try {
      const cramped = await runCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--force'], {
        TMPDIR: tiny.path,
      });
      expect(cramped.code).toBe(1);
      expect(cramped.stderr).toMatch(
        new RegExp(
          `restore app: needs [\\d.]+ [KM]iB free in ${tiny.path} \\(pg_restore --jobs reads the dump from a file, downloaded to the temp folder first\\), which has 64.0 KiB; destination untouched`,
        ),
      );
      expect(cramped.stderr).toContain('Try: free space in the temp folder, point TMPDIR at a folder with room');
      expect(readdirSync(tiny.path)).toEqual([]);
    } finally {
      await tiny.unmount();
    }
    expect(await query(scratch, 'SELECT id FROM customers')).toEqual([{ id: -1 }]);
    const restored = await runCli(['--config', path, 'restore', 'app', '--to', url(scratch), '--force']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain('before restoring');
    expect(await snapshot(scratch)).toEqual(await snapshot(database));
  });

  it('a schema with an object its clean-up would not drop (a cast) is restored by pg_restore instead, whole', async () => {
    const withCast = await databaseWith(
      'streamed-cast',
      `CREATE TYPE pair AS (a int, b int);
       CREATE FUNCTION pair_text(pair) RETURNS text LANGUAGE sql AS $$ SELECT ($1).a || ',' || ($1).b $$;
       CREATE CAST (pair AS text) WITH FUNCTION pair_text(pair);
       CREATE TABLE pairs AS SELECT ROW(g, g * 2)::pair AS p FROM generate_series(1, 3) g;`,
    );
    const { path } = await backedUp(withCast);
    const { scratch, restored } = await restoreIntoNew(path, 'streamed-cast-to');
    expect(restored.code, restored.stderr).toBe(0);
    expect(await query(scratch, 'SELECT p::text AS t FROM pairs ORDER BY 1')).toEqual([
      { t: '1,2' },
      { t: '2,4' },
      { t: '3,6' },
    ]);
  });

  it('an archive with large objects is restored by pg_restore instead, whole; the file it needs is measured once its head says so', async () => {
    const withObjects = await databaseWith(
      'streamed-lo',
      `CREATE TABLE docs (id int, body oid);
       INSERT INTO docs SELECT 1, lo_from_bytea(0, convert_to('large object body', 'UTF8'));
       INSERT INTO docs SELECT 2, lo_from_bytea(0, convert_to((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 4000) g), 'UTF8'))`,
    );
    const { path } = await backedUp(withObjects);
    // Only the archive's head tells that pg_restore --jobs restores it, from a file in the temp folder: a temp
    // folder without room for it is refused then, before the file is written, and nothing is committed.
    const tiny = await mountTinyFolder('64k');
    try {
      const empty = await createDatabase(pg, 'streamed-lo-cramped');
      const cramped = await runCli(['--config', path, 'restore', 'app', '--to', url(empty)], { TMPDIR: tiny.path });
      expect(cramped.code).toBe(1);
      expect(cramped.stderr).toMatch(
        new RegExp(
          `restore app: postgres: restore into ${empty}: needs 1\\d\\d\\.\\d KiB free in ${tiny.path} \\(pg_restore --jobs reads the dump from a file, downloaded to the temp folder first\\), which has 64.0 KiB; nothing committed`,
        ),
      );
      expect(cramped.stderr).toContain('Try: free space in the temp folder, point TMPDIR at a folder with room');
      expect(readdirSync(tiny.path)).toEqual([]);
      expect(await leftovers(empty)).toEqual([]);
      expect(await commentOf(empty)).toBeNull();
    } finally {
      await tiny.unmount();
    }
    const { scratch, restored } = await restoreIntoNew(path, 'streamed-lo-to');
    expect(restored.code, restored.stderr).toBe(0);
    expect(
      await query(scratch, "SELECT id, length(convert_from(lo_get(body), 'UTF8')) AS n FROM docs ORDER BY id"),
    ).toEqual([
      { id: 1, n: 17 },
      { id: 2, n: 128000 },
    ]);
    expect(await query(scratch, "SELECT convert_from(lo_get(body), 'UTF8') AS body FROM docs WHERE id = 1")).toEqual([
      { body: 'large object body' },
    ]);
  });
});
