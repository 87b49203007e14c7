// `lifeboat restore TARGET [--point-in-time T] [--backup ID] [--to DEST] [--force] [--dry-run]`.
import { runRestore } from '../core/run-restore.js';
import { UsageError } from '../errors.js';
import { type CommandContext, findTarget } from './context.js';
import { formatBytes, formatDuration, startProgress } from './progress.js';

export interface RestoreFlags {
  pointInTime?: string;
  backup?: string;
  to?: string;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function parsePointInTime(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const time = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) {
    throw new UsageError(`--point-in-time: "${text}" is not an ISO 8601 time`, 'use e.g. 2026-11-22T03:00:00Z');
  }
  return time;
}

export async function restoreCommand(ctx: CommandContext, name: string, flags: RestoreFlags): Promise<number> {
  if (flags.pointInTime !== undefined && flags.backup !== undefined) {
    throw new UsageError('--point-in-time and --backup exclude each other');
  }
  const target = findTarget(ctx.config, name);
  const progress = flags.dryRun ? startProgress('', false) : startProgress(`restore ${name}:`);
  const result = await runRestore({
    storage: ctx.storage,
    target,
    logger: ctx.logger,
    pointInTime: parsePointInTime(flags.pointInTime),
    backupId: flags.backup,
    to: flags.to,
    force: flags.force === true,
    dryRun: flags.dryRun === true,
    signal: ctx.signal,
    onProgress: (bytes) => progress.update(bytes),
  }).finally(() => progress.stop());
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
