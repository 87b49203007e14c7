// `lifeboat restore TARGET [--point-in-time T] [--backup ID] [--to DEST] [--force] [--dry-run]`.
import { isBackupId } from '../catalog/backup-id.js';
import { DURATION, parseDuration } from '../config/duration.js';
import { encryptionFor } from '../config/encryption.js';
import { runRestore } from '../core/run-restore.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatDuration } from '../format.js';
import { leaseOptions, withLease } from '../lease/lease.js';
import { type CommandContext, findTarget, parseTimeFlag } from './context.js';
import { startProgress } from './progress.js';

export interface RestoreFlags {
  pointInTime?: string;
  backup?: string;
  to?: string;
  force?: boolean;
  dryRun?: boolean;
  lockTimeout?: string;
  json?: boolean;
}

export async function restoreCommand(ctx: CommandContext, name: string, flags: RestoreFlags): Promise<number> {
  if (flags.pointInTime !== undefined && flags.backup !== undefined) {
    throw new UsageError('--point-in-time and --backup exclude each other');
  }
  if (flags.backup !== undefined && !isBackupId(flags.backup)) {
    throw new UsageError(
      `--backup: "${flags.backup}" is not a backup id (like 20260101T030000Z-a1b2c3)`,
      `see the ids with \`lifeboat list ${name}\``,
    );
  }
  const lockTimeout = flags.lockTimeout ?? '30s';
  if (!DURATION.test(lockTimeout)) {
    throw new UsageError(`--lock-timeout: "${lockTimeout}" is not a duration`, 'use e.g. 30s, 5m');
  }
  const pointInTime = parseTimeFlag('--point-in-time', flags.pointInTime);
  const target = findTarget(ctx.config, name);
  const progress = flags.dryRun ? startProgress('', false) : startProgress(`restore ${name}:`);
  const restore = (signal: AbortSignal) =>
    runRestore({
      storage: ctx.storage,
      target,
      logger: ctx.logger,
      pointInTime,
      encryption: encryptionFor(ctx.config, target),
      backupId: flags.backup,
      to: flags.to,
      force: flags.force === true,
      dryRun: flags.dryRun === true,
      signal,
      onProgress: (bytes) => progress.update(bytes),
      lockTimeoutMs: parseDuration(lockTimeout),
      onNotice: (message) => progress.note(message),
    });
  // A restore into the target's own database holds its lease: no backup of it runs half-way through the
  // replacement (and none is pruned from under the restore).
  const live = flags.to === undefined && flags.dryRun !== true;
  const lease = { ...leaseOptions(ctx.config, 'lifeboat restore', ctx.logger), signal: ctx.signal };
  const result = await (live ? withLease(ctx.storage, name, lease, restore) : restore(ctx.signal)).finally(() =>
    progress.stop(),
  );
  if (flags.json) {
    const { backup, ...rest } = result;
    process.stdout.write(
      `${JSON.stringify({ ...rest, backupId: backup.id, snapshotAt: backup.snapshotAt }, null, 2)}\n`,
    );
    return 0;
  }
  const size = result.backup.artifacts.reduce((sum, a) => sum + a.rawSize, 0);
  const lines = [
    `backup:      ${result.backup.id} (data from ${result.backup.snapshotAt}, ${formatBytes(size)})`,
    result.dataAgeAtPointMs === undefined
      ? undefined
      : `chosen for:  ${flags.pointInTime}: data is ${formatDuration(result.dataAgeAtPointMs)} before that time`,
    `destination: ${result.destination} (${result.destinationDetail})${result.replaces ? ', will be replaced' : ''}`,
    flags.dryRun ? 'dry run:     nothing changed' : `restored in ${formatDuration(result.durationMs)}`,
  ];
  process.stdout.write(`${lines.filter((l) => l !== undefined).join('\n')}\n`);
  return 0;
}
