// The storage interface: every backend (local folder, S3) implements these few methods.
import type { Readable } from 'node:stream';
import { SAFE_PREFIX } from '../config/schema.js';
import { LifeboatError } from '../errors.js';

/** One stored object, as listed. */
export interface StoredObject {
  /** Key relative to the storage prefix, e.g. "app-db/20260101T030000Z-a1b2c3/manifest.json". */
  readonly key: string;
  readonly size: number;
}

export interface PutOptions {
  /** Aborting stops the upload and leaves no object behind. */
  readonly signal?: AbortSignal;
  readonly contentType?: string;
  /**
   * The caller reads the stored bytes back and compares them with what it sent (a backup with `verifyUpload:
   * checksum`, a copy): a streamed S3 upload then leaves its parts out of their signatures (UNSIGNED-PAYLOAD),
   * and neither end hashes the bytes for them. The read-back is the proof of what arrived; without it the signature is.
   */
  readonly readBack?: boolean;
}

/** A place that holds backups. Keys are relative to the configured prefix and use "/" separators. */
export interface Storage {
  /** Human-readable location, without secrets, for messages. */
  readonly location: string;
  /** Stores the whole stream under `key`, or nothing at all if the stream or the store fails. */
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<void>;
  /** Opens a stored object for reading; rejects with a NotFound LifeboatError when absent. */
  get(key: string, options?: { signal?: AbortSignal }): Promise<Readable>;
  /** Size of a stored object, or undefined when absent. */
  head(key: string): Promise<{ size: number } | undefined>;
  /** Every object whose key starts with `prefix`, in key order, following pagination. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** Deletes the given keys; absent keys are not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Removes what interrupted writes left under `prefix` before `olderThan` (temporary files, unfinished
   * multipart uploads) and returns how many it removed. Such leftovers are never listed as objects.
   */
  removeStaleUploads(prefix: string, olderThan: Date): Promise<number>;
  /** Checks that the store answers (bucket exists, folder writable) and supports what the config asks. */
  check(): Promise<void>;
  /** When the object is locked against deletion (S3 Object Lock), until when; undefined: deletable. */
  lockedUntil?(key: string): Promise<Date | undefined>;
  /**
   * A store that checks what it receives (S3 additional checksums, `verifyUpload: store`) cuts uploads into
   * parts of these sizes (part numbers from 1) and checks each part's SHA-256 as it arrives; `storedChecksum`
   * then answers the SHA-256 it keeps of the whole object (Digest.partsSha256 of the same bytes), undefined
   * when it keeps none.
   */
  readonly checksumParts?: (partNumber: number) => number;
  storedChecksum?(key: string): Promise<{ size: number; sha256: string | undefined } | undefined>;
  /**
   * Conditional writes of small objects, atomic across processes and hosts (the target lease is built on
   * them). A version is an opaque tag of one content; each write answers the new version, or undefined when
   * its condition did not hold.
   */
  readVersioned(key: string): Promise<Versioned | undefined>;
  /** Writes `body` only when no object is at `key` (S3: If-None-Match: *; local: an exclusive link). */
  createIfAbsent(key: string, body: Buffer): Promise<string | undefined>;
  /** Replaces the object only while it still has `version` (S3: If-Match; local: under an exclusive mutex). */
  replaceIfVersion(key: string, body: Buffer, version: string): Promise<string | undefined>;
}

/** A small object with the version tag of its content. */
export interface Versioned {
  readonly body: Buffer;
  readonly version: string;
}

/** Object keys are built from validated names only; this guards against traversal anyway. */
export function assertSafeKey(key: string): void {
  if (key === '' || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '.')) {
    throw new Error(`storage: unsafe object key ${JSON.stringify(key)}`);
  }
}

/** The prefix is checked by the config schema; the store checks it again, as it does every key. */
export function assertSafePrefix(prefix: string): void {
  if (!SAFE_PREFIX.test(prefix)) {
    throw new LifeboatError('CONFIG_INVALID', `storage: prefix ${JSON.stringify(prefix)} could escape the store`, {
      exitCode: 2,
      hint: 'use path segments of [A-Za-z0-9._-] (not "." or "..") each ending in "/", like "prod/"',
    });
  }
}

/** The error every backend gives for a missing object (code NOT_FOUND). */
export function notFound(key: string, location: string, cause?: unknown): LifeboatError {
  return new LifeboatError('NOT_FOUND', `storage: read ${key} from ${location}: no such object`, { cause });
}
