// `lifeboat restore TARGET [--point-in-time T] [--backup ID] [--to DEST] [--force] [--dry-run]`.

import { realpathSync } from 'node:fs';
import { isBackupId } from '../catalog/backup-id.js';
import { DURATION, parseDuration } from '../config/duration.js';
import { encryptionFor } from '../config/encryption.js';
import type { PostgresTargetConfig } from '../config/schema.js';
import { restoreDatadir } from '../core/restore-datadir.js';
import { runRestore } from '../core/run-restore.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatDuration } from '../format.js';
import { describeRoom, enoughRoom } from '../free-space.js';
import { leaseOptions, withLease } from '../lease/lease.js';
import { storageForRun } from '../storage/throttled-storage.js';
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
  toDatadir?: string;
  start?: boolean;
  timeline?: string;
}

/** How PostgreSQL's restore_command runs this Lifeboat: the same program, config and store. */
export interface FetchCommand {
  readonly configPath: string;
  readonly store?: string;
}

export async function restoreCommand(
  ctx: CommandContext,
  name: string,
  flags: RestoreFlags,
  fetch?: FetchCommand,
): Promise<number> {
  const physical = findTarget(ctx.config, name);
  if (physical.driver === 'postgres' && physical.method === 'physical') {
    return restoreDatadirCommand(ctx, physical, flags, fetch);
  }
  if (flags.toDatadir !== undefined || flags.start || flags.timeline !== undefined) {
    throw new UsageError(
      `--to-datadir, --start and --timeline are for physical PostgreSQL targets; "${name}" is a ${physical.driver} target${physical.driver === 'postgres' ? ' (method: logical)' : ''}`,
      'use --to for another destination',
    );
  }
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
      storage: storageForRun(ctx.storage, ctx.config, target),
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
    `verify:      ${
      result.verification === 'while restoring'
        ? 'while restoring, in one pass (a mismatch leaves nothing committed)'
        : 'before restoring, then again while restoring (two passes: the destination is touched only by a proven backup)'
    }`,
    result.load === undefined ? undefined : `load:        ${result.load}`,
    result.room === undefined || !flags.dryRun
      ? undefined
      : `local disk:  ${describeRoom(result.room)}${enoughRoom(result.room) ? '' : ': NOT ENOUGH, the restore would be refused'}`,
    flags.dryRun ? 'dry run:     nothing changed' : `restored in ${formatDuration(result.durationMs)}`,
  ];
  process.stdout.write(`${lines.filter((l) => l !== undefined).join('\n')}\n`);
  return 0;
}

async function restoreDatadirCommand(
  ctx: CommandContext,
  target: PostgresTargetConfig,
  flags: RestoreFlags,
  fetch: FetchCommand | undefined,
): Promise<number> {
  const name = target.name;
  if (flags.toDatadir === undefined) {
    throw new UsageError(
      `restore ${name}: a physical target restores into a data directory: add --to-datadir DIR`,
      `e.g. lifeboat restore ${name} --point-in-time 2026-11-22T03:00:00Z --to-datadir /var/lib/postgresql/restored`,
    );
  }
  if (flags.to !== undefined || flags.backup !== undefined) {
    throw new UsageError(
      `restore ${name}: --to and --backup are for logical targets; a physical one takes --to-datadir`,
    );
  }
  if (flags.start && flags.dryRun) throw new UsageError('--start and --dry-run exclude each other');
  const timeline = flags.timeline === undefined ? undefined : Number(flags.timeline);
  if (timeline !== undefined && (!Number.isInteger(timeline) || timeline < 1)) {
    throw new UsageError(`--timeline: "${flags.timeline}" is not a timeline number (1, 2, ...)`);
  }
  const pointInTime = parseTimeFlag('--point-in-time', flags.pointInTime);
  const progress = flags.dryRun ? startProgress('', false) : startProgress(`restore ${name}:`);
  const fetchCommand = [
    process.execPath,
    realpathSync(process.argv[1] as string),
    ...(fetch === undefined
      ? []
      : ['--config', fetch.configPath, ...(fetch.store === undefined ? [] : ['--store', fetch.store])]),
  ];
  const result = await restoreDatadir({
    storage: storageForRun(ctx.storage, ctx.config, target),
    target,
    logger: ctx.logger,
    pointInTime,
    timeline,
    datadir: flags.toDatadir,
    force: flags.force === true,
    dryRun: flags.dryRun === true,
    start: flags.start === true,
    encryption: encryptionFor(ctx.config, target),
    fetchCommand,
    signal: ctx.signal,
    onProgress: (bytes) => progress.update(bytes),
  }).finally(() => progress.stop());
  if (flags.json) {
    const { backup, ...rest } = result;
    process.stdout.write(
      `${JSON.stringify({ ...rest, backupId: backup.id, window: { ...result.window, from: new Date(result.window.from).toISOString(), to: new Date(result.window.to).toISOString() } }, null, 2)}\n`,
    );
    return 0;
  }
  const lines = [
    `base backup: ${result.backup.id} (consistent at ${result.backup.snapshotAt}, ${formatBytes(result.baseBytes)} stored)`,
    `recover to:  ${result.pointInTime ?? 'the end of the archived WAL'} on timeline ${result.timeline}`,
    `WAL:         up to ${result.walFiles} files, ${formatBytes(result.walBytes)} stored, fetched by restore_command as recovery asks`,
    `window:      ${new Date(result.window.from).toISOString()} to ${new Date(result.window.to).toISOString()}`,
    `data dir:    ${result.datadir}${result.datadirHasData ? ' (not empty: will be replaced)' : ''}`,
  ];
  if (flags.dryRun) lines.push('dry run:     nothing changed');
  else if (result.server !== undefined) {
    lines.push(
      `restored in ${formatDuration(result.durationMs)}; recovered and promoted`,
      `server:      ${result.server.url} (pid ${result.server.pid}, log ${result.server.log})`,
      `stop it:     pg_ctl -D ${result.datadir} stop  (or kill -INT ${result.server.pid})`,
    );
  } else {
    lines.push(
      `restored in ${formatDuration(result.durationMs)}; recovery starts when a server starts on it:`,
      `  postgres -D ${result.datadir}   (or pg_ctl -D ${result.datadir} start), as the owner of the directory,`,
      '  with the environment this command had (restore_command runs lifeboat wal-fetch with this config);',
      '  it replays WAL to the time above, then promotes and accepts writes.',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
