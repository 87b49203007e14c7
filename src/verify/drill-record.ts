// The drill record: one JSON file per drill beside the backups (`<target>/drills/<time>.json`), so drill
// history survives the daemon and reports can be rebuilt from storage alone. Format in docs/FORMAT.md.
import { text } from 'node:stream/consumers';
import { z } from 'zod';
import { parseStoredJson } from '../catalog/parse-json.js';
import { TARGET_NAME } from '../config/schema.js';
import type { Storage } from '../storage/storage.js';

export const DRILL_SCHEMA_VERSION = 1;
const isoTime = z.iso.datetime({ offset: true });
export const DRILL_STAGES = ['choose', 'download', 'verify', 'restore', 'checks', 'objectives'] as const;

export const drillRecordSchema = z.object({
  schemaVersion: z.literal(DRILL_SCHEMA_VERSION),
  target: z.string().regex(TARGET_NAME),
  driver: z.string(),
  startedAt: isoTime,
  finishedAt: isoTime,
  ok: z.boolean(),
  /** The first thing that failed, and what to try when Lifeboat knows; absent when ok. */
  failure: z.object({ stage: z.enum(DRILL_STAGES), message: z.string(), hint: z.string().optional() }).optional(),
  backup: z
    .object({
      id: z.string(),
      snapshotAt: isoTime,
      finishedAt: isoTime,
      storedBytes: z.number().int().nonnegative(),
      rawBytes: z.number().int().nonnegative(),
    })
    .optional(),
  /** Seconds per stage; `total` is the measured RTO for this backup size. */
  timings: z.object({
    download: z.number().nonnegative(),
    verify: z.number().nonnegative(),
    restore: z.number().nonnegative(),
    checks: z.number().nonnegative(),
    total: z.number().nonnegative(),
  }),
  /** Now minus the backup's snapshotAt, at drill time. */
  dataAgeSeconds: z.number().nonnegative().optional(),
  /** Longest gap between consecutive backups in the window, including the open gap up to the drill. */
  worstRpo: z.object({
    seconds: z.number().nonnegative(),
    from: isoTime.optional(),
    to: isoTime,
    windowStart: isoTime,
  }),
  objectives: z.object({ rpoSeconds: z.number().optional(), rtoSeconds: z.number().optional() }),
  verdicts: z.object({ rpo: z.enum(['pass', 'fail', 'none']), rto: z.enum(['pass', 'fail', 'none']) }),
  checks: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['builtin', 'user']),
      ok: z.boolean(),
      message: z.string(),
    }),
  ),
  scratch: z.object({ description: z.string(), cleanedUp: z.boolean() }),
  tool: z.object({ name: z.string(), version: z.string() }),
});

export type DrillRecord = z.infer<typeof drillRecordSchema>;

/** `<stage>: <message>`, and what to try when the record says: for logs, webhooks and reports. */
export function describeFailure(failure: NonNullable<DrillRecord['failure']>): string {
  return `${failure.stage}: ${failure.message}${failure.hint === undefined ? '' : ` (try: ${failure.hint})`}`;
}

export function drillPrefix(target: string): string {
  return `${target}/drills/`;
}

/** `<target>/drills/20261123T010203.456Z.json`: key order is time order. */
export function drillKey(target: string, startedAt: Date): string {
  return `${drillPrefix(target)}${startedAt.toISOString().replace(/[-:]/g, '')}.json`;
}

export function serializeDrill(record: DrillRecord): Buffer {
  return Buffer.from(`${JSON.stringify(drillRecordSchema.parse(record), null, 2)}\n`);
}

export function parseDrill(bytes: Buffer | string, key: string): DrillRecord {
  return parseStoredJson(drillRecordSchema, bytes, key, 'drills');
}

/** Drill records of a target started at or after `since`, oldest first. */
export async function listDrills(storage: Storage, target: string, since?: Date): Promise<DrillRecord[]> {
  // Keys sort by start time, so older records are skipped without reading them.
  const first = since === undefined ? '' : drillKey(target, since);
  const keys: string[] = [];
  for await (const object of storage.list(drillPrefix(target))) {
    if (object.key.endsWith('.json') && object.key >= first) keys.push(object.key);
  }
  const records: DrillRecord[] = [];
  for (const key of keys.sort()) records.push(parseDrill(await text(await storage.get(key)), key));
  return records;
}

/** The newest drill record of a target, or undefined when it has none. */
export async function lastDrill(storage: Storage, target: string): Promise<DrillRecord | undefined> {
  let newest: string | undefined;
  for await (const object of storage.list(drillPrefix(target))) {
    if (object.key.endsWith('.json') && (newest === undefined || object.key > newest)) newest = object.key;
  }
  return newest === undefined ? undefined : parseDrill(await text(await storage.get(newest)), newest);
}

/** True when the drill got as far as a finished restore, so its total time is a measured RTO. */
export function drillRestored(record: DrillRecord): boolean {
  return record.failure === undefined || record.failure.stage === 'checks' || record.failure.stage === 'objectives';
}
