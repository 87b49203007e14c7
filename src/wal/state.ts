// What the store holds for a physical target: its base backups, its WAL archive, and the windows they open.
import { readCatalog } from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import type { Storage } from '../storage/storage.js';
import { archiveOf, readWalEntries, type WalEntry } from './archive.js';
import { parseLsn } from './segment.js';
import { type BaseBackupInfo, type RecoveryWindow, recoveryWindows, type WalArchive, type WalGap } from './windows.js';

export interface RecoveryState {
  /** The target's sound committed backups that are physical base backups, newest first. */
  readonly manifests: readonly Manifest[];
  readonly bases: readonly BaseBackupInfo[];
  readonly entries: readonly WalEntry[];
  readonly archive: WalArchive;
  readonly windows: readonly RecoveryWindow[];
  readonly gaps: readonly WalGap[];
  /** WAL entries that do not parse. */
  readonly damaged: readonly { key: string; problem: string }[];
}

/** A manifest's base backup facts, or undefined for a logical dump. */
export function baseInfo(manifest: Manifest): BaseBackupInfo | undefined {
  const wal = manifest.wal;
  if (wal === undefined) return undefined;
  return {
    id: manifest.id,
    timeline: wal.timeline,
    startLsn: parseLsn(wal.startLsn),
    endLsn: parseLsn(wal.endLsn),
    segmentSize: wal.segmentSize,
    consistentAt: Date.parse(manifest.snapshotAt),
  };
}

export async function readRecoveryState(storage: Storage, target: string): Promise<RecoveryState> {
  const [catalog, wal] = await Promise.all([readCatalog(storage, target), readWalEntries(storage, target)]);
  const manifests = catalog.backups.filter((m) => m.wal !== undefined);
  const bases = manifests.map(baseInfo).filter((b): b is BaseBackupInfo => b !== undefined);
  const archive = archiveOf(wal.entries);
  const { windows, gaps } = recoveryWindows(bases, archive);
  return { manifests, bases, entries: wal.entries, archive, windows, gaps, damaged: wal.damaged };
}

/** "timeline 1: from … to …" for messages. */
export function describeWindows(windows: readonly RecoveryWindow[]): string {
  if (windows.length === 0) return 'none';
  return windows
    .map((w) => `timeline ${w.timeline} from ${new Date(w.from).toISOString()} to ${new Date(w.to).toISOString()}`)
    .join('; ');
}

/** "segment X is missing (timeline 1, after …)" for messages. */
export function describeGap(gap: WalGap): string {
  const after =
    gap.after === undefined
      ? 'the base backup cannot become consistent'
      : `recovery stops at ${new Date(gap.after).toISOString()}`;
  return `WAL segment ${gap.missing} is missing (timeline ${gap.timeline}, base backup ${gap.base}): ${after}`;
}
