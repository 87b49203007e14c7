// A drill: choose a backup, restore it into a scratch place while proving it against the manifest (one pass),
// check the restored data, judge the recovery objectives, record the result beside the backups, and always
// remove the scratch place.

import { listBackups } from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import { now as wallNow } from '../clock.js';
import { parseDuration } from '../config/duration.js';
import type { DrillConfig, EncryptionConfig, TargetConfig } from '../config/schema.js';
import { measureLanding, restoreInto } from '../core/restore-into.js';
import { createDriver } from '../drivers/create-driver.js';
import type { Scratch } from '../drivers/driver.js';
import { describeError, LifeboatError } from '../errors.js';
import { formatDuration } from '../format.js';
import { describeRoom, enoughRoom } from '../free-space.js';
import type { Logger } from '../log.js';
import { redactUrlPasswords } from '../redact.js';
import type { Storage } from '../storage/storage.js';
import { TOOL } from '../version.js';
import {
  backupGaps,
  checkTable,
  compare,
  compareStats,
  findTable,
  objectiveSeconds,
  parseExpectation,
  worstGap,
} from './drill-checks.js';
import { DRILL_SCHEMA_VERSION, type DrillRecord, drillKey, serializeDrill } from './drill-record.js';
import { runPhysicalDrill } from './run-drill-physical.js';
import { checkArtifact, missingIdentity } from './verify.js';

export interface DrillOptions {
  readonly storage: Storage;
  readonly target: TargetConfig;
  readonly logger: Logger;
  /** Drill this backup instead of the newest. */
  readonly backupId?: string;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  /** Told when a stage starts (for progress output). */
  readonly onStage?: (stage: string) => void;
  /** The target's encryption settings: their identities open encrypted backups. */
  readonly encryption?: EncryptionConfig;
}

type Stage = NonNullable<DrillRecord['failure']>['stage'];
export type Check = DrillRecord['checks'][number];

export const DEFAULT_DRILL: DrillConfig = { checks: [], objectives: {}, window: '30d' };

/** A drill's own verdict on a stage (a failed check, a missed objective, a failed restore): recorded as it is. */
export class StageFailure extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }

  /** Wraps another failure, keeping a LifeboatError's hint. */
  static of(error: unknown): StageFailure {
    return new StageFailure(describeError(error), error instanceof LifeboatError ? error.hint : undefined);
  }
}

/** What a drill records of the error that ended it at `stage`: its message, and a LifeboatError's hint. */
export function stageFailure(stage: Stage, error: unknown, signal: AbortSignal | undefined): DrillRecord['failure'] {
  if (!(error instanceof StageFailure) && signal?.aborted) {
    return { stage, message: `interrupted (${describeError(signal.reason)})` };
  }
  const { message, hint } = error instanceof StageFailure ? error : StageFailure.of(error);
  // The record is stored beside the backups and shown in reports: no password of a URL goes into it.
  return {
    stage,
    message: redactUrlPasswords(message),
    ...(hint === undefined ? {} : { hint: redactUrlPasswords(hint) }),
  };
}

const CHECKSUMS_OK = 'stored and raw size and SHA-256 match the manifest';

/** Runs one drill; resolves to its record (also stored) whether the drill passed or not. */
export async function runDrill(options: DrillOptions): Promise<DrillRecord> {
  if (options.target.driver === 'postgres' && options.target.method === 'physical') {
    return runPhysicalDrill({ ...options, target: options.target });
  }
  const { storage, target, signal } = options;
  const now = options.now ?? wallNow;
  const drill = target.drill ?? DEFAULT_DRILL;
  const driver = await createDriver(target);
  const started = now();
  const log = options.logger.child({ target: target.name, drill: true });
  const timings = { download: 0, verify: 0, restore: 0, checks: 0, total: 0 };
  const checks: Check[] = [];
  let stage: Stage = 'choose';
  let failure: DrillRecord['failure'];
  let backup: Manifest | undefined;
  let scratch: Scratch | undefined;
  const { rpoSeconds, rtoSeconds } = objectiveSeconds(drill.objectives);
  const windowStart = new Date(started.getTime() - parseDuration(drill.window));
  let gaps = backupGaps([], windowStart, started);
  const timed = async <T>(name: keyof typeof timings, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      timings[name] += (performance.now() - t0) / 1000;
    }
  };
  const enter = (next: Stage) => {
    signal?.throwIfAborted();
    stage = next;
    options.onStage?.(next);
  };
  log.info({ event: 'drill.start', backup: options.backupId ?? 'newest' }, 'drill started');

  try {
    enter('choose');
    const backups = await listBackups(storage, target.name);
    gaps = backupGaps(
      backups.map((b) => b.snapshotAt),
      windowStart,
      started,
    );
    backup = options.backupId === undefined ? backups[0] : backups.find((b) => b.id === options.backupId);
    if (backup === undefined) {
      throw new StageFailure(
        options.backupId === undefined
          ? `no backups of ${target.name} in ${storage.location}`
          : `no committed backup ${options.backupId} of ${target.name}`,
      );
    }
    const chosen = backup;
    const locked = chosen.artifacts.find((a) => a.encryption !== undefined);
    if (locked !== undefined && (options.encryption?.identities ?? []).length === 0) {
      throw new StageFailure(`${missingIdentity(locked).message}: set encryption.identityFile`);
    }
    // One pass: each artifact is downloaded, proven against the manifest (stored and raw size and SHA-256)
    // and restored as it streams into the scratch place. The stream's end is gated on the digests, so a
    // damaged backup fails the restore, and the scratch place is thrown away like every drill's.
    enter('restore');
    const restoredTo = await timed('restore', async () => {
      const place = await driver.createScratch(target.name, drill.to);
      scratch = place;
      const found = { description: place.description, hasData: false, detail: 'new scratch place' };
      const room = await measureLanding(driver, place.destination, found, chosen);
      if (room !== undefined && !enoughRoom(room)) throw new StageFailure(describeRoom(room), room.hint);
      for (const [index, artifact] of chosen.artifacts.entries()) {
        const check = await checkArtifact(storage, artifact, {
          signal,
          identities: options.encryption?.identities,
          // The artifacts after the first go into what the first one restored.
          consumeRaw: (raw) =>
            restoreInto(driver, raw, place.destination, { force: index > 0, signal, rawSize: artifact.rawSize }),
        });
        if (check.ok) continue;
        if (signal?.aborted) throw signal.reason;
        if (check.readError !== undefined) {
          throw new StageFailure(
            `could not read backup ${chosen.id} from ${storage.location}: ${describeError(check.readError)}`,
          );
        }
        if (check.consumeError !== undefined) {
          if (check.proven === true) checks.push(builtin('checksums', [], CHECKSUMS_OK));
          throw check.consumeError;
        }
        stage = 'verify';
        checks.push(builtin('checksums', check.problems, ''));
        throw new StageFailure(`backup ${chosen.id} is damaged: ${check.problems.join('; ')}`);
      }
      checks.push(builtin('checksums', [], CHECKSUMS_OK));
      return place;
    });

    enter('checks');
    await timed('checks', async () => {
      const state = await driver.inspectRestored(restoredTo.destination);
      checks.push(builtin('integrity', state.problems, state.integrity));
      const statsProblems = compareStats(chosen.stats.tables ?? [], state.tables);
      checks.push(
        builtin(
          'row counts',
          statsProblems,
          `${state.tables.length} tables, row counts equal the manifest (${state.tables.reduce((n, t) => n + t.rows, 0)} rows)`,
        ),
      );
      for (const check of drill.checks) {
        checks.push(await userCheck(check, chosen, (sql) => driver.queryValue(restoredTo.destination, sql)));
      }
    });
    timings.total = timings.download + timings.verify + timings.restore + timings.checks;
    const failed = checks.filter((c) => !c.ok);
    if (failed.length > 0) {
      throw new StageFailure(failed.map((c) => `check ${c.name} failed: ${c.message}`).join('; '));
    }

    enter('objectives');
    const missed: string[] = [];
    const dataAge = (started.getTime() - Date.parse(chosen.snapshotAt)) / 1000;
    if (rpoSeconds !== undefined && dataAge > rpoSeconds) {
      missed.push(
        `RPO objective ${drill.objectives.rpo} missed: the newest backup holds data ${formatDuration(1000 * dataAge)} old`,
      );
    }
    if (rtoSeconds !== undefined && timings.total > rtoSeconds) {
      missed.push(
        `RTO objective ${drill.objectives.rto} missed: the recovery took ${formatDuration(1000 * timings.total)}`,
      );
    }
    if (missed.length > 0) throw new StageFailure(missed.join('; '));
  } catch (error) {
    failure = stageFailure(stage, error, signal);
  }
  timings.total = timings.download + timings.verify + timings.restore + timings.checks;

  let cleanedUp = true;
  const scratchDescription = (scratch as Scratch | undefined)?.description ?? 'none (not created)';
  try {
    await (scratch as Scratch | undefined)?.drop();
  } catch (error) {
    cleanedUp = false;
    log.error(
      { event: 'drill.cleanup-failed', scratch: scratchDescription, error: describeError(error) },
      'scratch left',
    );
  }

  return finishDrill({
    storage,
    target,
    log,
    started,
    finishedAt: now(),
    failure,
    backup,
    dataAgeSeconds: backup === undefined ? undefined : (started.getTime() - Date.parse(backup.snapshotAt)) / 1000,
    timings,
    gaps,
    windowStart,
    objectives: { rpoSeconds, rtoSeconds },
    checks,
    scratch: { description: scratchDescription, cleanedUp },
  });
}

/** What every drill, of any kind, records. */
export interface DrillOutcome {
  readonly storage: Storage;
  readonly target: TargetConfig;
  readonly log: Logger;
  readonly started: Date;
  readonly finishedAt: Date;
  readonly failure: DrillRecord['failure'];
  readonly backup: Manifest | undefined;
  /** The data a recovery now would lose: the backup's age, or for WAL archiving the newest WAL's. */
  readonly dataAgeSeconds: number | undefined;
  readonly timings: DrillRecord['timings'];
  readonly gaps: ReturnType<typeof backupGaps>;
  readonly windowStart: Date;
  readonly objectives: { rpoSeconds?: number; rtoSeconds?: number };
  readonly checks: Check[];
  readonly scratch: DrillRecord['scratch'];
}

/** Builds the drill record, stores it beside the backups and logs the end of the drill. */
export async function finishDrill(outcome: DrillOutcome): Promise<DrillRecord> {
  const { storage, target, log, started, failure, backup, timings, dataAgeSeconds, windowStart } = outcome;
  const { rpoSeconds, rtoSeconds } = outcome.objectives;
  const checks = outcome.checks;
  const worst = worstGap(outcome.gaps);
  const record: DrillRecord = {
    schemaVersion: DRILL_SCHEMA_VERSION,
    target: target.name,
    driver: target.driver,
    startedAt: started.toISOString(),
    finishedAt: outcome.finishedAt.toISOString(),
    ok: failure === undefined,
    failure,
    backup:
      backup === undefined
        ? undefined
        : {
            id: backup.id,
            snapshotAt: backup.snapshotAt,
            finishedAt: backup.finishedAt,
            storedBytes: backup.artifacts.reduce((n, a) => n + a.size, 0),
            rawBytes: backup.artifacts.reduce((n, a) => n + a.rawSize, 0),
          },
    timings: round(timings),
    dataAgeSeconds,
    worstRpo: {
      seconds: worst?.seconds ?? 0,
      from: worst?.from,
      to: worst?.to ?? started.toISOString(),
      windowStart: windowStart.toISOString(),
    },
    objectives: { rpoSeconds, rtoSeconds },
    verdicts: {
      rpo:
        rpoSeconds === undefined || dataAgeSeconds === undefined
          ? 'none'
          : dataAgeSeconds <= rpoSeconds
            ? 'pass'
            : 'fail',
      rto: rtoVerdict(rtoSeconds, timings.total, failure?.stage),
    },
    checks,
    scratch: outcome.scratch,
    tool: { ...TOOL },
  };
  try {
    await storage.put(drillKey(target.name, started), serializeDrill(record), { contentType: 'application/json' });
  } catch (error) {
    throw new LifeboatError('DRILL_RECORD', `drill ${target.name}: store the drill record: ${describeError(error)}`, {
      cause: error,
    });
  }
  log[record.ok ? 'info' : 'error'](
    {
      event: 'drill.end',
      result: record.ok ? 'success' : 'failure',
      id: backup?.id,
      stage: failure?.stage,
      error: failure?.message,
      hint: failure?.hint,
      rtoSeconds: record.timings.total,
      dataAgeSeconds,
    },
    'drill finished',
  );
  return record;
}

/** No objective: none; the recovery did not complete (download, verify or restore failed): fail. */
function rtoVerdict(
  objective: number | undefined,
  total: number,
  failedAt: Stage | undefined,
): 'pass' | 'fail' | 'none' {
  if (objective === undefined) return 'none';
  if (failedAt === 'choose' || failedAt === 'download' || failedAt === 'verify' || failedAt === 'restore')
    return 'fail';
  return total <= objective ? 'pass' : 'fail';
}

export function builtin(name: string, problems: readonly string[], okMessage: string): Check {
  return {
    name,
    kind: 'builtin',
    ok: problems.length === 0,
    message: problems.length === 0 ? okMessage : problems.join('; '),
  };
}

export async function userCheck(
  check: DrillConfig['checks'][number],
  backup: Manifest,
  query: (sql: string) => Promise<unknown>,
): Promise<Check> {
  const fail = (message: string): Check => ({ name: check.name, kind: 'user', ok: false, message });
  const expectation = parseExpectation(check.expect);
  let expected: number;
  if (expectation.value === 'manifest') {
    const table = checkTable(check);
    const recorded = table === undefined ? undefined : findTable(backup.stats.tables ?? [], table);
    if (recorded === undefined) {
      return fail(`"= manifest": the manifest records no table ${table ?? '(none named: set `table`)'}`);
    }
    expected = recorded.rows;
  } else {
    expected = expectation.value;
  }
  let value: unknown;
  try {
    value = await query(check.sql ?? check.cypher ?? '');
  } catch (error) {
    return fail(`query failed: ${describeError(error)}`);
  }
  const actual = typeof value === 'bigint' ? Number(value) : Number(value);
  if (value === null || value === undefined || Number.isNaN(actual)) {
    return fail(`got ${JSON.stringify(value ?? null)}, expected a number ${expectation.op} ${expected}`);
  }
  const ok = compare(actual, expectation.op, expected);
  const wanted = `${expectation.op} ${expected}${expectation.value === 'manifest' ? ' (manifest)' : ''}`;
  return {
    name: check.name,
    kind: 'user',
    ok,
    message: ok ? `${actual} ${wanted}` : `got ${actual}, expected ${wanted}`,
  };
}

function round<T extends Record<string, number>>(values: T): T {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v * 1000) / 1000])) as T;
}
