// The catalog: lists committed backups (those with a manifest) and chooses one by time.
import { text } from 'node:stream/consumers';
import { LifeboatError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { isBackupId } from './backup-id.js';
import { backupPrefix, MANIFEST_NAME, type Manifest, manifestKey, parseManifest } from './manifest.js';

/** Reads the manifest of one backup. */
export async function readManifest(storage: Storage, target: string, id: string): Promise<Manifest> {
  const key = manifestKey(target, id);
  const body = await storage.get(key);
  return parseManifest(await text(body), key);
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

/** Manifests of every committed backup of `target`, newest first. */
export async function listBackups(storage: Storage, target: string): Promise<Manifest[]> {
  return readManifests(storage, target, await listBackupIds(storage, target));
}

/** Reads the manifests of `ids` (at most 8 at a time), newest first; any unreadable one rejects the whole. */
export async function readManifests(storage: Storage, target: string, ids: readonly string[]): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (let start = 0; start < ids.length; start += 8) {
    const batch = ids.slice(start, start + 8);
    manifests.push(...(await Promise.all(batch.map((id) => readManifest(storage, target, id)))));
  }
  return manifests.sort((a, b) =>
    a.snapshotAt < b.snapshotAt ? 1 : a.snapshotAt > b.snapshotAt ? -1 : a.id < b.id ? 1 : -1,
  );
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
