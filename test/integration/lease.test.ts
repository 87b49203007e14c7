// One process at a time per target, held in the store: two CLIs at once, a prune during a running backup, the
// CLI against a daemon, two daemons on one store, a daemon whose release the store did not take, a holder
// killed with SIGKILL whose lease expires, and the compare-and-swap mutex a killed process left in a folder.
// A real PostgreSQL; the backups that must stay running use a pg_dump stand-in that runs the real pg_dump and
// then waits for a gate file, so the test decides when they end.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { type CliResult, logLines, runCli, startCli, startDaemon, writeConfig } from '../harness/cli.js';
import { standInBinDir } from '../harness/pg-stand-in.js';
import { createTableDatabase, postgresTarget } from '../harness/postgres.js';
import { s3Keys, s3StorageConfig } from '../harness/s3.js';
import { startFaultProxy } from '../hostile/fault-proxy.js';
import { noStackTrace, waitForCondition } from '../hostile/hostile-support.js';
import { parseSamples, sampleValue } from '../support/prom.js';

const pg = inject('postgres');
const s3 = inject('s3');

interface Gated {
  readonly bin: string;
  /** The stand-in has started dumping. */
  started(): boolean;
  /** Lets every waiting stand-in end. */
  open(): Promise<void>;
}

describe('the target lease', () => {
  let database: string;
  let workDir: string;
  const gates: Gated[] = [];

  beforeAll(async () => {
    database = await createTableDatabase(pg, 'lease', 2000);
    workDir = (await writeConfig({})).dir;
  });

  afterAll(async () => {
    // No stand-in is left waiting, whatever a failed test left behind.
    for (const gate of gates) await gate.open();
  });

  async function gated(name: string): Promise<Gated> {
    const bin = await standInBinDir(
      workDir,
      name,
      'touch "$BIN/started"\n"$REAL" "$@" || exit $?\nwhile [ ! -e "$BIN/go" ]; do sleep 0.02; done',
    );
    const gate = {
      bin,
      started: () => existsSync(join(bin, 'started')),
      open: () => writeFile(join(bin, 'go'), ''),
    };
    gates.push(gate);
    return gate;
  }

  async function config(
    bin: string | undefined,
    extra: Record<string, unknown> = {},
    storage: Record<string, unknown> | undefined = { type: 'local', path: './store' },
    ttl = '2s',
  ) {
    const written = await writeConfig({
      storage,
      lease: { ttl },
      daemon: { incompleteGracePeriod: '1s' },
      metrics: { listen: '127.0.0.1:0' },
      targets: [
        postgresTarget(pg, database, {
          name: 'db',
          ...(bin === undefined ? {} : { binDir: bin }),
          retention: { last: 100 },
          ...extra,
        }),
      ],
    });
    await writeFile(join(written.dir, 's3_secret'), s3.secretAccessKey);
    return written;
  }

  /** The target's manifests; none while its folder does not exist yet, or a folder went while it was read. */
  const manifests = (dir: string) => {
    try {
      return readdirSync(join(dir, 'store', 'db'), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('manifest.json'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  };

  const leaseFile = (dir: string) =>
    JSON.parse(readFileSync(join(dir, 'store', 'db', 'lease.json'), 'utf8')) as {
      holder: { command: string; pid: number };
      expiresAt: string;
      releasedAt?: string;
    };

  /** A backup of a folder store with a lease of `ttl`, killed with SIGKILL once it holds the lease and dumps. */
  async function killedHolder(name: string, ttl: string) {
    const gate = await gated(name);
    const { dir, path } = await config(gate.bin, {}, undefined, ttl);
    const holder = startCli(['--config', path, 'backup', 'db']);
    await waitForCondition(gate.started);
    await waitForCondition(() => existsSync(join(dir, 'store', 'db', 'lease.json')));
    holder.child.kill('SIGKILL');
    await holder.result;
    return { gate, dir, path, holder };
  }

  const busy =
    /lease: target db is busy: lifeboat backup \(pid \d+ on [^)]+\) holds it since \d{4}-\d\d-\d\dT[\d:.]+Z, renewed \d+ s ago/;

  it('refuses a second backup and a prune of a busy target, and lets the next one in once it is done', async () => {
    const gate = await gated('two-clis');
    const { dir, path } = await config(gate.bin);
    const first = startCli(['--config', path, 'backup', 'db']);
    await waitForCondition(gate.started);
    await waitForCondition(() => existsSync(join(dir, 'store', 'db', 'lease.json')));
    expect(leaseFile(dir).holder).toMatchObject({ command: 'lifeboat backup', pid: first.child.pid });

    const second = await runCli(['--config', path, 'backup', 'db']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(busy);
    expect(second.stderr).toMatch(/Try: wait for it to end; if that process is gone, its lease expires at/);
    noStackTrace(second.stderr);

    // A prune with a grace period shorter than the running upload must not touch it: it is refused outright.
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the upload is now older than the 1 s grace
    const prune = await runCli(['--config', path, 'prune', 'db']);
    expect(prune.code).toBe(1);
    expect(prune.stderr).toMatch(busy);
    // A dry run deletes nothing and takes no lease: it reports the running backup's objects as incomplete.
    const dry = await runCli(['--config', path, 'prune', 'db', '--dry-run']);
    expect(dry.code).toBe(0);

    await gate.open();
    const done = await first.result;
    expect(done.code, done.stderr).toBe(0);
    expect(manifests(dir)).toHaveLength(1);
    // Released while fresh: deleted, so the store holds nothing of a run that ended.
    expect(existsSync(join(dir, 'store', 'db', 'lease.json'))).toBe(false);

    const third = await runCli(['--config', path, 'backup', 'db']);
    expect(third.code, third.stderr).toBe(0);
    expect(manifests(dir)).toHaveLength(2);
  });

  it('holds across hosts through S3 conditional writes: a busy target in MinIO refuses a second backup', async () => {
    const gate = await gated('two-clis-s3');
    const prefix = `lease-${Math.random().toString(36).slice(2)}/`;
    const { path } = await config(gate.bin, {}, s3StorageConfig(s3, prefix));
    const first = startCli(['--config', path, 'backup', 'db']);
    await waitForCondition(gate.started);
    let second: CliResult | undefined;
    // The first has its lease as soon as its dump runs; until then the second could still win the race.
    await waitForCondition(async () => {
      second = await runCli(['--config', path, 'backup', 'db', '--json']);
      return second.code === 1;
    });
    expect(second?.stderr).toMatch(busy);
    await gate.open();
    expect((await first.result).code).toBe(0);
    const list = await runCli(['--config', path, 'list', 'db', '--json']);
    expect(JSON.parse(list.stdout)).toHaveLength(1);
  });

  it('makes the daemon skip a due run while a CLI backup holds the target, counted as locked', async () => {
    const gate = await gated('cli-daemon');
    const { dir, path } = await config(gate.bin);
    const { path: daemonPath } = await config(undefined, { schedule: '* * * * * *', retries: 0 });
    // The daemon's config uses the same store folder as the CLI's.
    const daemonConfig = parse(readFileSync(daemonPath, 'utf8')) as { storage: { path: string } };
    daemonConfig.storage.path = join(dir, 'store');
    await writeFile(daemonPath, JSON.stringify(daemonConfig));

    const cli = startCli(['--config', path, 'backup', 'db']);
    await waitForCondition(gate.started);
    await waitForCondition(() => existsSync(join(dir, 'store', 'db', 'lease.json')));
    const daemon = await startDaemon(daemonPath);
    try {
      const locked = async () => {
        const text = await (await fetch(`${daemon.url}/metrics`)).text();
        return sampleValue(parseSamples(text), 'lifeboat_backup_skipped_total', { target: 'db', reason: 'locked' });
      };
      await waitForCondition(async () => ((await locked()) ?? 0) >= 2);
      expect(manifests(dir)).toHaveLength(0);
      await gate.open();
      expect((await cli.result).code).toBe(0);
      // Once the CLI let go, the daemon's next due time runs.
      await waitForCondition(() => manifests(dir).length >= 2);
    } finally {
      const result = await daemon.stop();
      const skipped = logLines(result.stderr).filter((l) => l.event === 'run.skipped' && l.reason === 'locked');
      expect(skipped.length).toBeGreaterThanOrEqual(2);
      expect(String(skipped[0]?.error)).toMatch(busy);
    }
  });

  it('lets two daemons on one store take turns: their backups never overlap', async () => {
    const { dir, path } = await config(undefined, { schedule: '* * * * * *', retries: 0 });
    const other = join(dir, 'other.yaml');
    const text = readFileSync(path, 'utf8');
    await writeFile(other, text.replace('path: ./store', `path: ${join(dir, 'store')}`));
    const [a, b] = await Promise.all([startDaemon(path), startDaemon(other)]);
    const skippedLocked = async (url: string) =>
      sampleValue(parseSamples(await (await fetch(`${url}/metrics`)).text()), 'lifeboat_backup_skipped_total', {
        target: 'db',
        reason: 'locked',
      }) ?? 0;
    try {
      await waitForCondition(async () => manifests(dir).length >= 6, 60_000);
      // Both fire every second: whenever one held the target, the other was turned away and counted it.
      expect((await skippedLocked(a.url)) + (await skippedLocked(b.url))).toBeGreaterThan(0);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const intervals = manifests(dir)
      .map((file) => JSON.parse(readFileSync(join(dir, 'store', 'db', file), 'utf8')))
      .map((m: { startedAt: string; finishedAt: string }) => [Date.parse(m.startedAt), Date.parse(m.finishedAt)])
      .sort((x, y) => (x[0] as number) - (y[0] as number));
    for (let i = 1; i < intervals.length; i += 1) {
      expect((intervals[i] as number[])[0]).toBeGreaterThanOrEqual((intervals[i - 1] as number[])[1] as number);
    }
    const logs = [a, b].map((d) => logLines(d.stderrSoFar()));
    const ran = logs.map((l) => l.filter((line) => line.event === 'backup.end' && line.result === 'success').length);
    expect(ran[0] + ran[1]).toBe(intervals.length);
    const locked = logs.flat().filter((line) => line.event === 'run.skipped' && line.reason === 'locked');
    expect(locked.length).toBeGreaterThan(0);
  });

  it('a daemon whose lease could not be released (the store cut off) takes it back on its next run, not a lease later', async () => {
    const gate = await gated('release-cut');
    const endpoint = new URL(s3.endpoint);
    const proxy = await startFaultProxy(endpoint.hostname, Number(endpoint.port));
    const prefix = `lease-${Math.random().toString(36).slice(2)}/`;
    // A lease that outlasts the test: only taking it back lets the daemon back up again in time.
    const { path } = await config(
      gate.bin,
      { schedule: '* * * * * *', retries: 0 },
      { ...s3StorageConfig(s3, prefix), endpoint: proxy.url },
      '10m',
    );
    const daemon = await startDaemon(path);
    try {
      await waitForCondition(gate.started);
      // The store cuts every connection: the running backup fails, and so does giving its lease back.
      proxy.setFault({ kind: 'reset', direction: 'up', bytes: 0 });
      await gate.open();
      const events = () => logLines(daemon.stderrSoFar()).map((line) => line.event);
      await waitForCondition(() => events().includes('lease.release-failed'), 20_000);
      expect((await s3Keys(s3, `${prefix}db/`)).filter((key) => key.endsWith('lease.json'))).toHaveLength(1);
      proxy.setFault({ kind: 'none' });
      // The next run takes the lease back at once and backs up.
      await waitForCondition(
        () => logLines(daemon.stderrSoFar()).some((l) => l.event === 'backup.end' && l.result === 'success'),
        20_000,
      );
      const lines = logLines(daemon.stderrSoFar());
      const reclaimed = lines.find((line) => line.event === 'lease.reclaimed');
      expect(reclaimed?.previous).toMatchObject({ command: 'lifeboat daemon', pid: daemon.child.pid });
      expect(lines.some((l) => l.event === 'run.skipped' && l.reason === 'locked')).toBe(false);
    } finally {
      await daemon.stop();
      await proxy.close();
    }
  });

  it('a compare-and-swap mutex that a killed process left in a folder store delays the next run, and does not fail it', async () => {
    const { gate, dir, path } = await killedHolder('cas-killed', '1s');
    await gate.open();
    await waitForCondition(() => Date.now() > Date.parse(leaseFile(dir).expiresAt), 10_000);
    // What a process killed inside its compare-and-swap of the lease leaves: the mutex, made 5 s ago. Taking
    // the expired lease over needs that mutex; the next run waits until it is stale, then backs up.
    const mutex = join(dir, 'store', 'db', 'lease.json.lifeboat-tmp-cas');
    await writeFile(mutex, '');
    const madeAt = new Date(Date.now() - 5_000);
    await utimes(mutex, madeAt, madeAt);
    const next = await runCli(['--config', path, 'backup', 'db']);
    expect(next.code, next.stderr).toBe(0);
    expect(logLines(next.stderr).some((line) => line.event === 'lease.takeover')).toBe(true);
    expect(existsSync(mutex)).toBe(false);
    expect(manifests(dir)).toHaveLength(1);
  });

  it('frees the target of a holder killed with SIGKILL once its lease expires; unlock refuses a fresh lease', async () => {
    // A lease long enough that the checks below run well before it expires, on a loaded machine too.
    const { gate, dir, path, holder } = await killedHolder('killed', '8s');
    const record = leaseFile(dir);
    expect(record.releasedAt).toBeUndefined();

    // Unlock is refused while the lease has not expired (its holder could be alive and renewing it), and so is
    // the next backup.
    const early = await runCli(['--config', path, 'unlock', 'db', '--yes']);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/unlock: target db is held: lifeboat backup \(pid \d+/);
    const busyNow = await runCli(['--config', path, 'backup', 'db']);
    expect(busyNow.code).toBe(1);
    expect(busyNow.stderr).toMatch(busy);
    expect(Date.now()).toBeLessThan(Date.parse(leaseFile(dir).expiresAt));

    // Without --yes and without a terminal to ask on, unlock asks for --yes.
    await waitForCondition(() => Date.now() > Date.parse(record.expiresAt), 15_000);
    const unconfirmed = await runCli(['--config', path, 'unlock', 'db']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/expired at .*: confirm with --yes/);

    // The next run takes over the expired lease by itself, and says whose it was.
    await gate.open();
    const next = await runCli(['--config', path, 'backup', 'db']);
    expect(next.code, next.stderr).toBe(0);
    const takeover = logLines(next.stderr).find((line) => line.event === 'lease.takeover');
    expect(takeover?.previous).toMatchObject({ command: 'lifeboat backup', pid: holder.child.pid });
    // The killed run's partial upload is no backup; the next one is.
    expect(manifests(dir)).toHaveLength(1);
    const unlock = await runCli(['--config', path, 'unlock', 'db', '--yes']);
    expect(unlock.stdout).toMatch(/db: not locked/);
  });
});
