// Prune one target: apply its retention policy to the committed backups, then remove what interrupted runs
// left behind. Nothing is deleted when the listing fails; a backup whose manifest is damaged is kept.

import { backupIdTime } from '../catalog/backup-id.js';
import {
  type Catalog,
  type DamagedBackup,
  deleteBackup,
  listBackupFolders,
  readManifests,
} from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import { now as clockNow } from '../clock.js';
import type { RetentionConfig } from '../config/schema.js';
import { describeError, LifeboatError } from '../errors.js';
import type { Logger } from '../log.js';
import { decideRetention } from '../retention/policy.js';
import type { Storage } from '../storage/storage.js';
import { archivedName, archiveOf, deleteWalFiles, readWalEntries, type WalEntry, walEntryKey } from '../wal/archive.js';
import { baseInfo } from '../wal/state.js';
import { type BaseBackupInfo, walToRemove } from '../wal/windows.js';

export interface PruneOptions {
  readonly storage: Storage;
  readonly target: string;
  /** Undefined: no policy is configured, every backup is kept. */
  readonly policy: (RetentionConfig & { timezone: string }) | undefined;
  /** The instant the policy is evaluated at. */
  readonly now: Date;
  /** Folders without a manifest, and unfinished uploads, older than this (by the real clock) are removed. */
  readonly incompleteGraceMs: number;
  readonly dryRun: boolean;
  readonly logger: Logger;
  /** The real time, for the incomplete-upload grace period (default: the system clock). */
  readonly wallClock?: () => Date;
}

export interface PruneReport {
  readonly target: string;
  readonly keep: { id: string; reasons: string[] }[];
  readonly delete: { id: string }[];
  /** Folders of runs that never committed a manifest, removed (or, in a dry run, to be removed). */
  readonly incomplete: { id: string; objects: number }[];
  /** Unfinished multipart uploads or temporary files removed (0 in a dry run: they are not listed). */
  readonly staleUploads: number;
  /** Physical targets: WAL files no kept base backup needs, removed (or to be removed). */
  readonly wal?: { readonly remove: readonly string[]; readonly keptFrom?: string };
  readonly dryRun: boolean;
}

export interface PruneOutcome {
  readonly report: PruneReport;
  /** The committed backups left afterwards (all of them in a dry run): sound ones newest first, and damaged. */
  readonly remaining: Catalog;
}

export async function runPrune(options: PruneOptions): Promise<PruneOutcome> {
  const { storage, target, policy, now, dryRun } = options;
  const wallNow = (options.wallClock ?? clockNow)();
  const log = options.logger.child({ target });
  let folders: Awaited<ReturnType<typeof listBackupFolders>>;
  let manifests: Manifest[];
  let damaged: DamagedBackup[];
  try {
    folders = await listBackupFolders(storage, target);
    ({ backups: manifests, damaged } = await readManifests(
      storage,
      target,
      folders.filter((f) => f.committed).map((f) => f.id),
    ));
  } catch (error) {
    throw new LifeboatError('PRUNE_FAILED', `prune ${target}: list backups: ${describeError(error)}; deleted nothing`, {
      cause: error,
      hint: error instanceof LifeboatError ? error.hint : undefined,
    });
  }
  for (const item of damaged) {
    log.warn({ event: 'prune.damaged', id: item.id, problem: item.problem }, 'damaged backup kept');
  }
  const decision =
    policy === undefined
      ? {
          keep: manifests.map((m) => ({ id: m.id, reasons: ['no retention policy configured'] })),
          delete: [],
        }
      : decideRetention(manifests, policy, now);
  const cutoff = wallNow.getTime() - options.incompleteGraceMs;
  // Object Lock: a backup any of whose objects is still locked is kept whole, and says until when. Every
  // object is asked before anything is deleted, so a lock never leaves a backup half deleted.
  const lockedUntil = async (id: string): Promise<Date | undefined> => {
    if (storage.lockedUntil === undefined) return undefined;
    let latest: Date | undefined;
    for (const key of folders.find((f) => f.id === id)?.keys ?? []) {
      const until = await storage.lockedUntil(key);
      if (until !== undefined && (latest === undefined || until > latest)) latest = until;
    }
    return latest;
  };
  const locked: { id: string; reasons: string[] }[] = [];
  const deletable: { id: string }[] = [];
  for (const item of decision.delete) {
    const until = await lockedUntil(item.id);
    if (until === undefined) {
      deletable.push(item);
      continue;
    }
    const reason = `locked until ${until.toISOString()} (object lock): retention would delete it`;
    locked.push({ id: item.id, reasons: [reason] });
    log.info({ event: 'prune.locked', id: item.id, lockedUntil: until.toISOString() }, 'backup kept: locked');
  }
  const incomplete: { id: string; objects: number }[] = [];
  for (const folder of folders) {
    if (folder.committed || (backupIdTime(folder.id)?.getTime() ?? Number.POSITIVE_INFINITY) >= cutoff) continue;
    if ((await lockedUntil(folder.id)) !== undefined) continue;
    incomplete.push({ id: folder.id, objects: folder.keys.length });
  }
  const wal = await walRetention(storage, target, manifests, new Set(deletable.map((d) => d.id)), damaged.length > 0);
  let staleUploads = 0;
  if (!dryRun) {
    for (const { id } of deletable) {
      try {
        const objects = await deleteBackup(storage, target, id);
        log.info({ event: 'prune.delete', id, objects }, 'backup deleted by retention');
      } catch (error) {
        throw new LifeboatError('PRUNE_FAILED', `prune ${target}: delete backup ${id}: ${describeError(error)}`, {
          cause: error,
          hint: error instanceof LifeboatError ? error.hint : undefined,
        });
      }
    }
    for (const { id } of incomplete) {
      const objects = await deleteBackup(storage, target, id);
      log.info({ event: 'prune.incomplete', id, objects }, 'incomplete backup removed');
    }
    if (wal !== undefined && wal.entries.length > 0) {
      await deleteWalFiles(storage, target, wal.entries);
      log.info(
        { event: 'prune.wal', files: wal.entries.length, keptFrom: wal.report.keptFrom },
        'WAL no kept base backup needs removed',
      );
    }
    staleUploads = await storage.removeStaleUploads(`${target}/`, new Date(cutoff));
    if (staleUploads > 0) log.info({ event: 'prune.stale-uploads', count: staleUploads }, 'unfinished uploads removed');
  }
  const deleted = new Set(dryRun ? [] : deletable.map((d) => d.id));
  return {
    report: {
      target,
      keep: [
        ...decision.keep.map((k) => ({ id: k.id, reasons: [...k.reasons] })),
        // Retention never judges what it cannot read: a damaged backup stays for a person to look at.
        ...damaged.map((d) => ({ id: d.id, reasons: [`damaged, kept for inspection: ${d.problem}`] })),
        ...locked,
      ],
      delete: deletable.map((d) => ({ id: d.id })),
      incomplete,
      staleUploads,
      ...(wal === undefined ? {} : { wal: wal.report }),
      dryRun,
    },
    remaining: { backups: manifests.filter((m) => !deleted.has(m.id)), damaged },
  };
}

/**
 * The WAL a physical target no longer needs: what comes before the first segment of the oldest base backup
 * kept. Nothing while a backup is damaged (what it needs cannot be known), and nothing locked.
 */
async function walRetention(
  storage: Storage,
  target: string,
  manifests: readonly Manifest[],
  deleting: ReadonlySet<string>,
  anyDamaged: boolean,
): Promise<{ report: NonNullable<PruneReport['wal']>; entries: WalEntry[] } | undefined> {
  const bases = manifests.filter((m) => m.wal !== undefined);
  if (bases.length === 0) return undefined;
  const kept = bases
    .filter((m) => !deleting.has(m.id))
    .map(baseInfo)
    .filter((b): b is BaseBackupInfo => b !== undefined);
  if (anyDamaged || kept.length === 0) return { report: { remove: [] }, entries: [] };
  const { entries } = await readWalEntries(storage, target);
  const byName = new Map(entries.map((entry) => [archivedName(entry), entry]));
  const remove: WalEntry[] = [];
  for (const name of walToRemove(kept, archiveOf(entries))) {
    const entry = byName.get(name) as WalEntry;
    const locked = await storage.lockedUntil?.(walEntryKey(target, entry.name, entry.kind));
    if (locked === undefined) remove.push(entry);
  }
  const oldest = kept.reduce((a, b) => (a.startLsn <= b.startLsn ? a : b));
  const keptFrom = manifests.find((m) => m.id === oldest.id)?.wal?.firstSegment;
  return { report: { remove: remove.map(archivedName), keptFrom }, entries: remove };
}
