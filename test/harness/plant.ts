// Stores a committed backup whose raw bytes the test chooses (e.g. intact bytes that are not a database), with
// correct sizes and checksums, as a run would have written it.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { newBackupId } from '../../src/catalog/backup-id.js';
import { type Manifest, manifestKey, serializeManifest } from '../../src/catalog/manifest.js';
import type { Storage } from '../../src/storage/storage.js';

export async function plantBackup(
  storage: Storage,
  options: { target: string; driver: string; fileName: string; format: string; raw: Buffer; at?: Date },
): Promise<string> {
  const at = options.at ?? new Date();
  const id = newBackupId(at);
  const stored = gzipSync(options.raw);
  const key = `${options.target}/${id}/${options.fileName}.gz`;
  await storage.put(key, stored);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const manifest: Manifest = {
    schemaVersion: 1,
    id,
    target: options.target,
    driver: options.driver,
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    snapshotAt: at.toISOString(),
    source: {},
    tool: { name: 'lifeboat', version: '0.1.0' },
    stats: { tables: [] },
    artifacts: [
      {
        key,
        format: options.format,
        compression: 'gzip',
        size: stored.length,
        sha256: sha(stored),
        rawSize: options.raw.length,
        rawSha256: sha(options.raw),
      },
    ],
  };
  await storage.put(manifestKey(options.target, id), serializeManifest(manifest));
  return id;
}
