// The manifest: the commit marker and the truth about one backup (format documented in docs/FORMAT.md).
import { z } from 'zod';
import { TARGET_NAME } from '../config/schema.js';
import { BACKUP_ID } from './backup-id.js';
import { parseStoredJson } from './parse-json.js';

export const MANIFEST_NAME = 'manifest.json';
export const SCHEMA_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const isoTime = z.iso.datetime({ offset: true });

export const artifactSchema = z.object({
  key: z.string().min(1),
  format: z.string().min(1),
  compression: z.enum(['gzip', 'zstd', 'none']),
  size: z.number().int().nonnegative(),
  sha256,
  rawSize: z.number().int().nonnegative(),
  rawSha256: sha256,
  /** Present when the stored bytes are encrypted (compressed first, then encrypted). */
  encryption: z
    .object({ format: z.literal('age-v1'), recipients: z.array(z.string().regex(/^sha256:[0-9a-f]{16}$/)).min(1) })
    .optional(),
});

export const tableStatsSchema = z.object({ name: z.string(), rows: z.number().int().nonnegative() });

export const manifestSchema = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  id: z.string().regex(BACKUP_ID),
  target: z.string().regex(TARGET_NAME),
  driver: z.string().min(1),
  startedAt: isoTime,
  finishedAt: isoTime,
  snapshotAt: isoTime,
  source: z.record(z.string(), z.unknown()),
  tool: z.object({ name: z.string(), version: z.string() }),
  stats: z.object({ tables: z.array(tableStatsSchema).optional() }).catchall(z.unknown()),
  artifacts: z.array(artifactSchema).min(1),
  /** A physical base backup: the WAL it starts and ends at (docs/FORMAT.md, "Physical PostgreSQL targets"). */
  wal: z
    .object({
      timeline: z.number().int().positive(),
      startLsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/),
      endLsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/),
      segmentSize: z.number().int().positive(),
      firstSegment: z.string().regex(/^[0-9A-F]{24}$/),
      lastSegment: z.string().regex(/^[0-9A-F]{24}$/),
    })
    .optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type Artifact = z.infer<typeof artifactSchema>;
export type TableStats = z.infer<typeof tableStatsSchema>;

/** Key of a backup's folder, relative to the storage prefix. */
export function backupPrefix(target: string, id: string): string {
  return `${target}/${id}/`;
}

export function manifestKey(target: string, id: string): string {
  return `${backupPrefix(target, id)}${MANIFEST_NAME}`;
}

/** Parses and validates manifest bytes; the error names the key and the field at fault. */
export function parseManifest(bytes: Buffer | string, key: string): Manifest {
  return parseStoredJson(manifestSchema, bytes, key, 'catalog');
}

export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifestSchema.parse(manifest), null, 2)}\n`);
}
