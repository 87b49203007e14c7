// Restore: choose a backup (by id, by point in time, or the newest), verify it, then write the destination.
import { chooseBackupAt, type DamagedBackup, readCatalog, readManifest } from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import type { EncryptionConfig, TargetConfig } from '../config/schema.js';
import { createDriver } from '../drivers/create-driver.js';
import { RestoreLeftChanges, type RestoreOptions } from '../drivers/driver.js';
import { describeError, IntegrityError, LifeboatError } from '../errors.js';
import { ensureRoom, type Room } from '../free-space.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/storage.js';
import { type ArtifactCheck, checkArtifact, missingIdentity } from '../verify/verify.js';
import { measureLanding, restoreInto } from './restore-into.js';

export interface RestoreRequest {
  readonly storage: Storage;
  readonly target: TargetConfig;
  readonly logger: Logger;
  readonly pointInTime?: Date;
  readonly backupId?: string;
  /** Another destination: a file path (SQLite) or a connection URL (PostgreSQL). */
  readonly to?: string;
  readonly force: boolean;
  readonly dryRun: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (rawBytes: number) => void;
  /** How long the restore may wait for a lock held by another session (PostgreSQL); default 30 s. */
  readonly lockTimeoutMs?: number;
  /** Hears what the restore waits for (a lock, and who holds it). */
  readonly onNotice?: (message: string) => void;
  /** The target's encryption settings: their identities open encrypted backups. */
  readonly encryption?: EncryptionConfig;
}

export interface RestorePlan {
  readonly target: string;
  readonly backup: Manifest;
  readonly destination: string;
  readonly destinationHasData: boolean;
  readonly destinationDetail: string;
  /** For --point-in-time: how far before the requested time the data is, in milliseconds. */
  readonly dataAgeAtPointMs?: number;
  readonly replaces: boolean;
  /**
   * How the backup is proven: `while restoring` (one download: the destination is new or empty and the
   * backup one artifact, so a mismatch throws the result away with nothing committed), or `before restoring`
   * (a full checksum pass first, then the restore checks again: a destination that holds data is touched
   * only by a backup that proved itself).
   */
  readonly verification: 'while restoring' | 'before restoring';
  /** How the destination would be loaded, where the driver has more than one way. */
  readonly load?: string;
  /** What lands on local disk before it is committed, and the room for it (none: the restore streams). */
  readonly room?: Room;
}

export interface RestoreResult extends RestorePlan {
  readonly restored: boolean;
  readonly durationMs: number;
}

/** Chooses the backup a restore request means; `onDamaged` hears of each damaged backup passed over. */
export async function chooseBackup(
  storage: Storage,
  request: Pick<RestoreRequest, 'target' | 'pointInTime' | 'backupId'>,
  onDamaged: (damaged: DamagedBackup) => void = () => undefined,
): Promise<Manifest> {
  const name = request.target.name;
  if (request.backupId !== undefined) return readManifest(storage, name, request.backupId);
  const { backups, damaged } = await readCatalog(storage, name);
  for (const item of damaged) onDamaged(item);
  if (backups.length === 0) {
    throw new LifeboatError('NOT_FOUND', `restore ${name}: no backups of this target in ${storage.location}`, {
      hint: `run \`lifeboat backup ${name}\` first`,
    });
  }
  if (request.pointInTime === undefined) return backups[0] as Manifest;
  const chosen = chooseBackupAt(backups, request.pointInTime);
  if (chosen === undefined) {
    const oldest = backups[backups.length - 1] as Manifest;
    throw new LifeboatError(
      'NOT_FOUND',
      `restore ${name}: no backup with data from ${request.pointInTime.toISOString()} or before (oldest: ${oldest.snapshotAt})`,
      { hint: 'choose a later --point-in-time, or see `lifeboat list`' },
    );
  }
  return chosen;
}

export async function runRestore(request: RestoreRequest): Promise<RestoreResult> {
  const started = Date.now();
  const { storage, target, logger } = request;
  const driver = await createDriver(target);
  const backup = await chooseBackup(storage, request, (damaged) => {
    const message = `restore ${target.name}: backup ${damaged.id} is damaged and was passed over: ${damaged.problem}`;
    logger.warn({ event: 'restore.damaged', target: target.name, id: damaged.id, problem: damaged.problem }, message);
  });
  const state = await driver.inspectDestination(request.to);
  const plan: RestorePlan = {
    target: target.name,
    backup,
    destination: state.description,
    destinationHasData: state.hasData,
    destinationDetail: state.detail,
    dataAgeAtPointMs:
      request.pointInTime === undefined ? undefined : request.pointInTime.getTime() - Date.parse(backup.snapshotAt),
    replaces: state.hasData,
    verification: !state.hasData && backup.artifacts.length === 1 ? 'while restoring' : 'before restoring',
    ...(state.load === undefined ? {} : { load: state.load }),
  };
  if (state.hasData && !request.force && !request.dryRun) {
    throw new LifeboatError(
      'DESTINATION_NOT_EMPTY',
      `restore ${target.name}: destination ${state.description} holds data (${state.detail})`,
      { hint: 'add --force to replace it, or --to another destination' },
    );
  }
  // A backup that lands on local disk first is measured against the room there before any download.
  const room = await measureLanding(driver, request.to, state, backup);
  if (request.dryRun) return { ...plan, room, restored: false, durationMs: Date.now() - started };
  if (room !== undefined) ensureRoom(room, `restore ${target.name}`, 'destination untouched');
  const identities = request.encryption?.identities;
  const locked = backup.artifacts.find((a) => a.encryption !== undefined);
  if (locked !== undefined && (identities ?? []).length === 0) throw missingIdentity(locked);
  const log = logger.child({ target: target.name, id: backup.id, destination: state.description });
  log.info({ event: 'restore.start' }, 'restore started');
  // First pass (a destination that holds data): prove everything the manifest promises (stored and raw size
  // and SHA-256) before the destination is touched. The restoring pass checks it all again as the bytes
  // flow, and their end is gated on that check, so the destination only commits a stream that proved
  // itself: for a new or empty destination that pass alone is enough.
  for (const artifact of plan.verification === 'before restoring' ? backup.artifacts : []) {
    const check = await checkArtifact(storage, artifact, { signal: request.signal, identities });
    request.signal?.throwIfAborted();
    if (check.readError !== undefined)
      throw unreadable(target.name, backup.id, storage, check, 'destination untouched');
    if (!check.ok) {
      throw new IntegrityError(
        `restore ${target.name}: backup ${backup.id} failed verification, destination untouched: ${check.problems.join('; ')}`,
        'restore an older backup with --backup ID (see `lifeboat list`), and run `lifeboat verify` on the others',
      );
    }
  }
  const restoreOptions: RestoreOptions = {
    force: request.force,
    signal: request.signal,
    lockTimeoutMs: request.lockTimeoutMs,
    onNotice: (message, event = 'restore.waiting') => {
      log.warn({ event, message }, message);
      request.onNotice?.(message);
    },
  };
  for (const [index, artifact] of backup.artifacts.entries()) {
    // A driver that could not put the destination back as it found it says what it holds now.
    let left: RestoreLeftChanges | undefined;
    const check = await checkArtifact(storage, artifact, {
      identities,
      signal: request.signal,
      onRawBytes: request.onProgress,
      // The artifacts after the first go into what the first one restored.
      consumeRaw: (raw) =>
        restoreInto(driver, raw, request.to, {
          ...restoreOptions,
          force: restoreOptions.force || index > 0,
          rawSize: artifact.rawSize,
        }).catch((error: unknown) => {
          if (error instanceof RestoreLeftChanges) left = error;
          throw error;
        }),
    });
    if (check.ok) continue;
    log.error({ event: 'restore.end', result: 'failure', error: check.problems.join('; ') }, 'restore failed');
    const nothingCommitted = `${driver.name}: nothing committed`;
    if (request.signal?.aborted) {
      throw new LifeboatError(
        'INTERRUPTED',
        `restore ${target.name}: interrupted (${describeError(request.signal.reason)}); ${left?.state ?? nothingCommitted}`,
        { hint: left?.hint },
      );
    }
    if (check.readError !== undefined) {
      throw unreadable(target.name, backup.id, storage, check, left?.state ?? nothingCommitted);
    }
    if (check.consumeError === undefined && plan.verification === 'while restoring') {
      throw new IntegrityError(
        `restore ${target.name}: backup ${backup.id} failed verification while restoring, ${left?.state ?? `${nothingCommitted} to ${state.description}`}: ${check.problems.join('; ')}`,
        `${left?.hint === undefined ? '' : `${left.hint}; `}restore an older backup with --backup ID (see \`lifeboat list\`), and run \`lifeboat verify\` on the others`,
      );
    }
    if (check.consumeError instanceof LifeboatError) {
      throw new LifeboatError('RESTORE_FAILED', `restore ${target.name}: ${describeError(check.consumeError)}`, {
        cause: check.consumeError,
        hint: check.consumeError.hint,
        exitCode: check.consumeError.exitCode,
      });
    }
    throw new LifeboatError('RESTORE_FAILED', `restore ${target.name}: ${check.problems.join('; ')}`, {
      cause: check.consumeError,
    });
  }
  const durationMs = Date.now() - started;
  log.info({ event: 'restore.end', result: 'success', durationMs }, 'restore finished');
  return { ...plan, restored: true, durationMs };
}

/** The store could not be read: a network or permission failure, not a damaged backup. */
function unreadable(target: string, id: string, storage: Storage, check: ArtifactCheck, state: string): LifeboatError {
  const cause = check.readError;
  return new LifeboatError(
    'STORAGE_READ',
    `restore ${target}: could not read backup ${id} from ${storage.location} (${state}): ${describeError(cause)}`,
    {
      cause,
      hint: `the backup is not known to be damaged: ${
        cause instanceof LifeboatError && cause.hint !== undefined
          ? cause.hint
          : 'check the network and the store, then run the restore again'
      }`,
    },
  );
}
