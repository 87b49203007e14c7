// Backup ids: UTC start time in basic ISO form plus a random suffix, so key order is time order.
import { randomBytes } from 'node:crypto';

export const BACKUP_ID = /^(\d{8}T\d{6}Z)-([0-9a-f]{6})$/;

/** A new id for a backup started at `startedAt`, e.g. "20260101T030000Z-a1b2c3". */
export function newBackupId(startedAt: Date, random: () => string = () => randomBytes(3).toString('hex')): string {
  const stamp = startedAt
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `${stamp}-${random()}`;
}

/** The start time encoded in an id, or undefined for a string that is not an id. */
export function backupIdTime(id: string): Date | undefined {
  const match = BACKUP_ID.exec(id);
  if (match?.[1] === undefined) return undefined;
  const s = match[1];
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`;
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

export function isBackupId(id: string): boolean {
  return backupIdTime(id) !== undefined;
}
