// Restore: choose a backup (by id, by point in time, or the newest), verify it, then write the destination.
import { chooseBackupAt, listBackups, readManifest } from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import type { TargetConfig } from '../config/schema.js';
import { createDriver } from '../drivers/create-driver.js';
import { describeError, IntegrityError, LifeboatError } from '../errors.js';
import type { Logger } from '../log.js';
import { byteCounter } from '../pipeline/digest-tap.js';
import type { Storage } from '../storage/storage.js';
import { checkArtifact, compareDigest, storedDigest } from '../verify/verify.js';

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
}

export interface RestoreResult extends RestorePlan {
  readonly restored: boolean;
  readonly durationMs: number;
}

/** Chooses the backup a restore request means. */
export async function chooseBackup(
  storage: Storage,
  request: Pick<RestoreRequest, 'target' | 'pointInTime' | 'backupId'>,
): Promise<Manifest> {
  const name = request.target.name;
  if (request.backupId !== undefined) return readManifest(storage, name, request.backupId);
  const backups = await listBackups(storage, name);
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
  const driver = createDriver(target);
  const backup = await chooseBackup(storage, request);
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
  };
  if (state.hasData && !request.force && !request.dryRun) {
    throw new LifeboatError(
      'DESTINATION_NOT_EMPTY',
      `restore ${target.name}: destination ${state.description} holds data (${state.detail})`,
      { hint: 'add --force to replace it, or --to another destination' },
    );
  }
  if (request.dryRun) return { ...plan, restored: false, durationMs: Date.now() - started };
  const log = logger.child({ target: target.name, id: backup.id, destination: state.description });
  log.info({ event: 'restore.start' }, 'restore started');
  // First pass: prove every stored byte matches the manifest before the destination is touched. The
  // second pass checks the uncompressed bytes too, as they flow into the destination.
  for (const artifact of backup.artifacts) {
    const problems = await storedDigest(storage, artifact.key, request.signal).then(
      (actual) => compareDigest(artifact.key, 'stored', artifact, actual),
      (error: unknown) => [`${artifact.key}: ${describeError(error)}`],
    );
    if (problems.length > 0) {
      throw new IntegrityError(
        `restore ${target.name}: backup ${backup.id} failed verification, destination untouched: ${problems.join('; ')}`,
        'restore an older backup with --backup ID (see `lifeboat list`)',
      );
    }
  }
  for (const artifact of backup.artifacts) {
    const check = await checkArtifact(
      storage,
      artifact,
      (raw) => {
        const input = request.onProgress === undefined ? raw : raw.pipe(byteCounter(request.onProgress));
        return driver.restore(input, request.to, { force: request.force, signal: request.signal });
      },
      request.signal,
    );
    if (!check.ok) throw new LifeboatError('RESTORE_FAILED', `restore ${target.name}: ${check.problems.join('; ')}`);
  }
  const durationMs = Date.now() - started;
  log.info({ event: 'restore.end', result: 'success', durationMs }, 'restore finished');
  return { ...plan, restored: true, durationMs };
}
