// A drill of a physical PostgreSQL target: recover to a point (default: a minute ago) into a scratch data
// directory, start a scratch server on it from the target's binDir, wait for the recovery, run the checks,
// stop and remove it. The RPO measured is the age of the newest archived WAL: what a recovery now would lose.
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../catalog/manifest.js';
import { now as wallNow } from '../clock.js';
import { parseDuration } from '../config/duration.js';
import type { PostgresTargetConfig } from '../config/schema.js';
import { restoreDatadir, stopRecovered } from '../core/restore-datadir.js';
import { connectionFromConfig, withClient } from '../drivers/postgres/connection.js';
import { PostgresDriver } from '../drivers/postgres/postgres-driver.js';
import { describeError } from '../errors.js';
import { readRecoveryState } from '../wal/state.js';
import { makeWorkDir } from '../work-dir.js';
import { backupGaps, objectiveSeconds } from './drill-checks.js';
import type { DrillRecord } from './drill-record.js';
import {
  builtin,
  type Check,
  DEFAULT_DRILL,
  type DrillOptions,
  finishDrill,
  StageFailure,
  stageFailure,
  userCheck,
} from './run-drill.js';

type Stage = NonNullable<DrillRecord['failure']>['stage'];

export async function runPhysicalDrill(options: DrillOptions & { target: PostgresTargetConfig }): Promise<DrillRecord> {
  const { storage, target, signal } = options;
  const now = options.now ?? wallNow;
  const drill = target.drill ?? DEFAULT_DRILL;
  const started = now();
  const log = options.logger.child({ target: target.name, drill: true });
  const timings = { download: 0, verify: 0, restore: 0, checks: 0, total: 0 };
  const checks: Check[] = [];
  const { rpoSeconds, rtoSeconds } = objectiveSeconds(drill.objectives);
  const windowStart = new Date(started.getTime() - parseDuration(drill.window));
  const point = new Date(started.getTime() - parseDuration(target.drill?.pointInTimeAgo ?? '1m'));
  let stage: Stage = 'choose';
  let failure: DrillRecord['failure'];
  let backup: Manifest | undefined;
  let dataAgeSeconds: number | undefined;
  let gaps = backupGaps([], windowStart, started);
  let workDir: string | undefined;
  let serverPid: number | undefined;
  let stageStart = performance.now();
  const closeStage = () => {
    const key = stage as keyof typeof timings;
    if (key in timings && key !== 'total') timings[key] += (performance.now() - stageStart) / 1000;
    stageStart = performance.now();
  };
  const enter = (next: Stage) => {
    signal?.throwIfAborted();
    closeStage();
    stage = next;
    options.onStage?.(next);
  };
  log.info({ event: 'drill.start', pointInTime: point.toISOString() }, 'drill started');
  try {
    enter('choose');
    const state = await readRecoveryState(storage, target.name);
    gaps = backupGaps(
      state.manifests.map((m) => m.snapshotAt),
      windowStart,
      started,
    );
    // What a recovery now would lose: everything after the newest archived WAL.
    const newest = Math.max(...state.windows.map((w) => w.to));
    if (Number.isFinite(newest)) dataAgeSeconds = Math.max(0, (started.getTime() - newest) / 1000);
    workDir = await makeWorkDir('drill', drill.to);
    // The scratch server may run as another user (Lifeboat as root): it may pass through, not list.
    await chmod(workDir, 0o711);
    const datadir = join(workDir, 'data');
    const result = await restoreDatadir({
      storage,
      target,
      logger: options.logger,
      pointInTime: point,
      datadir,
      force: false,
      dryRun: false,
      start: true,
      encryption: options.encryption,
      state,
      fetchCommand: [process.execPath, process.argv[1] as string],
      // Every WAL file the plan needs is put into pg_wal first: the scratch server needs no access to the store.
      stageWal: true,
      signal,
      onStage: (next) => enter(next),
    }).catch((error: unknown) => {
      throw StageFailure.of(error);
    });
    backup = result.backup;
    serverPid = result.server?.pid;
    checks.push(builtin('checksums', [], 'the base backup matched its manifest as it was unpacked'));
    checks.push(builtin('files', [], 'pg_verifybackup: every file matches the backup_manifest'));
    enter('checks');
    const url = `${result.server?.url ?? ''}${encodeURIComponent(connectionFromConfig(target).database)}`;
    const row = await withClient(
      connectionFromConfig(target, url),
      async (client) =>
        (await client.query('SELECT pg_is_in_recovery() AS r, pg_last_xact_replay_timestamp() AS last')).rows[0],
    );
    const last = row.last === null ? undefined : new Date(row.last);
    const problems: string[] = [];
    if (row.r) problems.push('the scratch server is still in recovery');
    if (last !== undefined && last.getTime() > point.getTime()) {
      problems.push(`recovery replayed a commit at ${last.toISOString()}, after the point ${point.toISOString()}`);
    }
    checks.push(
      builtin(
        'recovery point',
        problems,
        `recovered to ${point.toISOString()} and promoted${last === undefined ? '' : `; the last commit replayed is from ${last.toISOString()}, ${((point.getTime() - last.getTime()) / 1000).toFixed(3)} s before`}`,
      ),
    );
    const driver = new PostgresDriver(target);
    const restored = await driver.inspectRestored(url);
    checks.push(
      builtin(
        'tables',
        restored.problems,
        `${restored.tables.length} tables, ${restored.tables.reduce((n, t) => n + t.rows, 0)} rows`,
      ),
    );
    for (const check of drill.checks) {
      checks.push(await userCheck(check, result.backup, (sql) => driver.queryValue(url, sql)));
    }
    enter('objectives');
    const failed = checks.filter((c) => !c.ok);
    if (failed.length > 0) {
      stage = 'checks';
      throw new StageFailure(failed.map((c) => `check ${c.name} failed: ${c.message}`).join('; '));
    }
    timings.total = timings.download + timings.verify + timings.restore + timings.checks;
    const missed: string[] = [];
    if (rpoSeconds !== undefined && (dataAgeSeconds === undefined || dataAgeSeconds > rpoSeconds)) {
      missed.push(
        `RPO objective ${drill.objectives.rpo} missed: the newest archived WAL is ${dataAgeSeconds?.toFixed(1) ?? 'absent'} s old`,
      );
    }
    if (rtoSeconds !== undefined && timings.total > rtoSeconds) {
      missed.push(`RTO objective ${drill.objectives.rto} missed: the recovery took ${timings.total.toFixed(1)} s`);
    }
    if (missed.length > 0) throw new StageFailure(missed.join('; '));
  } catch (error) {
    failure = stageFailure(stage, error, signal);
  }
  closeStage();
  timings.total = timings.download + timings.verify + timings.restore + timings.checks;
  let cleanedUp = true;
  try {
    if (serverPid !== undefined) await stopRecovered(serverPid);
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  } catch (error) {
    cleanedUp = false;
    log.error({ event: 'drill.cleanup-failed', error: describeError(error) }, 'scratch left');
  }
  return finishDrill({
    storage,
    target,
    log,
    started,
    finishedAt: now(),
    failure,
    backup,
    dataAgeSeconds,
    timings,
    gaps,
    windowStart,
    objectives: { rpoSeconds, rtoSeconds },
    checks,
    scratch: { description: workDir === undefined ? 'none (not created)' : `data directory in ${workDir}`, cleanedUp },
  });
}
