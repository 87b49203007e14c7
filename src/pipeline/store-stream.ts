// The backup pipeline: dump stream -> SHA-256 of raw bytes -> gzip -> age (optional) -> SHA-256 of stored
// bytes -> storage.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlibConstants } from 'node:zlib';
import { isAbortError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { AgeEncrypter } from './age.js';
import { type Digest, DigestTap } from './digest-tap.js';

export interface StoredDigests {
  readonly raw: Digest;
  readonly stored: Digest;
}

export interface StoreStreamOptions {
  readonly signal?: AbortSignal;
  /** Called as raw bytes flow, with the running total. */
  readonly onProgress?: (rawBytes: number) => void;
  readonly gzipLevel?: number;
  /** False for input that is compressed already (e.g. a Neo4j dump): stored as is, still hashed. */
  readonly compress?: boolean;
  /** age recipients: the compressed bytes are encrypted for them before they are hashed and stored. */
  readonly encryptFor?: readonly string[];
}

/**
 * Streams `source` compressed into `storage` under `key`, end to end with back-pressure: no temporary
 * copy, memory bounded by the stream buffers and the upload's part queue. Rejects, leaving no object,
 * when the source, the compressor or the store fails.
 */
export async function storeStream(
  storage: Storage,
  key: string,
  source: Readable,
  options: StoreStreamOptions = {},
): Promise<StoredDigests> {
  const rawTap = new DigestTap(options.onProgress);
  const compress = options.compress ?? true;
  const stages: NodeJS.ReadWriteStream[] = compress
    ? [createGzip({ level: options.gzipLevel ?? 6, chunkSize: 64 * 1024, memLevel: zlibConstants.Z_DEFAULT_MEMLEVEL })]
    : [];
  if (options.encryptFor !== undefined && options.encryptFor.length > 0) {
    stages.push(new AgeEncrypter(options.encryptFor));
  }
  const storedTap = new DigestTap();
  const flowing = pipeline([source, rawTap, ...stages, storedTap] as never, {
    signal: options.signal,
  }) as Promise<void>;
  const storing = storage.put(key, storedTap, {
    signal: options.signal,
    contentType: compress && options.encryptFor === undefined ? 'application/gzip' : 'application/octet-stream',
  });
  const [flowed, stored] = await Promise.allSettled([flowing, storing]);
  // A store that failed stops reading, and the pipeline then ends in an AbortError: the store's error is
  // the cause. Any other pipeline failure (the dump, the compressor) is the cause itself.
  if (flowed.status === 'rejected') {
    const consequence =
      stored.status === 'rejected' &&
      (isAbortError(flowed.reason) || (stored.reason as { cause?: unknown }).cause === flowed.reason);
    if (!consequence) throw flowed.reason;
  }
  if (stored.status === 'rejected') throw stored.reason;
  return { raw: rawTap.digest, stored: storedTap.digest };
}
