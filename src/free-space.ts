// Room on disk, checked before a long download that lands on local disk rather than after it filled it.
import { statfs } from 'node:fs/promises';
import { LifeboatError } from './errors.js';
import { formatBytes } from './format.js';

export interface RoomNeeded {
  /** Where the bytes will land. */
  readonly folder: string;
  readonly bytes: number;
  /** Who needs the room, e.g. "sqlite: restore into /data/app.db". */
  readonly what: string;
  /** Why the bytes land there, e.g. "the restored file is written beside the old one first". */
  readonly why: string;
  /** What was left as it was, e.g. "destination untouched". */
  readonly state: string;
  readonly hint: string;
}

/**
 * Fails when the file system of `folder` has less than `bytes` free for this process. A file system that
 * cannot say (statfs unsupported) is let through: the write itself will tell.
 */
export async function ensureRoom(needed: RoomNeeded): Promise<void> {
  const info = await statfs(needed.folder).catch(() => undefined);
  if (info === undefined) return;
  const free = info.bavail * info.bsize;
  if (free >= needed.bytes) return;
  throw new LifeboatError(
    'NO_ROOM',
    `${needed.what}: needs ${formatBytes(needed.bytes)} free in ${needed.folder} (${needed.why}), which has ${formatBytes(free)}; ${needed.state}`,
    { hint: needed.hint },
  );
}
