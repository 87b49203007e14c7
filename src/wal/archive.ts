// The WAL archive in the store: each file under <target>/wal/ with a small JSON entry written after it (the
// entry is the commit marker, as a backup's manifest is). Shipping, listing and fetching live here.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../catalog/manifest.js';
import { parseStoredJson, readStoredBatches } from '../catalog/parse-json.js';
import { now } from '../clock.js';
import { IntegrityError, LifeboatError } from '../errors.js';
import { fingerprint } from '../pipeline/age.js';
import { storeStream } from '../pipeline/store-stream.js';
import type { Storage } from '../storage/storage.js';
import { type ArtifactCheck, checkArtifact } from '../verify/verify.js';
import { HISTORY_NAME, parseHistory, SEGMENT_NAME } from './segment.js';
import type { ArchivedSegment, WalArchive } from './windows.js';

const isoTime = z.iso.datetime({ offset: true });

export const walEntrySchema = z.object({
  schemaVersion: z.literal(1),
  /** The file's PostgreSQL name: a segment, or a history file. */
  name: z.string().regex(/^([0-9A-F]{24}|[0-9A-F]{8}\.history)$/),
  kind: z.enum(['segment', 'partial', 'history']),
  segmentSize: z.number().int().positive(),
  /** Every commit made before this time is in the file. */
  coveredUntil: isoTime,
  shippedAt: isoTime,
  artifact: artifactSchema,
  /** For history files: their switch points, readable without the key of an encrypted store. */
  history: z.array(z.object({ timeline: z.number().int().positive(), switchLsn: z.number().int() })).optional(),
});
export type WalEntry = z.infer<typeof walEntrySchema>;

export function walPrefix(target: string): string {
  return `${target}/wal/`;
}

/** Object name of a file in the archive: "<name>" or "<name>.partial". */
function objectName(name: string, kind: WalEntry['kind']): string {
  return kind === 'partial' ? `${name}.partial` : name;
}

export function walEntryKey(target: string, name: string, kind: WalEntry['kind']): string {
  return `${walPrefix(target)}${objectName(name, kind)}.json`;
}

export interface ShipRequest {
  readonly storage: Storage;
  readonly target: string;
  /** The file on disk. */
  readonly path: string;
  readonly name: string;
  readonly kind: WalEntry['kind'];
  readonly segmentSize: number;
  readonly coveredUntil: Date;
  readonly recipients?: readonly string[];
  readonly signal?: AbortSignal;
}

/**
 * Stores one WAL file compressed (and encrypted for `recipients`), checks what the store holds, then writes
 * its entry. A failure leaves no entry: the file is shipped again on the next attempt.
 */
export async function shipWalFile(request: ShipRequest): Promise<WalEntry> {
  const { storage, target, name, kind } = request;
  const recipients = request.recipients ?? [];
  const encrypted = recipients.length > 0;
  // A partial copy is shipped again and again: each under a key of its own, so that a reader holding the
  // previous entry never reads bytes of another copy; the previous one goes once the new entry is written.
  const previous = kind === 'partial' ? await findEntry(storage, target, name, 'partial') : undefined;
  const unique = kind === 'partial' ? `.${Date.now().toString(36)}${randomBytes(3).toString('hex')}` : '';
  const key = `${walPrefix(target)}${objectName(name, kind)}${unique}.gz${encrypted ? '.age' : ''}`;
  const digests = await storeStream(storage, key, createReadStream(request.path), {
    signal: request.signal,
    encryptFor: encrypted ? recipients : undefined,
  });
  const head = await storage.head(key);
  if (head?.size !== digests.stored.size) {
    throw new LifeboatError(
      'INTEGRITY',
      `wal: ${key}: stored ${head?.size ?? 'nothing'}, sent ${digests.stored.size} bytes`,
    );
  }
  const artifact: Artifact = {
    key,
    format: kind === 'history' ? 'pg-timeline-history' : 'pg-wal-segment',
    compression: 'gzip',
    size: digests.stored.size,
    sha256: digests.stored.sha256,
    rawSize: digests.raw.size,
    rawSha256: digests.raw.sha256,
    ...(encrypted ? { encryption: { format: 'age-v1' as const, recipients: recipients.map(fingerprint) } } : {}),
  };
  let history: WalEntry['history'];
  if (kind === 'history') {
    history = parseHistory(await readFile(request.path, 'utf8')).map((s) => ({ ...s }));
  }
  const entry: WalEntry = {
    schemaVersion: 1,
    name,
    kind,
    segmentSize: request.segmentSize,
    coveredUntil: request.coveredUntil.toISOString(),
    shippedAt: now().toISOString(),
    artifact,
    ...(history === undefined ? {} : { history }),
  };
  await putEntry(storage, target, entry);
  if (previous !== undefined && previous.artifact.key !== key) {
    await storage.delete([previous.artifact.key]).catch(() => undefined);
  }
  return entry;
}

/** Writes an entry: the commit marker of its file. */
async function putEntry(storage: Storage, target: string, entry: WalEntry): Promise<void> {
  await storage.put(walEntryKey(target, entry.name, entry.kind), Buffer.from(`${JSON.stringify(entry, null, 2)}\n`), {
    contentType: 'application/json',
  });
}

/** The entry stored at `key`; undefined when there is none, an IntegrityError when it does not parse. */
async function readEntryAt(storage: Storage, key: string): Promise<WalEntry | undefined> {
  try {
    return parseStoredJson(walEntrySchema, await text(await storage.get(key)), key, 'wal');
  } catch (error) {
    if (error instanceof LifeboatError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

/** The entry of one file, or undefined when it is missing or does not parse (it is then replaced). */
export async function findEntry(
  storage: Storage,
  target: string,
  name: string,
  kind: WalEntry['kind'],
): Promise<WalEntry | undefined> {
  return readEntryAt(storage, walEntryKey(target, name, kind)).catch((error: unknown) => {
    if (error instanceof IntegrityError) return undefined;
    throw error;
  });
}

/**
 * Moves a stored partial copy's coverage forward without shipping it again: its file has not changed since,
 * so no commit was made in between (the server sends WAL as it is written).
 */
export async function extendCoverage(storage: Storage, target: string, entry: WalEntry, coveredUntil: Date) {
  const next: WalEntry = { ...entry, coveredUntil: coveredUntil.toISOString(), shippedAt: now().toISOString() };
  await putEntry(storage, target, next);
  return next;
}

/** The kind of a file in pg_receivewal's folder (or given to wal-push), or undefined for anything else. */
export function walFileKind(fileName: string): { name: string; kind: WalEntry['kind'] } | undefined {
  if (SEGMENT_NAME.test(fileName)) return { name: fileName, kind: 'segment' };
  if (HISTORY_NAME.test(fileName)) return { name: fileName, kind: 'history' };
  const partial = /^([0-9A-F]{24})\.partial$/.exec(fileName);
  if (partial !== null) return { name: partial[1] as string, kind: 'partial' };
  return undefined;
}

/** Every committed entry of a target's archive, and those that do not parse. */
export async function readWalEntries(
  storage: Storage,
  target: string,
): Promise<{ entries: WalEntry[]; damaged: { key: string; problem: string }[] }> {
  const keys: string[] = [];
  for await (const object of storage.list(walPrefix(target))) if (object.key.endsWith('.json')) keys.push(object.key);
  const { found, damaged } = await readStoredBatches(keys, 16, (key) => readEntryAt(storage, key));
  return { entries: found.map((item) => item.value), damaged };
}

/** The archive as the window rules see it. */
export function archiveOf(entries: readonly WalEntry[]): WalArchive {
  const segments = new Map<string, ArchivedSegment>();
  const partials = new Map<string, ArchivedSegment>();
  const histories = new Map<number, { timeline: number; switchLsn: number }[]>();
  for (const entry of entries) {
    const file = {
      name: entry.name,
      partial: entry.kind === 'partial',
      coveredUntil: Date.parse(entry.coveredUntil),
      size: entry.artifact.size,
    };
    if (entry.kind === 'segment') segments.set(entry.name, file);
    else if (entry.kind === 'partial') partials.set(entry.name, file);
    else histories.set(Number.parseInt(entry.name.slice(0, 8), 16), entry.history ?? []);
  }
  // A whole segment supersedes its partial copy.
  for (const name of segments.keys()) partials.delete(name);
  return { segments, partials, histories };
}

/** The entry of a file PostgreSQL asks for: the whole segment, else its partial copy; undefined: none. */
export async function findWalEntry(storage: Storage, target: string, name: string): Promise<WalEntry | undefined> {
  const kinds: WalEntry['kind'][] = HISTORY_NAME.test(name) ? ['history'] : ['segment', 'partial'];
  for (const kind of kinds) {
    const entry = await readEntryAt(storage, walEntryKey(target, name, kind));
    if (entry !== undefined) return entry;
  }
  return undefined;
}

/**
 * Runs `check` on an archived file, and again on the newer copy when it failed on a partial copy that was
 * replaced while it was read (the check then failed on a copy that is gone, not on a damaged one).
 */
export async function checkNewest(
  storage: Storage,
  target: string,
  listed: WalEntry,
  check: (entry: WalEntry) => Promise<ArtifactCheck>,
): Promise<{ entry: WalEntry; check: ArtifactCheck }> {
  let entry = listed;
  let result = await check(entry);
  for (let attempt = 1; !result.ok && entry.kind === 'partial' && attempt < 3; attempt += 1) {
    const again = await findWalEntry(storage, target, entry.name);
    if (again === undefined || again.artifact.key === entry.artifact.key) break;
    entry = again;
    result = await check(entry);
  }
  return { entry, check: result };
}

/** Writes the archived file PostgreSQL asks for to `dest`, as fetchWalFile does; {} when there is none. */
export async function fetchNewest(
  storage: Storage,
  target: string,
  name: string,
  dest: string,
  identities?: readonly string[],
  signal?: AbortSignal,
): Promise<{ entry?: WalEntry; check?: ArtifactCheck }> {
  const entry = await findWalEntry(storage, target, name);
  if (entry === undefined) return {};
  return checkNewest(storage, target, entry, (e) => fetchWalFile(storage, e, dest, identities, signal));
}

/**
 * Writes one archived file to `dest` (PostgreSQL's %p), checked against its entry's sizes and SHA-256 as it
 * flows; `dest` appears only once proven (written to a temporary name, then renamed).
 */
export async function fetchWalFile(
  storage: Storage,
  entry: WalEntry,
  dest: string,
  identities?: readonly string[],
  signal?: AbortSignal,
): Promise<ArtifactCheck> {
  const temporary = `${dest}.lifeboat-fetch`;
  // A signal of its own per file, following the caller's: a restore fetches thousands of files, and what a
  // request leaves listening on its signal goes with it.
  const own = new AbortController();
  const follow = () => own.abort(signal?.reason);
  signal?.addEventListener('abort', follow, { once: true });
  const check = await checkArtifact(storage, entry.artifact, {
    identities,
    signal: own.signal,
    consumeRaw: (raw) => pipeline(raw, createWriteStream(temporary, { mode: 0o600 })),
  }).finally(() => signal?.removeEventListener('abort', follow));
  if (!check.ok) {
    await rm(temporary, { force: true });
    return check;
  }
  await rename(temporary, dest);
  return check;
}

/** The name a file has in the archive and in retention's lists: "<name>", or "<name>.partial". */
export function archivedName(entry: WalEntry): string {
  return objectName(entry.name, entry.kind);
}

/** Removes archived files: the entries first, then their data. */
export async function deleteWalFiles(storage: Storage, target: string, entries: readonly WalEntry[]) {
  // A crash half way leaves data without an entry, never an entry without data.
  await storage.delete(entries.map((entry) => walEntryKey(target, entry.name, entry.kind)));
  await storage.delete(entries.map((entry) => entry.artifact.key));
}
