// The physical PostgreSQL part of `npm run bench`: base backup throughput against `pg_basebackup | pigz`, the
// RPO under a steady write load (seconds from a commit until its WAL is safe in the store), and the time to
// restore a base backup plus a given volume of WAL (default 360 MB: an hour of an app writing 100 kB/s).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { stopRecovered } from '../src/core/restore-datadir.js';
import { NODE_FLAGS } from '../test/harness/cli.js';
import type { S3Server } from '../test/harness/minio.js';
import { type PostgresServer, pgClient, postgresBinDir } from '../test/harness/postgres.js';
import { s3StorageInline } from '../test/harness/s3.js';

export interface BenchTools {
  readonly chain: (commands: string[][], env: NodeJS.ProcessEnv, output?: string) => Promise<Measured>;
  /** Runs each entry once a round, every round, and gives each its median (the runs a ratio compares interleave). */
  readonly rounds: (
    entries: readonly { label: string; run: () => Promise<Measured> }[],
  ) => Promise<(Measured & { label: string })[]>;
  readonly print: (
    title: string,
    results: readonly (Measured & { label: string })[],
    rawBytes: number,
    baselines: readonly [string, number][],
  ) => void;
  /** A peak RSS in KiB as MB, as every table prints it. */
  readonly rssMB: (kib: number) => number;
}

interface Measured {
  seconds: number;
  peakRssKiB: number;
  storedBytes: number;
}

const WAL_MB = Number(process.env.LIFEBOAT_BENCH_WAL_MB ?? 360);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Starts `lifeboat daemon` and resolves with its metrics URL. */
function startDaemon(cli: string, config: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, cli, '--config', config, 'daemon'], {
    env: { ...process.env, LIFEBOAT_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /metrics at (http:\/\/\S+)\/metrics/.exec(seen);
      if (match?.[1] !== undefined) resolve({ child, url: match[1] });
    });
    child.once('exit', (code) => reject(new Error(`bench: daemon exited ${code}: ${seen}`)));
  });
}

async function archivedUntil(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^lifeboat_wal_last_archived_timestamp_seconds\{target="phys"\} (\S+)$/m.exec(text);
  return match === null ? 0 : Number(match[1]) * 1000;
}

export async function physicalBench(
  tools: BenchTools,
  pg: PostgresServer,
  s3: S3Server,
  work: string,
  cli: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const cores = String(cpus().length);
  const bin = postgresBinDir();
  const basebackup = [join(bin, 'pg_basebackup'), '-D', '-', '-Ft', '-X', 'none', '--checkpoint=fast'];
  const config = join(work, 'physical.yaml');
  await writeFile(
    config,
    stringify({
      storage: s3StorageInline(s3, 'physical/'),
      metrics: { listen: '127.0.0.1:0' },
      targets: [
        {
          name: 'phys',
          driver: 'postgres',
          method: 'physical',
          host: pg.host,
          port: pg.port,
          user: pg.user,
          password: pg.password,
          binDir: bin,
          wal: { spool: join(work, 'spool') },
        },
      ],
    }),
  );
  const quiet = { LIFEBOAT_LOG_LEVEL: 'warn' };
  const rawBytes = (await tools.chain([basebackup], env, join(work, 'base.tar'))).storedBytes;
  const results = await tools.rounds([
    { label: 'pg_basebackup -Ft -D - > /dev/null', run: () => tools.chain([basebackup], env) },
    {
      label: `pg_basebackup -Ft -D - | pigz -p ${cores}`,
      run: () => tools.chain([basebackup, ['pigz', '-6', '-p', cores]], env, join(work, 'base.tar.gz')),
    },
    {
      label: 'lifeboat backup (physical, S3)',
      run: () => tools.chain([[process.execPath, ...NODE_FLAGS, cli, '--config', config, 'backup', 'phys']], quiet),
    },
  ]);
  const floor = results[0] as (typeof results)[number];
  tools.print(`\nphysical base backup of a ${(rawBytes / 1e6).toFixed(0)} MB cluster`, results, rawBytes, [
    ['floor', floor.seconds],
    ['pigz', results[1]?.seconds ?? 1],
  ]);

  // WAL under a steady load, with the default partialInterval (10 s): the RPO a person would have.
  const daemon = await startDaemon(cli, config);
  const client = await pgClient(pg);
  const probe = await pgClient(pg);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS wal_load (id bigserial, payload text)');
    const startLsn = (await client.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l as string;
    const script = join(work, 'load.sql');
    await writeFile(
      script,
      "INSERT INTO wal_load (payload) SELECT md5(random()::text) || repeat('x', 200) FROM generate_series(1, 20);\n",
    );
    const rpo: number[] = [];
    const commits: number[] = [];
    let loading = true;
    const probing = (async () => {
      while (loading) {
        await probe.query('INSERT INTO wal_load (payload) VALUES ($1)', ['probe']);
        commits.push(Date.now());
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    const watching = (async () => {
      while (loading || commits.length > 0) {
        const covered = await archivedUntil(daemon.url);
        while (commits.length > 0 && (commits[0] as number) <= covered)
          rpo.push((Date.now() - (commits.shift() as number)) / 1000);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const loadStarted = Date.now();
    let walBytes = 0;
    while (walBytes < WAL_MB * 1e6) {
      // About 1 MB/s of WAL in 10-second slices (pgbench's rate limit), until the volume is written.
      await tools.chain(
        [[join(bin, 'pgbench'), '-n', '-f', script, '-c', '2', '-j', '2', '-T', '10', '-R', '150', 'postgres']],
        env,
      );
      const row = (await client.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint AS d', [startLsn]))
        .rows[0];
      walBytes = Number(row.d);
    }
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    loading = false;
    await probing;
    await watching;
    process.stdout.write(
      `\nWAL archiving under load: ${(walBytes / 1e6).toFixed(0)} MB of WAL in ${loadSeconds.toFixed(0)} s ` +
        `(${(walBytes / 1e6 / loadSeconds).toFixed(2)} MB/s); RPO (commit to WAL safe in the store, partialInterval 10s, ` +
        `${rpo.length} probes): median ${median(rpo).toFixed(1)} s, max ${Math.max(...rpo).toFixed(1)} s\n`,
    );
    daemon.child.kill('SIGTERM');
    await new Promise((resolve) => daemon.child.once('exit', resolve));
    const datadirs = await mkdtemp(join(tmpdir(), 'lifeboat-bench-pitr-'));
    await chmod(datadirs, 0o755);
    const restored = await tools.chain(
      [
        [
          process.execPath,
          ...NODE_FLAGS,
          cli,
          '--config',
          config,
          'restore',
          'phys',
          '--to-datadir',
          join(datadirs, 'data'),
          '--start',
          '--json',
        ],
      ],
      quiet,
      join(work, 'restore.json'),
    );
    const out = JSON.parse(readFileSync(join(work, 'restore.json'), 'utf8'));
    await stopRecovered(out.server.pid);
    process.stdout.write(
      `restore of the base backup plus ${(walBytes / 1e6).toFixed(0)} MB of WAL (${out.walFiles} files, ` +
        `${(out.walBytes / 1e6).toFixed(0)} MB stored) from S3, recovered and promoted: ${restored.seconds.toFixed(1)} s wall, ` +
        `peak RSS ${tools.rssMB(restored.peakRssKiB).toFixed(0)} MB\n`,
    );
  } finally {
    if (daemon.child.exitCode === null) daemon.child.kill('SIGTERM');
    await client.end();
    await probe.end();
  }
}
