// `npm run bench`: PostgreSQL backup and restore throughput and memory, Lifeboat against the shell
// snippets people paste into cron, all measured in this run on this machine. Prints figures, asserts nothing.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startMinio } from '../test/harness/minio.js';
import { createDatabase, pgClient, postgresBinDir, startPostgres } from '../test/harness/postgres.js';
import { s3StorageInline } from '../test/harness/s3.js';
import { physicalBench } from './physical-bench.js';

const SCALE = Number(process.env.LIFEBOAT_BENCH_SCALE ?? 60); // pgbench scale: 60 is about 1 GB with the text table
const RUNS = Number(process.env.LIFEBOAT_BENCH_RUNS ?? 3);
const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;

interface Measure {
  seconds: number;
  peakRssKiB: number;
  storedBytes: number;
}

/** Runs a chain of processes (argument arrays, piped in node, never a shell), timing it and its peak RSS. */
async function chain(commands: string[][], env: NodeJS.ProcessEnv, output?: string, input?: string): Promise<Measure> {
  const started = process.hrtime.bigint();
  const rssFiles: string[] = [];
  const children = await Promise.all(
    commands.map(async (argv, i) => {
      const rss = join(tmpdir(), `lifeboat-bench-rss-${process.pid}-${i}-${Date.now()}`);
      rssFiles.push(rss);
      return spawn('/usr/bin/time', ['-f', '%M', '-o', rss, ...argv], {
        env: { ...process.env, ...env },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
    }),
  );
  for (let i = 0; i + 1 < children.length; i += 1)
    children[i]?.stdout?.pipe(children[i + 1]?.stdin as NodeJS.WritableStream);
  const first = children[0];
  if (input !== undefined) createReadStream(input).pipe(first?.stdin as NodeJS.WritableStream);
  else first?.stdin?.end();
  const last = children[children.length - 1];
  if (output !== undefined) last?.stdout?.pipe(createWriteStream(output));
  else last?.stdout?.resume();
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

async function repeat(label: string, run: () => Promise<Measure>): Promise<Measure & { label: string }> {
  const results: Measure[] = [];
  for (let i = 0; i < RUNS; i += 1) results.push(await run());
  return {
    label,
    seconds: median(results.map((r) => r.seconds)),
    peakRssKiB: Math.max(...results.map((r) => r.peakRssKiB)),
    storedBytes: results.at(-1)?.storedBytes ?? 0,
  };
}

/** Prints one table: wall time, throughput of dump bytes, stored size, peak RSS and ratios to baselines. */
function printResults(
  title: string,
  results: readonly (Measure & { label: string })[],
  rawBytes: number,
  baselines: readonly [string, number][],
): void {
  const row = (cells: string[]) =>
    `${cells[0]?.padEnd(34)}${cells
      .slice(1)
      .map((c) => c.padStart(13))
      .join('')}\n`;
  process.stdout.write(`${title}\n`);
  process.stdout.write(
    row(['command', 'wall s', 'MB/s', 'stored MB', 'peak RSS MB', ...baselines.map(([name]) => `x ${name}`)]),
  );
  for (const r of results) {
    process.stdout.write(
      row([
        r.label,
        r.seconds.toFixed(2),
        (rawBytes / 1e6 / r.seconds).toFixed(1),
        r.storedBytes ? (r.storedBytes / 1e6).toFixed(1) : '-',
        (r.peakRssKiB / 1024).toFixed(0),
        ...baselines.map(([, seconds]) => (r.seconds / seconds).toFixed(2)),
      ]),
    );
  }
}

async function main(): Promise<void> {
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
    process.stdout.write(`bench: generating pgbench scale ${SCALE} plus a text/JSON table in ${database}\n`);
    await chain([[join(postgresBinDir(), 'pgbench'), '-i', '-q', '-s', String(SCALE), '--unlogged-tables']], env);
    const client = await pgClient(pg, database);
    await client.query(`CREATE TABLE events AS
      SELECT g AS id, now() - g * interval '1 second' AS at,
             jsonb_build_object('user', 'user' || (g % 5000), 'action', (ARRAY['login','view','buy','logout'])[1 + g % 4],
                                'path', '/items/' || (g % 100000), 'ms', g % 997) AS payload,
             md5(g::text) || ' ' || repeat('lorem ipsum dolor sit amet ', 1 + g % 5) AS note
      FROM generate_series(1, ${SCALE * 20000}) g`);
    const size = Number((await client.query('SELECT pg_database_size(current_database()) AS s')).rows[0].s);
    await client.end();
    process.stdout.write(`bench: database size ${(size / 1e6).toFixed(0)} MB, ${RUNS} runs each, median wall time\n\n`);

    const tools = { chain, repeat, print: printResults };
    // LIFEBOAT_BENCH_ONLY=physical: only the base backup, WAL and point-in-time restore figures.
    if (process.env.LIFEBOAT_BENCH_ONLY === 'physical') {
      await physicalBench(tools, pg, s3, work, CLI, env);
      return;
    }
    const dumpFile = join(work, 'dump.pgcustom');
    const rawDump = await chain([['pg_dump', '--format=custom', '--compress=0']], env, dumpFile);
    const rawBytes = rawDump.storedBytes;
    const configFor = async (name: string, storage: object) => {
      const path = join(work, `${name}.yaml`);
      await writeFile(
        path,
        stringify({
          storage,
          targets: [
            {
              name: 'bench',
              driver: 'postgres',
              host: pg.host,
              port: pg.port,
              user: pg.user,
              database,
              password: pg.password,
            },
          ],
        }),
      );
      return path;
    };
    const localConfig = await configFor('local', { type: 'local', path: join(work, 'store') });
    const s3Config = await configFor('s3', s3StorageInline(s3));
    // Encryption: a key pair from the reference tool; the daemon's config holds only the public half.
    const keyFile = join(work, 'age-key.txt');
    await chain([['age-keygen', '-o', keyFile]], {});
    const recipient = readFileSync(keyFile, 'utf8').match(/public key: (age1\S+)/)?.[1] as string;
    const ageConfig = await configFor('s3-age', {
      ...s3StorageInline(s3, 'age/'),
      encryption: { recipients: [recipient], identityFile: keyFile },
    });
    const node = process.execPath;
    const quiet = { LIFEBOAT_LOG_LEVEL: 'warn' };
    const storedSize = async (config: string) => {
      const out = await new Promise<string>((resolve) => {
        const child = spawn(node, [CLI, '--config', config, 'list', '--json'], { env: { ...process.env, ...quiet } });
        let text = '';
        child.stdout.on('data', (c: Buffer) => {
          text += c.toString();
        });
        child.on('close', () => resolve(text));
      });
      return (JSON.parse(out) as { artifacts: { size: number }[] }[])[0]?.artifacts[0]?.size ?? 0;
    };
    const cores = String(cpus().length);
    const backups = [
      await repeat('pg_dump > /dev/null (floor)', () => chain([['pg_dump', '--format=custom', '--compress=0']], env)),
      await repeat('pg_dump | gzip -6 > file', () =>
        chain(
          [
            ['pg_dump', '--format=custom', '--compress=0'],
            ['gzip', '-6'],
          ],
          env,
          join(work, 'f.gz'),
        ),
      ),
      await repeat(`pg_dump | pigz -p ${cores} > file`, () =>
        chain(
          [
            ['pg_dump', '--format=custom', '--compress=0'],
            ['pigz', '-6', '-p', cores],
          ],
          env,
          join(work, 'p.gz'),
        ),
      ),
      {
        ...(await repeat('lifeboat backup (local)', () =>
          chain([[node, CLI, '--config', localConfig, 'backup']], quiet),
        )),
        storedBytes: await storedSize(localConfig),
      },
      {
        ...(await repeat('lifeboat backup (S3/MinIO)', () =>
          chain([[node, CLI, '--config', s3Config, 'backup']], quiet),
        )),
        storedBytes: await storedSize(s3Config),
      },
      {
        ...(await repeat('lifeboat backup (S3, age)', () =>
          chain([[node, CLI, '--config', ageConfig, 'backup']], quiet),
        )),
        storedBytes: await storedSize(ageConfig),
      },
    ];
    printResults(`backup of ${(rawBytes / 1e6).toFixed(0)} MB of pg_dump output`, backups, rawBytes, [
      ['floor', backups[0]?.seconds ?? 1],
      ['gzip', backups[1]?.seconds ?? 1],
      ['S3 plain', backups[4]?.seconds ?? 1],
    ]);

    // Encryption alone, on the raw dump: Lifeboat's age stream against the reference age and plain cat.
    const ageStream = new URL('./age-encrypt.js', import.meta.url).pathname;
    const encryption = [
      await repeat('cat (floor)', () => chain([['cat']], {}, undefined, dumpFile)),
      await repeat('age -r (reference)', () => chain([['age', '-r', recipient]], {}, undefined, dumpFile)),
      await repeat('lifeboat age stream', () => chain([[node, ageStream, recipient]], {}, undefined, dumpFile)),
    ];
    printResults('\nencryption alone (raw dump, no compression)', encryption, rawBytes, [
      ['age', encryption[1]?.seconds ?? 1],
    ]);

    const restoreInto = async () => {
      const target = await createDatabase(pg, 'restore');
      // No password in the URL: the target's password is used, so no secret reaches argv.
      return `postgres://${pg.user}@${pg.host}:${pg.port}/${target}`;
    };
    const jobs = String(cpus().length);
    const restores = [
      await repeat(`pg_restore --jobs ${jobs} (local file)`, async () => {
        const url = new URL(await restoreInto());
        return chain([['pg_restore', `--jobs=${jobs}`, `--dbname=${url.pathname.slice(1)}`, dumpFile]], env);
      }),
      await repeat('lifeboat restore (S3/MinIO)', async () =>
        chain([[node, CLI, '--config', s3Config, 'restore', 'bench', '--to', await restoreInto()]], quiet),
      ),
    ];
    restores.push(
      await repeat('lifeboat restore (S3, age)', async () =>
        chain([[node, CLI, '--config', ageConfig, 'restore', 'bench', '--to', await restoreInto()]], quiet),
      ),
    );
    printResults('\nrestore', restores, rawBytes, [
      ['pg_restore', restores[0]?.seconds ?? 1],
      ['S3 plain', restores[1]?.seconds ?? 1],
    ]);

    // A drill: download from S3, verify, restore into lifeboat_drill_<id>, check row counts; its total is the
    // measured RTO for this size.
    const drills: { measure: Measure; timings: Record<string, number> }[] = [];
    for (let i = 0; i < RUNS; i += 1) {
      const out = join(work, 'drill.json');
      const measure = await chain([[node, CLI, '--config', s3Config, 'drill', 'bench', '--json']], quiet, out);
      const [record] = JSON.parse(readFileSync(out, 'utf8')) as { ok: boolean; timings: Record<string, number> }[];
      if (record?.ok !== true) throw new Error(`bench: drill failed: ${readFileSync(out, 'utf8')}`);
      drills.push({ measure, timings: record.timings });
    }
    const stage = (name: string) => median(drills.map((d) => d.timings[name] ?? 0));
    process.stdout.write(
      `\ndrill (median of ${RUNS}): download ${stage('download').toFixed(2)} s, verify ${stage('verify').toFixed(2)} s, ` +
        `restore ${stage('restore').toFixed(2)} s, checks ${stage('checks').toFixed(2)} s = RTO ${stage('total').toFixed(2)} s ` +
        `(${(stage('total') / (restores[0]?.seconds ?? 1)).toFixed(2)}x pg_restore); wall ${median(drills.map((d) => d.measure.seconds)).toFixed(2)} s, ` +
        `peak RSS ${(Math.max(...drills.map((d) => d.measure.peakRssKiB)) / 1024).toFixed(0)} MB\n`,
    );
    await physicalBench(tools, pg, s3, work, CLI, env);
  } finally {
    await Promise.all([stopPg(), stopS3()]);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
