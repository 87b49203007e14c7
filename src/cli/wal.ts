// `lifeboat wal-fetch TARGET NAME DEST` (PostgreSQL's restore_command) and `lifeboat wal-push TARGET PATH`
// (archive_command): the WAL archive of a physical target, file by file.
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { encryptionFor } from '../config/encryption.js';
import type { PostgresTargetConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { fetchNewest, shipWalFile, walFileKind } from '../wal/archive.js';
import { DEFAULT_SEGMENT_SIZE } from '../wal/segment.js';
import { type CommandContext, findTarget } from './context.js';

function physicalTarget(ctx: CommandContext, name: string, command: string): PostgresTargetConfig {
  const target = findTarget(ctx.config, name);
  if (target.driver !== 'postgres' || target.method !== 'physical') {
    throw new UsageError(
      `${command}: target "${name}" is not a physical PostgreSQL target`,
      'set `method: physical` on it',
    );
  }
  return target;
}

/** Exit 0 with the file at `dest`; 1 when the archive has no such file (PostgreSQL then looks elsewhere). */
export async function walFetchCommand(ctx: CommandContext, name: string, file: string, dest: string): Promise<number> {
  const target = physicalTarget(ctx, name, 'wal-fetch');
  const kind = walFileKind(file);
  if (kind === undefined || kind.kind === 'partial') {
    throw new UsageError(`wal-fetch: "${file}" is not a WAL segment or history file name`);
  }
  const { entry, check } = await fetchNewest(
    ctx.storage,
    target.name,
    file,
    dest,
    encryptionFor(ctx.config, target)?.identities,
    ctx.signal,
  );
  if (entry === undefined || check === undefined) {
    // Asked for files beyond the archive's end at every recovery: not an error worth more than a line.
    process.stderr.write(`wal-fetch: ${target.name}: ${file} is not in the archive\n`);
    return 1;
  }
  if (!check.ok) {
    process.stderr.write(
      `Error: wal-fetch: ${target.name}: ${file} failed verification, not restored: ${check.problems.join('; ')}\n`,
    );
    return 1;
  }
  if (entry.kind === 'partial') {
    process.stderr.write(`wal-fetch: ${target.name}: ${file}: the archive's newest partial copy\n`);
  }
  return 0;
}

/** Ships one finished WAL file (archive_command = 'lifeboat wal-push TARGET %p'); exit 0 only once it is safe. */
export async function walPushCommand(ctx: CommandContext, name: string, path: string): Promise<number> {
  const target = physicalTarget(ctx, name, 'wal-push');
  const kind = walFileKind(basename(path));
  if (kind === undefined || kind.kind === 'partial') {
    throw new UsageError(`wal-push: "${path}" is not a WAL segment or history file`, 'use %p in archive_command');
  }
  // A segment file is as long as the cluster's segments.
  const info = await stat(path);
  const segmentSize = kind.kind === 'segment' ? info.size : DEFAULT_SEGMENT_SIZE;
  await shipWalFile({
    storage: ctx.storage,
    target: target.name,
    path,
    name: kind.name,
    kind: kind.kind,
    segmentSize,
    coveredUntil: info.mtime,
    recipients: encryptionFor(ctx.config, target)?.recipients,
    signal: ctx.signal,
  });
  return 0;
}
