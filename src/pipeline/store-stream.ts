// The backup pipeline: dump stream -> SHA-256 of raw bytes -> compression (gzip or zstd, on every core) ->
// age (optional) -> SHA-256 of stored bytes -> storage.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isAbortError } from '../errors.js';
import { collectAlong } from '../memory.js';
import type { Storage } from '../storage/storage.js';
import { AgeEncrypter } from './age.js';
import { type CompressionSettings, compressor, contentType, defaultThreads } from './compress.js';
import { type Digest, DigestTap } from './digest-tap.js';

export interface StoredDigests {
  readonly raw: Digest;
  readonly stored: Digest;
  /** Milliseconds from the first byte handed to the store to its acceptance of the whole object. */
  readonly uploadMs: number;
}

export interface StoreStreamOptions {
  readonly signal?: AbortSignal;
  /** Called as raw bytes flow, with the running total. */
  readonly onProgress?: (rawBytes: number) => void;
  /** Default gzip -6 on every core; `none` for input that is compressed already (a Neo4j dump): still hashed. */
  readonly compression?: CompressionSettings;
  /** age recipients: the compressed bytes are encrypted for them before they are hashed and stored. */
  readonly encryptFor?: readonly string[];
  /** The caller reads the stored object back and compares it (PutOptions.readBack). */
  readonly readBack?: boolean;
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
  const collect = collectAlong();
  const rawTap = new DigestTap((rawBytes) => {
    collect(rawBytes);
    options.onProgress?.(rawBytes);
  });
  const compression = options.compression ?? DEFAULT_COMPRESSION();
  const compressing = compressor(compression);
  const stages: NodeJS.ReadWriteStream[] = compressing === undefined ? [] : [compressing];
  const encrypted = options.encryptFor !== undefined && options.encryptFor.length > 0;
  if (encrypted && options.encryptFor !== undefined) {
    stages.push(new AgeEncrypter(options.encryptFor));
  }
  let firstByteAt: number | undefined;
  const storedTap = new DigestTap(
    () => {
      firstByteAt ??= performance.now();
    },
    undefined,
    storage.checksumParts,
  );
  const flowing = pipeline([source, rawTap, ...stages, storedTap] as never, {
    signal: options.signal,
  }) as Promise<void>;
  const storing = storage.put(key, storedTap, {
    signal: options.signal,
    contentType: contentType(compression.algorithm, encrypted),
    readBack: options.readBack,
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
  const uploadMs = firstByteAt === undefined ? 0 : performance.now() - firstByteAt;
  return { raw: rawTap.digest, stored: storedTap.digest, uploadMs };
}

/** gzip -6 on every core (defaultThreads): what a backup gets when nothing is configured. */
export function DEFAULT_COMPRESSION(): CompressionSettings {
  return { algorithm: 'gzip', level: 6, threads: defaultThreads('gzip') };
}
