// Room on disk, checked before a long download that lands on local disk rather than after it filled it.
import { statfs } from 'node:fs/promises';
import { LifeboatError } from './errors.js';
import { formatBytes } from './format.js';

/** What a restore lands on local disk before it commits it, and whether the file system has room for it. */
export interface Room {
  readonly folder: string;
  readonly bytes: number;
  /** Why the bytes land there. */
  readonly why: string;
  /** Free bytes for this process; undefined when the file system cannot say (the write itself will tell). */
  readonly free?: number;
  readonly hint: string;
}

/** Measures the room `bytes` need in `folder`. */
export async function measureRoom(need: Omit<Room, 'free'>): Promise<Room> {
  const info = await statfs(need.folder).catch(() => undefined);
  return info === undefined ? need : { ...need, free: info.bavail * info.bsize };
}

export function enoughRoom(room: Room): boolean {
  return room.free === undefined || room.free >= room.bytes;
}

/** "needs 2.0 GiB free in /data (why), which has 1.2 GiB". */
export function describeRoom(room: Room): string {
  const has = room.free === undefined ? 'whose free space is unknown' : `which has ${formatBytes(room.free)}`;
  return `needs ${formatBytes(room.bytes)} free in ${room.folder} (${room.why}), ${has}`;
}

/** Fails, saying `who` needs the room and what was left as it was (`state`), when `room` is not enough. */
export function ensureRoom(room: Room, who: string, state: string): void {
  if (enoughRoom(room)) return;
  throw new LifeboatError('NO_ROOM', `${who}: ${describeRoom(room)}; ${state}`, { hint: room.hint });
}
