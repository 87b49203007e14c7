// The catalog: lists committed backups (those with a manifest) and chooses one by time.

import { text } from 'node:stream/consumers';
import { now } from '../clock.js';
import { IntegrityError, LifeboatError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { isBackupId } from './backup-id.js';
import { backupPrefix, MANIFEST_NAME, type Manifest, manifestKey, parseManifest } from './manifest.js';
import { readStoredBatches } from './parse-json.js';

/** Clock skew tolerated before a manifest's times count as "in the future" (and so as damaged). */
const FUTURE_SKEW_MS = 60 * 60 * 1000;

/** Reads the manifest of one backup; an IntegrityError when it is unreadable or does not fit its folder. */
export async function readManifest(storage: Storage, target: string, id: string): Promise<Manifest> {
  const key = manifestKey(target, id);
  const body = await storage.get(key);
  const manifest = parseManifest(await text(body), key);
  const problem = manifestProblem(manifest, target, id, now());
  if (problem !== undefined) throw new IntegrityError(`catalog: parse ${key}: ${problem}`);
  return manifest;
}

/**
 * What makes a well-formed manifest untrustworthy as the truth about the folder it sits in, or undefined.
 * Such a backup is listed as damaged, never chosen as the newest, never deleted by retention.
 */
export function manifestProblem(manifest: Manifest, target: string, id: string, now: Date): string | undefined {
  if (manifest.id !== id) return `id ${manifest.id} differs from its folder ${id}`;
  if (manifest.target !== target) return `target ${manifest.target} differs from its folder ${target}`;
  for (const field of ['startedAt', 'finishedAt', 'snapshotAt'] as const) {
    if (Date.parse(manifest[field]) > now.getTime() + FUTURE_SKEW_MS) {
      return `${field} ${manifest[field]} is in the future`;
    }
  }
  const folder = backupPrefix(target, id);
  const seen = new Set<string>();
  for (const artifact of manifest.artifacts) {
    if (seen.has(artifact.key)) return `artifact ${artifact.key} is listed twice`;
    seen.add(artifact.key);
    if (!artifact.key.startsWith(folder) || artifact.key.slice(folder.length).includes('/')) {
      return `artifact ${artifact.key} lies outside the backup's folder ${folder}`;
    }
  }
  return undefined;
}

/** Ids of committed backups of `target`, oldest first. */
export async function listBackupIds(storage: Storage, target: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const object of storage.list(`${target}/`)) {
    const parts = object.key.split('/');
    if (parts.length === 3 && parts[2] === MANIFEST_NAME && isBackupId(parts[1] ?? '')) ids.push(parts[1] as string);
  }
  return ids.sort();
}

/** A committed backup whose manifest cannot be trusted: unreadable, invalid, or not fitting its folder. */
export interface DamagedBackup {
  readonly target: string;
  readonly id: string;
  readonly problem: string;
}

/** The committed backups of one target: the sound ones newest first, and the damaged ones by id. */
export interface Catalog {
  readonly backups: Manifest[];
  readonly damaged: DamagedBackup[];
}

/** Manifests of every sound committed backup of `target`, newest first (damaged ones left out). */
export async function listBackups(storage: Storage, target: string): Promise<Manifest[]> {
  return (await readCatalog(storage, target)).backups;
}

/** Every committed backup of `target`, sound and damaged. */
export async function readCatalog(storage: Storage, target: string): Promise<Catalog> {
  return readManifests(storage, target, await listBackupIds(storage, target));
}

/**
 * Reads the manifests of `ids` (at most 8 at a time). A manifest that fails its checks makes its backup
 * damaged, not the listing: the other backups stay usable. A store that cannot be read rejects the whole.
 */
export async function readManifests(storage: Storage, target: string, ids: readonly string[]): Promise<Catalog> {
  const read = await readStoredBatches(ids, 8, (id) =>
    readManifest(storage, target, id).catch((error: unknown) => {
      // Deleted since it was listed (a prune running elsewhere): it no longer exists.
      if (error instanceof LifeboatError && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }),
  );
  const backups = read.found.map((item) => item.value);
  const damaged: DamagedBackup[] = read.damaged.map(({ key: id, problem }) => ({ target, id, problem }));
  backups.sort((a, b) => (a.snapshotAt < b.snapshotAt ? 1 : a.snapshotAt > b.snapshotAt ? -1 : a.id < b.id ? 1 : -1));
  return { backups, damaged };
}

/** Every backup folder of `target` with its objects, committed or not, in id order. */
export async function listBackupFolders(
  storage: Storage,
  target: string,
): Promise<{ id: string; committed: boolean; keys: string[] }[]> {
  const folders = new Map<string, { id: string; committed: boolean; keys: string[] }>();
  for await (const object of storage.list(`${target}/`)) {
    const [, id = ''] = object.key.split('/');
    if (!isBackupId(id)) continue;
    const folder = folders.get(id) ?? { id, committed: false, keys: [] };
    folder.keys.push(object.key);
    if (object.key === `${target}/${id}/${MANIFEST_NAME}`) folder.committed = true;
    folders.set(id, folder);
  }
  return [...folders.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** The newest backup whose data is from `at` or before, from a newest-first list. */
export function chooseBackupAt(backups: readonly Manifest[], at: Date): Manifest | undefined {
  return backups.find((backup) => new Date(backup.snapshotAt).getTime() <= at.getTime());
}

/** Finds a backup by id across targets. */
export async function findBackup(storage: Storage, targets: readonly string[], id: string): Promise<Manifest> {
  for (const target of targets) {
    if ((await storage.head(manifestKey(target, id))) !== undefined) return readManifest(storage, target, id);
  }
  throw new LifeboatError('NOT_FOUND', `catalog: find backup ${id}: no committed backup with that id`, {
    hint: 'run `lifeboat list` to see the backups',
  });
}

/**
 * Deletes every object of one backup and returns how many. The manifest goes first, so a crash half way
 * never leaves a manifest pointing at missing data; what remains is an incomplete folder that prune removes.
 */
export async function deleteBackup(storage: Storage, target: string, id: string): Promise<number> {
  const keys: string[] = [];
  for await (const object of storage.list(backupPrefix(target, id))) keys.push(object.key);
  const manifest = manifestKey(target, id);
  if (keys.includes(manifest)) await storage.delete([manifest]);
  await storage.delete(keys.filter((key) => key !== manifest));
  return keys.length;
}
