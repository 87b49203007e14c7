// One backup of one target: dump -> pipeline -> store -> confirm -> manifest (the commit marker, last).

import { newBackupId } from '../catalog/backup-id.js';
import { deleteBackup } from '../catalog/catalog.js';
import { backupPrefix, type Manifest, manifestKey, serializeManifest } from '../catalog/manifest.js';
import { now as wallNow } from '../clock.js';
import type { EncryptionConfig, TargetConfig } from '../config/schema.js';
import { createDriver } from '../drivers/create-driver.js';
import type { DumpSession } from '../drivers/driver.js';
import type { ToolPriority } from '../drivers/run-tool.js';
import { describeError, LifeboatError } from '../errors.js';
import type { Logger } from '../log.js';
import { fingerprint } from '../pipeline/age.js';
import { type CompressionSettings, SUFFIX } from '../pipeline/compress.js';
import { DEFAULT_COMPRESSION, storeStream } from '../pipeline/store-stream.js';
import type { Storage } from '../storage/storage.js';
import { compareDigest, storedDigest } from '../verify/verify.js';
import { TOOL } from '../version.js';

export interface BackupOptions {
  readonly storage: Storage;
  readonly target: TargetConfig;
  readonly logger: Logger;
  readonly verifyUpload: 'checksum' | 'size' | 'store';
  readonly signal?: AbortSignal;
  readonly onProgress?: (rawBytes: number) => void;
  readonly now?: () => Date;
  /** The target's encryption settings: with recipients, the backup is encrypted for them. */
  readonly encryption?: EncryptionConfig;
  /** The target's compression (effectiveSettings); default gzip -6 on every core. */
  readonly compression?: CompressionSettings;
  /** The dump tool's CPU and I/O priority (effectiveSettings). */
  readonly priority?: ToolPriority;
}

type Stage = 'dump' | 'upload' | 'confirm' | 'commit';

/** A backup run failed; nothing of it is committed, and `cleanedUp` says whether its partial objects are gone. */
export class BackupFailedError extends LifeboatError {
  override readonly name = 'BackupFailedError';
  readonly id: string;
  readonly stage: Stage;
  readonly cleanedUp: boolean;
  readonly interrupted: boolean;

  constructor(
    message: string,
    details: { id: string; stage: Stage; cleanedUp: boolean; interrupted: boolean; cause: unknown; hint?: string },
  ) {
    super('BACKUP_FAILED', message, { cause: details.cause, hint: details.hint });
    this.id = details.id;
    this.stage = details.stage;
    this.cleanedUp = details.cleanedUp;
    this.interrupted = details.interrupted;
  }
}

/** Makes one backup; resolves to its manifest, or rejects having removed every object it wrote. */
export async function runBackup(options: BackupOptions): Promise<Manifest> {
  const { storage, target, logger, signal } = options;
  const now = options.now ?? wallNow;
  const startedAt = now();
  const id = newBackupId(startedAt);
  const log = logger.child({ target: target.name, id });
  let stage: Stage = 'dump';
  let session: DumpSession | undefined;
  let stopDump: (() => void) | undefined;
  log.info({ event: 'backup.start', driver: target.driver }, 'backup started');
  try {
    signal?.throwIfAborted();
    const driver = await createDriver(
      options.priority === undefined ? target : { ...target, priority: options.priority },
    );
    session = await driver.dump(signal).catch((error: unknown) => {
      // A driver's own failure that is not yet one of Lifeboat's errors is told as the driver's.
      throw error instanceof LifeboatError
        ? error
        : new LifeboatError('SOURCE', `${driver.name}: ${describeError(error)}`, { cause: error });
    });
    // The core stops the dump tool on abort (a signal, a timeout, a lost lease): no driver wires it.
    const running = session;
    stopDump = () => running.abort();
    signal?.addEventListener('abort', stopDump, { once: true });
    stage = 'upload';
    // A dump the tool compressed itself (neo4j-admin's zstd) is stored as it is.
    const compression: CompressionSettings =
      session.compressed === true
        ? { algorithm: 'none', level: 0, threads: 1 }
        : (options.compression ?? DEFAULT_COMPRESSION());
    const recipients = options.encryption?.recipients ?? [];
    const encrypted = recipients.length > 0;
    const key = `${backupPrefix(target.name, id)}${session.fileName}${SUFFIX[compression.algorithm]}${encrypted ? '.age' : ''}`;
    const digests = await storeStream(storage, key, session.stream, {
      signal,
      onProgress: options.onProgress,
      compression,
      encryptFor: encrypted ? recipients : undefined,
      // confirmStored reads the object back: the upload need not carry its hash in the signature too.
      readBack: options.verifyUpload === 'checksum',
    });
    stage = 'dump';
    await session.done;
    if (digests.raw.size === 0) {
      throw new LifeboatError('DUMP_EMPTY', `${target.driver}: the dump tool reported success but wrote nothing`, {
        hint: 'check the dump tool (binDir) and its permissions; an empty backup is never committed',
      });
    }
    stage = 'confirm';
    const artifact = {
      key,
      format: session.format,
      compression: compression.algorithm,
      size: digests.stored.size,
      sha256: digests.stored.sha256,
      rawSize: digests.raw.size,
      rawSha256: digests.raw.sha256,
      ...(encrypted ? { encryption: { format: 'age-v1' as const, recipients: recipients.map(fingerprint) } } : {}),
    };
    const verified = await confirmStored(
      storage,
      { ...artifact, partsSha256: digests.stored.partsSha256 },
      options.verifyUpload,
      log,
      signal,
    );
    stage = 'commit';
    signal?.throwIfAborted();
    const manifest: Manifest = {
      schemaVersion: 1,
      id,
      target: target.name,
      driver: target.driver,
      startedAt: startedAt.toISOString(),
      finishedAt: now().toISOString(),
      snapshotAt: session.snapshotAt.toISOString(),
      source: { ...session.source },
      tool: { ...TOOL },
      stats: session.stats,
      artifacts: [artifact],
      ...(session.wal === undefined ? {} : { wal: { ...session.wal } }),
    };
    // Written last: a backup without its manifest does not exist for list, verify or restore.
    await storage.put(manifestKey(target.name, id), serializeManifest(manifest), { contentType: 'application/json' });
    if (stopDump !== undefined) signal?.removeEventListener('abort', stopDump);
    log.info(
      {
        event: 'backup.end',
        result: 'success',
        bytes: artifact.size,
        rawBytes: artifact.rawSize,
        verified,
        durationMs: Date.parse(manifest.finishedAt) - startedAt.getTime(),
        // The stored bytes' time on the way to the store alone (no start-up, no read-back): a rate limit's yardstick.
        uploadMs: Math.round(digests.uploadMs),
        ...(typeof manifest.source.downtimeSeconds === 'number'
          ? { downtimeSeconds: manifest.source.downtimeSeconds }
          : {}),
      },
      'backup finished',
    );
    return manifest;
  } catch (error) {
    if (stopDump !== undefined) signal?.removeEventListener('abort', stopDump);
    session?.abort();
    await session?.done.catch(() => undefined);
    const removed = await removeBackupObjects(storage, target.name, id);
    const cause = signal?.aborted ? `interrupted (${describeError(signal.reason)})` : describeError(error);
    log.error(
      { event: 'backup.end', result: 'failure', stage, error: cause, removedObjects: removed },
      'backup failed',
    );
    throw new BackupFailedError(`backup ${target.name}: ${stage}: ${cause}`, {
      id,
      stage,
      cleanedUp: removed >= 0,
      interrupted: signal?.aborted === true,
      cause: error,
      hint: error instanceof LifeboatError ? error.hint : undefined,
    });
  }
}

const READ_BACK_ATTEMPTS = 3;

async function confirmStored(
  storage: Storage,
  artifact: Manifest['artifacts'][number] & { partsSha256?: string },
  mode: 'checksum' | 'size' | 'store',
  log: Logger,
  signal?: AbortSignal,
): Promise<'store' | 'read-back' | 'size'> {
  if (mode === 'store' && (await confirmedByStore(storage, artifact, log))) return 'store';
  // Reading back the stored bytes proves what the store holds; the raw digest was taken on the way in. One
  // broken connection while reading back says nothing about the object: that read is tried again.
  const readBack = () =>
    mode !== 'size'
      ? storedDigest(storage, artifact.key, signal)
      : storage.head(artifact.key).then((head) => {
          if (head === undefined) throw new LifeboatError('INTEGRITY', `${artifact.key}: not found after upload`);
          return { size: head.size, sha256: artifact.sha256 };
        });
  let actual: { size: number; sha256: string } | undefined;
  for (let attempt = 1; actual === undefined; attempt += 1) {
    try {
      actual = await readBack();
    } catch (error) {
      const permanent = (error instanceof LifeboatError && error.code !== 'STORAGE') || signal?.aborted === true;
      if (permanent || attempt >= READ_BACK_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
  const problems = compareDigest(artifact.key, 'stored', artifact, actual);
  if (problems.length > 0) throw new LifeboatError('INTEGRITY', problems.join('; '));
  return mode === 'size' ? 'size' : 'read-back';
}

/**
 * `verifyUpload: store`: the store checked each part's SHA-256 as it arrived; the SHA-256 it keeps of the
 * object must be the one of the bytes that left here. False when the store keeps none (it ignored the
 * checksums): the caller then reads the object back instead.
 */
async function confirmedByStore(
  storage: Storage,
  artifact: { key: string; size: number; partsSha256?: string },
  log: Logger,
): Promise<boolean> {
  const kept = storage.storedChecksum === undefined ? undefined : await storage.storedChecksum(artifact.key);
  if (kept === undefined) throw new LifeboatError('INTEGRITY', `${artifact.key}: not found after upload`);
  if (kept.sha256 === undefined || artifact.partsSha256 === undefined) {
    log.warn(
      { event: 'backup.verify_fallback', key: artifact.key },
      'verifyUpload store: the store kept no SHA-256 of the object; reading it back instead',
    );
    return false;
  }
  const problems: string[] = [];
  if (kept.size !== artifact.size) problems.push(`stored ${kept.size} bytes, sent ${artifact.size}`);
  if (kept.sha256 !== artifact.partsSha256) {
    problems.push(`the store's SHA-256 ${kept.sha256} is not that of the bytes sent (${artifact.partsSha256})`);
  }
  if (problems.length > 0) throw new LifeboatError('INTEGRITY', `${artifact.key}: ${problems.join('; ')}`);
  return true;
}

/** Removes what a failed run stored; -1 when that failed too (prune removes it later). */
async function removeBackupObjects(storage: Storage, target: string, id: string): Promise<number> {
  return deleteBackup(storage, target, id).catch(() => -1);
}
