// `npm run bench`: backup and restore throughput and memory, Lifeboat against the shell snippets people paste
// into cron and the parallel compressors, all measured in this run on this machine, on application-like data
// (bench/realistic.sql) or pgbench's. Prints figures and the ratios against the targets; `--json` prints the
// same as one JSON document on stdout (the tables go to stderr), to compare commits. Asserts nothing.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { CLI, lifeboatArgv, logLines, NODE_FLAGS } from '../test/harness/cli.js';
import { mcBinary } from '../test/harness/mc.js';
import { type S3Server, startMinio } from '../test/harness/minio.js';
import {
  createDatabase,
  type PostgresServer,
  pgClient,
  postgresBinDir,
  startPostgres,
} from '../test/harness/postgres.js';
import { s3StorageInline } from '../test/harness/s3.js';
import { startFaultProxy } from '../test/hostile/fault-proxy.js';
import { physicalBench } from './physical-bench.js';

const DATA = process.env.LIFEBOAT_BENCH_DATA ?? 'realistic'; // or pgbench
const ROWS = Number(process.env.LIFEBOAT_BENCH_ROWS ?? 4_000_000); // realistic: 4 million events is about 1 GB of dump
const SCALE = Number(process.env.LIFEBOAT_BENCH_SCALE ?? 60); // pgbench scale: 60 is about 1 GB with the text table
const RUNS = Number(process.env.LIFEBOAT_BENCH_RUNS ?? 3);
const SQLITE_MB = Number(process.env.LIFEBOAT_BENCH_SQLITE_MB ?? 512);
const ONLY = process.env.LIFEBOAT_BENCH_ONLY; // physical | scaling | (unset: everything but those)
const JSON_OUT = process.argv.includes('--json');
/** Human output: stdout, or stderr when stdout carries the JSON document. */
const say = (text: string) => (JSON_OUT ? process.stderr : process.stdout).write(text);

interface Measure {
  seconds: number;
  peakRssKiB: number;
  storedBytes: number;
}

/** A peak RSS (GNU time's %M, in KiB) in MB of 10^6 bytes, the unit of every other figure here and of the target. */
const rssMB = (kib: number) => (kib * 1024) / 1e6;

/**
 * Runs a chain of processes (argument arrays, never a shell), timing it and its peak RSS. They are joined as
 * a shell joins them: each one's stdout is the next one's stdin, the first reads `input` and the last writes
 * `output` (else /dev/null) itself. No byte passes through this process: relayed through Node.js streams, a
 * yardstick such as `pg_dump | zstd` would carry this process's reading and writing of every byte, slower
 * than the shell's pipe it stands for.
 */
async function chain(
  commands: string[][],
  env: NodeJS.ProcessEnv,
  output?: string,
  input?: string,
  logFile?: string,
): Promise<Measure> {
  const started = process.hrtime.bigint();
  const rssFiles: string[] = [];
  const children: ChildProcess[] = [];
  const first = input === undefined ? 'ignore' : openSync(input, 'r');
  const last = output === undefined ? 'ignore' : openSync(output, 'w');
  try {
    for (const [i, argv] of commands.entries()) {
      const rss = join(tmpdir(), `lifeboat-bench-rss-${process.pid}-${i}-${Date.now()}`);
      rssFiles.push(rss);
      const isLast = i === commands.length - 1;
      // The last command's stderr (its log) to `logFile` when one is given.
      const log = isLast && logFile !== undefined ? openSync(logFile, 'w') : undefined;
      const previous = children[i - 1]?.stdout;
      try {
        children.push(
          spawn('/usr/bin/time', ['-f', '%M', '-o', rss, ...argv], {
            env: { ...process.env, ...env },
            stdio: [previous ?? first, isLast ? last : 'pipe', log ?? 'inherit'],
          }),
        );
      } finally {
        if (log !== undefined) closeSync(log);
      }
      // The pipe's read end is the next command's alone now: it sees the end when the writer exits.
      previous?.destroy();
    }
  } finally {
    if (typeof first === 'number') closeSync(first);
    if (typeof last === 'number') closeSync(last);
  }
  const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('close', r))));
  if (codes.some((code) => code !== 0))
    throw new Error(`bench: ${commands.map((c) => c[0]).join(' | ')} failed: ${codes}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakRssKiB = Math.max(...rssFiles.map((f) => Number(readFileSync(f, 'utf8').trim().split('\n').pop())));
  await Promise.all(rssFiles.map((f) => rm(f, { force: true })));
  return { seconds, peakRssKiB, storedBytes: output === undefined ? 0 : statSync(output).size };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** A command the bench times; `storedIn` names the config whose newest backup's stored size its row shows. */
interface Entry {
  readonly label: string;
  readonly run: () => Promise<Measure>;
  readonly storedIn?: string;
}

/** A command's figures over its runs: median wall time, worst peak RSS, and each round's run. */
interface Result extends Measure {
  readonly label: string;
  /** The runs, round by round: what paired ratios compare. */
  readonly runs: readonly Measure[];
}

/**
 * Runs each entry once a round, RUNS rounds, and gives each its median wall time and worst peak RSS. The runs
 * a ratio compares are spread over the same minutes: this shared machine grows slower or faster during a run
 * of half an hour, and RUNS runs of one command, then RUNS of the next, put each command in minutes of its own.
 * Every other round runs the entries in reverse order, so no command always follows the same one (the page
 * cache and the disk's write-back of the command before weigh on the one after). The entries labelled in
 * `first` run first, in that order (the two commands of a target side by side), the others after them; the
 * results keep the order of `entries`.
 */
async function rounds(entries: readonly Entry[], first: readonly string[] = []): Promise<Result[]> {
  const leading = first.map((label) => {
    const index = entries.findIndex((entry) => entry.label === label);
    if (index < 0) throw new Error(`bench: no command "${label}" to run first`);
    return index;
  });
  const runOrder = [...leading, ...[...entries.keys()].filter((j) => !leading.includes(j))];
  const results = entries.map(() => [] as Measure[]);
  for (let i = 0; i < RUNS; i += 1) {
    const order = i % 2 === 1 ? [...runOrder].reverse() : runOrder;
    for (const j of order) results[j]?.push(await (entries[j] as Entry).run());
  }
  return Promise.all(
    entries.map(async (entry, j) => {
      const runs = results[j] ?? [];
      return {
        label: entry.label,
        runs,
        seconds: median(runs.map((r) => r.seconds)),
        peakRssKiB: Math.max(...runs.map((r) => r.peakRssKiB)),
        storedBytes: entry.storedIn === undefined ? (runs.at(-1)?.storedBytes ?? 0) : await storedSize(entry.storedIn),
      };
    }),
  );
}

/**
 * The ratio of `a`'s wall time to `b`'s within each round (two runs minutes or seconds apart, not a run
 * and a median of runs half an hour apart), and their median: what a target line reports.
 */
function paired(a: Result | undefined, b: Result | undefined): { value: number; rounds: number[] } {
  if (a === undefined || b === undefined) return { value: Number.NaN, rounds: [] };
  const ratios = a.runs.map((run, i) => run.seconds / (b.runs[i]?.seconds ?? Number.NaN));
  return { value: median(ratios), rounds: ratios };
}

/** Everything printed, for `--json`: tables of rows, the targets with their limits, notes. */
const report = {
  machine: {
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  dataset: {} as Record<string, unknown>,
  tables: {} as Record<string, unknown[]>,
  targets: [] as { target: string; value: number; limit: number; met: boolean; rounds?: number[] }[],
  notes: {} as Record<string, unknown>,
};

/** One line per target: the measured ratio against its limit (lower is better), with each round's for time. */
function target(name: string, measured: number | { value: number; rounds: number[] }, limit: number): void {
  const { value, rounds: perRound } = typeof measured === 'number' ? { value: measured, rounds: [] } : measured;
  const met = value <= limit;
  report.targets.push({ target: name, value, limit, met, ...(perRound.length > 0 ? { rounds: perRound } : {}) });
  const spread = perRound.length > 0 ? `  rounds ${perRound.map((r) => r.toFixed(2)).join(', ')}` : '';
  say(`${name.padEnd(62)}${value.toFixed(2).padStart(8)}  (target <= ${limit})  ${met ? 'met' : 'NOT met'}${spread}
`);
}

/** Prints one table: wall time, throughput of dump bytes, stored size, peak RSS and ratios to baselines. */
function printResults(
  title: string,
  results: readonly (Measure & { label: string })[],
  rawBytes: number,
  baselines: readonly [string, number][],
): void {
  const row = (cells: string[]) =>
    `${cells[0]?.padEnd(60)}${cells
      .slice(1)
      .map((c) => c.padStart(15))
      .join('')}\n`;
  say(`${title}\n`);
  say(row(['command', 'wall s', 'MB/s', 'stored MB', 'peak RSS MB', ...baselines.map(([name]) => `x ${name}`)]));
  report.tables[title.trim()] = results.map((r) => ({
    command: r.label,
    seconds: r.seconds,
    mbPerSecond: rawBytes / 1e6 / r.seconds,
    storedBytes: r.storedBytes || null,
    peakRssMB: rssMB(r.peakRssKiB),
    ratios: Object.fromEntries(baselines.map(([name, seconds]) => [name, r.seconds / seconds])),
  }));
  for (const r of results) {
    say(
      row([
        r.label,
        r.seconds.toFixed(2),
        (rawBytes / 1e6 / r.seconds).toFixed(1),
        r.storedBytes ? (r.storedBytes / 1e6).toFixed(1) : '-',
        rssMB(r.peakRssKiB).toFixed(0),
        ...baselines.map(([, seconds]) => (r.seconds / seconds).toFixed(2)),
      ]),
    );
  }
}

/** Stored and raw size of the newest backup's first artifact in a config's store (`lifeboat list --json`). */
async function newestSizes(config: string): Promise<{ size: number; rawSize: number }> {
  const out = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, '--config', config, 'list', '--json'], {
      env: { ...process.env, ...QUIET },
    });
    let text = '';
    child.stdout.on('data', (c: Buffer) => {
      text += c.toString();
    });
    child.on('close', () => resolve(text));
  });
  const artifact = (JSON.parse(out) as { artifacts: { size: number; rawSize: number }[] }[])[0]?.artifacts[0];
  return { size: artifact?.size ?? 0, rawSize: artifact?.rawSize ?? 0 };
}

const storedSize = async (config: string) => (await newestSizes(config)).size;

const QUIET = { LIFEBOAT_LOG_LEVEL: 'warn' };

/** A Lifeboat command; a backup's row shows the stored bytes of its newest backup. */
function lifeboatEntry(label: string, config: string, args: string[]): Entry {
  return {
    label,
    run: () => chain([[...lifeboatArgv(), '--config', config, ...args]], QUIET),
    storedIn: args[0] === 'backup' ? config : undefined,
  };
}

async function dropDatabase(pg: Parameters<typeof pgClient>[0], name: string): Promise<void> {
  const client = await pgClient(pg);
  try {
    await client.query(`DROP DATABASE "${name}"`);
  } finally {
    await client.end();
  }
}

async function writeYaml(path: string, content: unknown): Promise<string> {
  await writeFile(path, stringify(content));
  return path;
}

/** A SQLite file of about `mb` MB: JSON events and text notes, generated by SQLite itself. */
function sqliteDatabase(path: string, mb: number): void {
  const db = new Database(path);
  const words = JSON.stringify(COMMON_WORDS);
  db.exec(`PRAGMA journal_mode = WAL;
    CREATE TABLE events (id INTEGER PRIMARY KEY, request TEXT, at TEXT, payload TEXT, note TEXT);`);
  const insert = db.prepare(`WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM c WHERE x < ?)
    INSERT INTO events SELECT x, lower(hex(randomblob(16))), datetime(1700000000 + x, 'unixepoch'),
      json_object('user', abs(random()) % 400000, 'action', json_extract(:actions, '$[' || (abs(random()) % 6) || ']'),
                  'path', '/api/v2/items/' || (abs(random()) % 100000),
                  'status', json_extract(:codes, '$[' || (abs(random()) % 8) || ']'), 'ms', abs(random()) % 2000),
      json_extract(:words, '$[' || (abs(random()) % 180) || ']') || ' ' || json_extract(:words, '$[' || (abs(random()) % 60) || ']') ||
      ' ' || json_extract(:words, '$[' || (abs(random()) % 180) || ']') || ' ' || lower(hex(randomblob(3))) || ' ' ||
      json_extract(:words, '$[' || (abs(random()) % 30) || ']') || ' ' || json_extract(:words, '$[' || (abs(random()) % 180) || ']')
    FROM c`);
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const bytes = () => Number(db.pragma('page_count', { simple: true })) * pageSize;
  for (let from = 1; bytes() < mb * 1e6; from += 100_000) {
    insert.run(from, from + 99_999, {
      actions: '["login","view","search","buy","update","logout"]',
      codes: '[200,200,200,200,201,304,404,500]',
      words,
    });
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

const COMMON_WORDS = (
  'the of and to in a is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her she there been one all we their has would when if so no will more can out up what about who some ' +
  'only into them time than then its could other like two may first new any these do over also after most very our ' +
  'now made through where many well such even before how must people see way back own much us down year should ' +
  'just same good because world between each life work those state still part long under while great last might ' +
  'day high number both little place never house case point use thing group problem fact hand system company ' +
  'program question government order plan report data user account item'
).split(' ');

/** Runs the bench, then prints the report for `--json` (every mode: full, scaling, physical). */
async function main(): Promise<void> {
  await runBench();
  if (JSON_OUT) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

async function runBench(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'lifeboat-bench-'));
  const [{ server: pg, stop: stopPg }, { server: s3, stop: stopS3 }] = await Promise.all([
    startPostgres(),
    startMinio(),
  ]);
  try {
    const database = await createDatabase(pg, 'bench');
    const env = {
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      PGUSER: pg.user,
      PGPASSWORD: pg.password,
      PGDATABASE: database,
    };
    const generate = async (rows: number) => {
      if (DATA === 'pgbench' || ONLY === 'physical') {
        say(`bench: generating pgbench scale ${SCALE} plus a text/JSON table in ${database}\n`);
        await chain([[join(postgresBinDir(), 'pgbench'), '-i', '-q', '-s', String(SCALE), '--unlogged-tables']], env);
        const client = await pgClient(pg, database);
        await client.query(`CREATE TABLE events AS
          SELECT g AS id, now() - g * interval '1 second' AS at,
                 jsonb_build_object('user', 'user' || (g % 5000), 'action', (ARRAY['login','view','buy','logout'])[1 + g % 4],
                                    'path', '/items/' || (g % 100000), 'ms', g % 997) AS payload,
                 md5(g::text) || ' ' || repeat('lorem ipsum dolor sit amet ', 1 + g % 5) AS note
          FROM generate_series(1, ${SCALE * 20000}) g`);
        await client.end();
      } else {
        say(`bench: generating application-like data (${rows} events, bench/realistic.sql) in ${database}\n`);
        const sql = new URL('../../bench/realistic.sql', import.meta.url).pathname;
        await chain([['psql', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `rows=${rows}`, '-f', sql]], env);
      }
      const client = await pgClient(pg, database);
      const size = Number((await client.query('SELECT pg_database_size(current_database()) AS s')).rows[0].s);
      await client.end();
      return size;
    };
    const pgTarget = {
      name: 'bench',
      driver: 'postgres',
      host: pg.host,
      port: pg.port,
      user: pg.user,
      database,
      password: pg.password,
    };
    const configFor = (name: string, storage: object, fields: object = {}) =>
      writeYaml(join(work, `${name}.yaml`), { storage, targets: [{ ...pgTarget, ...fields }] });

    if (ONLY === 'scaling') {
      await scaling(pg, s3, env, join(work, 'dump.pgcustom'), generate, configFor);
      return;
    }
    const size = await generate(ROWS);
    const tools = { chain, rounds, print: printResults, rssMB };
    if (ONLY === 'physical') {
      say(`bench: database size ${(size / 1e6).toFixed(0)} MB\n\n`);
      await physicalBench(tools, pg, s3, work, CLI, env);
      return;
    }
    const dumpFile = join(work, 'dump.pgcustom');
    const rawBytes = (await chain([['pg_dump', '--format=custom', '--compress=0']], env, dumpFile)).storedBytes;
    report.dataset = { data: DATA, rows: ROWS, databaseBytes: size, dumpBytes: rawBytes, runs: RUNS };
    say(
      `bench: database ${(size / 1e6).toFixed(0)} MB, ${(rawBytes / 1e6).toFixed(0)} MB of pg_dump output; ` +
        `${RUNS} runs each in rounds (every command of a table once a round, every other round in reverse), median wall time, peak RSS of the worst run\n\n`,
    );

    const cores = String(cpus().length);
    const store = (name: string) => ({ type: 'local', path: join(work, 'store', name) });
    const gzip = { compression: { algorithm: 'gzip', level: 6 } };
    const zstd = { compression: { algorithm: 'zstd', level: 3 } };
    const none = { compression: { algorithm: 'none' } };
    const local = {
      gzip: await configFor('local-gzip', store('gzip'), gzip),
      zstd: await configFor('local-zstd', store('zstd'), zstd),
      none: await configFor('local-none', store('none'), none),
    };
    const remote = {
      gzip: await configFor('s3-gzip', s3StorageInline(s3, 'gzip/'), gzip),
      zstd: await configFor('s3-zstd', s3StorageInline(s3, 'zstd/'), zstd),
      none: await configFor('s3-none', s3StorageInline(s3, 'none/'), none),
    };
    // Other proofs of an upload than the default read-back. store: the store checks each part's SHA-256 on
    // arrival, no read-back; size: nothing read back, nothing checked by the store (what the read-back costs).
    const verifiedBy = (verifyUpload: 'store' | 'size', algorithm: string, settings: object) =>
      configFor(
        `s3-${algorithm}-${verifyUpload}`,
        { ...s3StorageInline(s3, `${algorithm}-${verifyUpload}/`), verifyUpload },
        settings,
      );
    const storeChecked = {
      gzip: await verifiedBy('store', 'gzip', gzip),
      zstd: await verifiedBy('store', 'zstd', zstd),
    };
    const sizeChecked = await verifiedBy('size', 'zstd', zstd);
    // Encryption: a key pair from the reference tool; the daemon's config holds only the public half.
    const keyFile = join(work, 'age-key.txt');
    await chain([['age-keygen', '-o', keyFile]], {});
    const recipient = readFileSync(keyFile, 'utf8').match(/public key: (age1\S+)/)?.[1] as string;
    const ageConfig = await configFor(
      's3-age',
      { ...s3StorageInline(s3, 'age/'), encryption: { recipients: [recipient], identityFile: keyFile } },
      zstd,
    );
    const dump = ['pg_dump', '--format=custom', '--compress=0'];
    // The same pipes streamed into the same MinIO by its own client: what a store on these two cores costs shell
    // tools (no checksum kept, nothing read back). The keys go in mc's environment, never in its arguments.
    const s3Url = new URL(s3.endpoint);
    const mcEnv = {
      ...env,
      MC_CONFIG_DIR: join(work, 'mc'),
      MC_HOST_bench: `${s3Url.protocol}//${s3.accessKeyId}:${s3.secretAccessKey}@${s3Url.host}`,
    };
    const mcPipe = (name: string) => [mcBinary(), '--quiet', 'pipe', `bench/${s3.bucket}/mc/${name}`];
    const pigz = ['pigz', '-6', '-p', cores];
    const zstdTool = ['zstd', '-q', '-3', `-T${cores}`];
    const label = {
      pigz: `pg_dump | pigz -p ${cores} -6 > file`,
      zstd: `pg_dump | zstd -T${cores} -3 > file`,
      pigzS3: `pg_dump | pigz -p ${cores} -6 | mc pipe (S3/MinIO)`,
      zstdS3: `pg_dump | zstd -T${cores} -3 | mc pipe (S3/MinIO)`,
    };
    const entries: Entry[] = [
      { label: 'pg_dump > /dev/null (floor)', run: () => chain([dump], env) },
      { label: 'pg_dump | gzip -6 > file', run: () => chain([dump, ['gzip', '-6']], env, join(work, 'f.gz')) },
      { label: label.pigz, run: () => chain([dump, pigz], env, join(work, 'p.gz')) },
      { label: label.zstd, run: () => chain([dump, zstdTool], env, join(work, 'f.zst')) },
      { label: label.pigzS3, run: () => chain([dump, pigz, mcPipe('p.gz')], mcEnv) },
      { label: label.zstdS3, run: () => chain([dump, zstdTool, mcPipe('f.zst')], mcEnv) },
      lifeboatEntry('lifeboat backup gzip (local)', local.gzip, ['backup']),
      lifeboatEntry('lifeboat backup zstd (local)', local.zstd, ['backup']),
      lifeboatEntry('lifeboat backup none (local)', local.none, ['backup']),
      lifeboatEntry('lifeboat backup gzip (S3/MinIO)', remote.gzip, ['backup']),
      lifeboatEntry('lifeboat backup zstd (S3/MinIO)', remote.zstd, ['backup']),
      lifeboatEntry('lifeboat backup none (S3/MinIO)', remote.none, ['backup']),
      lifeboatEntry('lifeboat backup gzip (S3, verifyUpload store)', storeChecked.gzip, ['backup']),
      lifeboatEntry('lifeboat backup zstd (S3, verifyUpload store)', storeChecked.zstd, ['backup']),
      lifeboatEntry('lifeboat backup zstd (S3, verifyUpload size)', sizeChecked, ['backup']),
      lifeboatEntry('lifeboat backup zstd (S3, age)', ageConfig, ['backup']),
    ];
    // Each target's pair side by side: the shell pipe, then Lifeboat's backup to S3 it is held to.
    const backups = await rounds(entries, [
      label.pigz,
      'lifeboat backup gzip (S3/MinIO)',
      label.zstd,
      'lifeboat backup zstd (S3/MinIO)',
    ]);
    const backup = (label: string) => backups.find((b) => b.label.startsWith(label));
    const seconds = (label: string) => backup(label)?.seconds ?? Number.NaN;
    const stored = (label: string) => backup(label)?.storedBytes ?? Number.NaN;
    printResults(`backup of ${(rawBytes / 1e6).toFixed(0)} MB of pg_dump output`, backups, rawBytes, [
      ['floor', seconds('pg_dump >')],
      ['gzip', seconds('pg_dump | gzip')],
      ['pigz', seconds(label.pigz)],
      ['zstd', seconds(label.zstd)],
    ]);
    say(
      `compression ratio: gzip -6 ${(rawBytes / stored('pg_dump | gzip')).toFixed(2)}x, ` +
        `zstd -3 ${(rawBytes / stored(label.zstd)).toFixed(2)}x\n`,
    );

    // A rate limit that binds: uncompressed uploads at a quarter of the uncompressed S3 rate.
    const limit = Math.max(1, Math.round(rawBytes / seconds('lifeboat backup none (S3') / 4 / 2 ** 20));
    const limited = await configFor('s3-limited', s3StorageInline(s3, 'limited/'), {
      ...none,
      rateLimit: { upload: `${limit}MiB` },
    });
    // One run, its log kept: backup.end's uploadMs is the upload alone (no start-up, no read-back, no manifest).
    const limitedLog = join(work, 'limited.log');
    const limitedRun = await chain(
      [[...lifeboatArgv(), '--config', limited, 'backup']],
      { LIFEBOAT_LOG_LEVEL: 'info' },
      undefined,
      undefined,
      limitedLog,
    );
    const end = logLines(readFileSync(limitedLog, 'utf8')).find((line) => line.event === 'backup.end') as
      | { bytes?: number; uploadMs?: number }
      | undefined;
    if (end?.bytes === undefined || end.uploadMs === undefined) throw new Error('bench: no backup.end with uploadMs');
    const achieved = end.bytes / (end.uploadMs / 1000) / 2 ** 20;
    const overall = end.bytes / limitedRun.seconds / 2 ** 20;
    report.notes.rateLimit = {
      limitMiBps: limit,
      achievedMiBps: achieved,
      uploadSeconds: end.uploadMs / 1000,
      wholeCommandMiBps: overall,
      wallSeconds: limitedRun.seconds,
    };
    say(
      `rate limit ${limit} MiB/s: ${achieved.toFixed(2)} MiB/s over the upload (${(end.uploadMs / 1000).toFixed(1)} s); ` +
        `${overall.toFixed(2)} MiB/s over the whole command (${limitedRun.seconds.toFixed(1)} s, start-up and read-back included)\n`,
    );

    // One restored copy at a time (each is the size of the database): the one before is dropped, untimed,
    // before every restore and drill. Dropped, its files' dirty pages are thrown away; kept, the kernel would
    // still be writing them out while the next command loads (a drill after a restore ran 1.26x
    // pg_restore in rounds where the restores ran 1.03x).
    let lastRestored: string | undefined;
    const dropRestored = async () => {
      if (lastRestored !== undefined) await dropDatabase(pg, lastRestored);
      lastRestored = undefined;
    };
    const restoreInto = async () => {
      await dropRestored();
      const scratch = await createDatabase(pg, 'restore');
      lastRestored = scratch;
      // No password in the URL: the target's password is used, so no secret reaches argv.
      return `postgres://${pg.user}@${pg.host}:${pg.port}/${scratch}`;
    };
    // By default one session a core loads the empty database as the backup downloads; the zstd backup again
    // with `restoreJobs: 1`: pg_restore in one transaction, as a database that holds data is restored.
    const serial = await configFor('s3-zstd-serial', s3StorageInline(s3, 'zstd/'), { ...zstd, restoreJobs: 1 });
    const lifeboatRestore = (label: string, config: string): Entry => ({
      label,
      run: async () =>
        chain([[...lifeboatArgv(), '--config', config, 'restore', 'bench', '--to', await restoreInto()]], QUIET),
    });
    // A drill: download from S3, verify, restore into a scratch database, check row counts; its total is the
    // measured RTO for this size. It runs in the restores' rounds, beside the pg_restore it is compared with.
    const drills: { measure: Measure; timings: Record<string, number> }[] = [];
    const drill: Entry = {
      label: 'lifeboat drill zstd (S3/MinIO)',
      run: async () => {
        await dropRestored();
        const out = join(work, 'drill.json');
        const measure = await chain(
          [[...lifeboatArgv(), '--config', remote.zstd, 'drill', 'bench', '--json']],
          QUIET,
          out,
        );
        const [record] = JSON.parse(readFileSync(out, 'utf8')) as { ok: boolean; timings: Record<string, number> }[];
        if (record?.ok !== true) throw new Error(`bench: drill failed: ${readFileSync(out, 'utf8')}`);
        drills.push({ measure, timings: record.timings });
        return measure;
      },
    };
    const pgRestoreEntry: Entry = {
      label: `pg_restore --jobs ${cores} (local file)`,
      run: async () => {
        const url = new URL(await restoreInto());
        return chain([['pg_restore', `--jobs=${cores}`, `--dbname=${url.pathname.slice(1)}`, dumpFile]], env);
      },
    };
    const gzipRestore = lifeboatRestore('lifeboat restore gzip (S3/MinIO)', remote.gzip);
    const zstdRestore = lifeboatRestore('lifeboat restore zstd (S3/MinIO)', remote.zstd);
    // pg_restore between the two restores held to it, the drill next: each target's pair side by side.
    const restores = await rounds(
      [
        pgRestoreEntry,
        gzipRestore,
        zstdRestore,
        lifeboatRestore('lifeboat restore zstd, restoreJobs 1 (S3)', serial),
        lifeboatRestore('lifeboat restore zstd (S3, age)', ageConfig),
        drill,
      ],
      [gzipRestore.label, pgRestoreEntry.label, zstdRestore.label, drill.label],
    );
    // The drill's row is printed on a line of its own below, with its stages.
    const drilled = restores.pop();
    const [pgRestored, gzipRestored, zstdRestored] = restores;
    const pgRestore = pgRestored?.seconds ?? 1;
    printResults('\nrestore', restores, rawBytes, [['pg_restore', pgRestore]]);

    const stage = (name: string) => median(drills.map((d) => d.timings[name] ?? 0));
    const drillWall = median(drills.map((d) => d.measure.seconds));
    const drillRss = rssMB(Math.max(...drills.map((d) => d.measure.peakRssKiB)));
    report.notes.drill = {
      stages: Object.fromEntries(['download', 'verify', 'restore', 'checks', 'total'].map((n) => [n, stage(n)])),
      wallSeconds: drillWall,
      peakRssMB: drillRss,
    };
    say(
      `\ndrill, zstd (median of ${RUNS}): download ${stage('download').toFixed(2)} s, verify ${stage('verify').toFixed(2)} s, ` +
        `restore ${stage('restore').toFixed(2)} s, checks ${stage('checks').toFixed(2)} s = RTO ${stage('total').toFixed(2)} s; ` +
        `wall ${drillWall.toFixed(2)} s, peak RSS ${drillRss.toFixed(0)} MB\n`,
    );

    // The zstd backup read through a link that holds each connection to 40 MB/s, as one stream from S3 across
    // a WAN often is: one GET against ranged GETs side by side (`lifeboat verify`: download and digests).
    const wan = await startFaultProxy(s3Url.hostname, Number(s3Url.port));
    try {
      wan.setFault({ kind: 'rate', bytesPerSecond: 40e6 });
      const through = (concurrency: number) =>
        configFor(
          `s3-wan-${concurrency}`,
          { ...s3StorageInline(s3, 'zstd/'), endpoint: wan.url, downloadConcurrency: concurrency },
          zstd,
        );
      const wanResults = await rounds([
        lifeboatEntry('lifeboat verify zstd, one GET (40 MB/s a connection)', await through(1), ['verify', 'bench']),
        lifeboatEntry('lifeboat verify zstd, 4 ranged GETs (40 MB/s a connection)', await through(4), [
          'verify',
          'bench',
        ]),
      ]);
      printResults('\ndownload across a slow link', wanResults, rawBytes, [['one GET', wanResults[0]?.seconds ?? 1]]);
    } finally {
      await wan.close();
    }

    const sqlite = await sqliteBench(work, cores);

    say(
      '\ntargets (ratios of wall time or size, lower is better; of time: the median of the ratios within each round, the two commands run side by side)\n',
    );
    target(
      'backup gzip to S3 / pg_dump | pigz (time)',
      paired(backup('lifeboat backup gzip (S3'), backup(label.pigz)),
      1.1,
    );
    target(
      'backup gzip to S3 / pg_dump | pigz (stored size)',
      stored('lifeboat backup gzip (S3') / stored(label.pigz),
      1.02,
    );
    target(
      'backup zstd to S3 / pg_dump | zstd -T2 -3 (time)',
      paired(backup('lifeboat backup zstd (S3'), backup(label.zstd)),
      1.1,
    );
    const peak = rssMB(Math.max(...backups.filter((b) => b.label.startsWith('lifeboat')).map((b) => b.peakRssKiB)));
    target('peak RSS of any Lifeboat backup, MB / 200', peak / 200, 1);
    target('drill (wall) / pg_restore --jobs 2', paired(drilled, pgRestored), 1.15);
    target('lifeboat restore gzip from S3 / pg_restore --jobs 2', paired(gzipRestored, pgRestored), 1.1);
    target('lifeboat restore zstd from S3 / pg_restore --jobs 2', paired(zstdRestored, pgRestored), 1.1);
    target('rate limit: achieved / configured', achieved / limit, 1.05);
    target('rate limit: configured / achieved', limit / achieved, 1.05);
    target('SQLite backup zstd / sqlite3 .backup + pigz (time)', sqlite, 1.1);

    // Not targets: what sending the stream to a store that shares these two cores costs a shell pipe, and
    // Lifeboat's backups to S3 against those pipes (both send to the same MinIO; Lifeboat also hashes the raw
    // and the stored bytes, counts the rows in the snapshot and, by default, reads the object back).
    say('\nthe same pipes to S3 (mc pipe to the same MinIO; no targets)\n');
    const context = (name: string, value: number) => {
      report.notes[name] = value;
      say(`${name.padEnd(62)}${value.toFixed(2).padStart(8)}\n`);
    };
    context('pg_dump | pigz | mc pipe / pg_dump | pigz > file (time)', seconds(label.pigzS3) / seconds(label.pigz));
    context('pg_dump | zstd | mc pipe / pg_dump | zstd > file (time)', seconds(label.zstdS3) / seconds(label.zstd));
    context(
      'backup gzip to S3 / pg_dump | pigz | mc pipe (time)',
      seconds('lifeboat backup gzip (S3') / seconds(label.pigzS3),
    );
    context(
      'backup zstd to S3 / pg_dump | zstd | mc pipe (time)',
      seconds('lifeboat backup zstd (S3') / seconds(label.zstdS3),
    );
  } finally {
    await Promise.all([stopPg(), stopS3()]);
    await rm(work, { recursive: true, force: true });
  }
}

/** SQLite: a file of LIFEBOAT_BENCH_SQLITE_MB against `sqlite3 .backup` then `pigz`; returns zstd's paired ratio to it. */
async function sqliteBench(work: string, cores: string): Promise<ReturnType<typeof paired>> {
  const file = join(work, 'app.db');
  const started = Date.now();
  sqliteDatabase(file, SQLITE_MB);
  const bytes = statSync(file).size;
  say(
    `\nbench: SQLite file of ${(bytes / 1e6).toFixed(0)} MB generated in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  const copy = join(work, 'copy.db');
  const entries: Entry[] = [
    {
      label: `sqlite3 .backup, then pigz -p ${cores} -6`,
      run: async () => {
        await rm(copy, { force: true });
        const backup = await chain([['sqlite3', file, `.backup ${copy}`]], {});
        const packed = await chain([['pigz', '-6', '-p', cores]], {}, join(work, 'copy.db.gz'), copy);
        return {
          seconds: backup.seconds + packed.seconds,
          peakRssKiB: Math.max(backup.peakRssKiB, packed.peakRssKiB),
          storedBytes: packed.storedBytes,
        };
      },
    },
  ];
  for (const [algorithm, level] of [
    ['gzip', 6],
    ['zstd', 3],
  ] as const) {
    const config = await writeYaml(join(work, `sqlite-${algorithm}.yaml`), {
      storage: { type: 'local', path: join(work, 'sqlite-store', algorithm) },
      targets: [{ name: 'app', driver: 'sqlite', path: file, compression: { algorithm, level } }],
    });
    entries.push(lifeboatEntry(`lifeboat backup ${algorithm} (local)`, config, ['backup']));
  }
  const results = await rounds(entries);
  printResults(`\nSQLite backup of a ${(bytes / 1e6).toFixed(0)} MB file`, results, bytes, [
    ['sqlite3+pigz', results[0]?.seconds ?? 1],
  ]);
  return paired(results[2], results[0]);
}

/**
 * LIFEBOAT_BENCH_ONLY=scaling: pg_dump to a file, a gzip and a zstd backup to S3, a restore and pg_restore, at
 * LIFEBOAT_BENCH_ROWS and at ten times that. The application-like data grows by copies of its rows under new
 * keys (minutes, where generating ten times as many takes ten times as long as the first set): a copy lies a
 * whole table after its original, far beyond gzip's 32 KiB and zstd's 2 MiB of look-back, so it compresses
 * like new rows and the dump is read and written the same way.
 */
async function scaling(
  pg: PostgresServer,
  s3: S3Server,
  env: NodeJS.ProcessEnv,
  dumpFile: string,
  generate: (rows: number) => Promise<number>,
  configFor: (name: string, storage: object, fields?: object) => Promise<string>,
): Promise<void> {
  interface Scaled {
    size: number;
    dumpBytes: number;
    /** pg_dump to a file: what reading the database costs at this size (the yardstick of the backups). */
    dump: Measure;
    /** pg_restore --jobs 2 of that file (the yardstick of the restore). */
    pgRestore: Measure;
    gzip: Measure;
    zstd: Measure;
    restore: Measure;
  }
  const rows: Scaled[] = [];
  const database = env.PGDATABASE as string;
  let size = 0;
  for (const factor of [1, 10]) {
    if (factor === 1) size = await generate(ROWS);
    else if (DATA === 'pgbench') {
      const client = await pgClient(pg, database);
      await client.query('DROP TABLE IF EXISTS events');
      await client.end();
      size = await generate(ROWS * factor);
    } else size = await growRealistic(pg, database, factor);
    const dump = await chain([['pg_dump', '--format=custom', '--compress=0']], env, dumpFile);
    const backup = async (algorithm: 'gzip' | 'zstd') => {
      const config = await configFor(
        `scale-${factor}-${algorithm}`,
        s3StorageInline(s3, `scale-${factor}-${algorithm}/`),
        {
          compression: { algorithm, level: algorithm === 'gzip' ? 6 : 3 },
        },
      );
      return { config, measure: await chain([[...lifeboatArgv(), '--config', config, 'backup']], QUIET) };
    };
    const gzip = await backup('gzip');
    const zstd = await backup('zstd');
    const dumpBytes = (await newestSizes(gzip.config)).rawSize;
    const scratch = await createDatabase(pg, 'scale');
    const restore = await chain(
      [
        [
          ...lifeboatArgv(),
          '--config',
          zstd.config,
          'restore',
          'bench',
          '--to',
          `postgres://${pg.user}@${pg.host}:${pg.port}/${scratch}`,
        ],
      ],
      QUIET,
    );
    await dropDatabase(pg, scratch);
    const baseline = await createDatabase(pg, 'scale');
    const pgRestore = await chain([['pg_restore', '--jobs=2', `--dbname=${baseline}`, dumpFile]], env);
    await dropDatabase(pg, baseline);
    await rm(dumpFile, { force: true });
    rows.push({ size, dumpBytes, dump, pgRestore, gzip: gzip.measure, zstd: zstd.measure, restore });
    say(`scaling: ${(dumpBytes / 1e9).toFixed(2)} GB of dump done\n`);
  }
  say(
    'scaling: pg_dump to a file, one gzip and one zstd backup to S3, one restore (zstd) from S3 and pg_restore --jobs 2 of the file, at each size\n',
  );
  say(
    `${'dump GB'.padEnd(10)}${'pg_dump s'.padStart(10)}${'gzip s'.padStart(9)}${'MB/s'.padStart(7)}${'RSS MB'.padStart(8)}` +
      `${'zstd s'.padStart(9)}${'MB/s'.padStart(7)}${'RSS MB'.padStart(8)}${'restore s'.padStart(11)}${'RSS MB'.padStart(8)}` +
      `${'pg_restore s'.padStart(14)}\n`,
  );
  const rate = (m: Measure, bytes: number) => (bytes / 1e6 / m.seconds).toFixed(1).padStart(7);
  const rss = (m: Measure) => rssMB(m.peakRssKiB).toFixed(0).padStart(8);
  for (const r of rows) {
    say(
      `${(r.dumpBytes / 1e9).toFixed(2).padEnd(10)}${r.dump.seconds.toFixed(1).padStart(10)}` +
        `${r.gzip.seconds.toFixed(1).padStart(9)}${rate(r.gzip, r.dumpBytes)}${rss(r.gzip)}` +
        `${r.zstd.seconds.toFixed(1).padStart(9)}${rate(r.zstd, r.dumpBytes)}${rss(r.zstd)}` +
        `${r.restore.seconds.toFixed(1).padStart(11)}${rss(r.restore)}${r.pgRestore.seconds.toFixed(1).padStart(14)}\n`,
    );
  }
  const [small, large] = rows;
  if (small && large) {
    const perByte = (m: Measure, bytes: number) => m.seconds / bytes;
    const ratio = (pick: (r: Scaled) => Measure) =>
      (perByte(pick(large), large.dumpBytes) / perByte(pick(small), small.dumpBytes)).toFixed(2);
    say(
      `time per byte, large / small: pg_dump ${ratio((r) => r.dump)}, gzip backup ${ratio((r) => r.gzip)}, ` +
        `zstd backup ${ratio((r) => r.zstd)}, restore ${ratio((r) => r.restore)}, pg_restore ${ratio((r) => r.pgRestore)}\n`,
    );
    for (const r of rows) {
      say(
        `at ${(r.dumpBytes / 1e9).toFixed(2)} GB: zstd backup / pg_dump ${(r.zstd.seconds / r.dump.seconds).toFixed(2)}, ` +
          `restore / pg_restore ${(r.restore.seconds / r.pgRestore.seconds).toFixed(2)}\n`,
      );
    }
  }
  report.notes.scaling = rows.map((r) => ({
    dumpBytes: r.dumpBytes,
    pgDumpSeconds: r.dump.seconds,
    pgRestoreSeconds: r.pgRestore.seconds,
    gzipBackupSeconds: r.gzip.seconds,
    gzipBackupPeakRssMB: rssMB(r.gzip.peakRssKiB),
    zstdBackupSeconds: r.zstd.seconds,
    zstdBackupPeakRssMB: rssMB(r.zstd.peakRssKiB),
    restoreSeconds: r.restore.seconds,
    restorePeakRssMB: rssMB(r.restore.peakRssKiB),
  }));
}

/**
 * Makes bench/realistic.sql's tables `factor` times as large: each table's rows again, factor - 1 times, in
 * their order, under new ids (and new request ids for events). Returns the database's size.
 */
async function growRealistic(pg: PostgresServer, database: string, factor: number): Promise<number> {
  const client = await pgClient(pg, database);
  try {
    const copies: Record<string, string> = {
      users: 'name, email, created, profile',
      documents: 'owner, body, updated',
      events: 'gen_random_uuid(), at, payload',
    };
    for (const [table, columns] of Object.entries(copies)) {
      const n = Number((await client.query(`SELECT max(id) AS n FROM ${table}`)).rows[0].n);
      say(`bench: growing ${table} from ${n} to ${n * factor} rows\n`);
      for (let copy = 1; copy < factor; copy += 1) {
        await client.query(`INSERT INTO ${table} SELECT id + $1::int, ${columns} FROM ${table} WHERE id <= $2::int`, [
          copy * n,
          n,
        ]);
      }
    }
    await client.query('VACUUM ANALYZE');
    return Number((await client.query('SELECT pg_database_size(current_database()) AS s')).rows[0].s);
  } finally {
    await client.end();
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
