// A store seen through rate limits: object bodies going in and out pass the buckets; listings, heads, deletes
// and the lease's small conditional writes do not (they move next to no bytes and must not wait).
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LifeboatConfig, TargetConfig } from '../config/schema.js';
import { awaitBuckets, RateBucket, Throttle } from '../pipeline/throttle.js';
import { byteRates, effectiveSettings } from '../scheduler/settings.js';
import type { PutOptions, Storage } from './storage.js';

export interface Buckets {
  readonly upload: readonly RateBucket[];
  readonly download: readonly RateBucket[];
}

/** Wraps `storage` so its bodies pass `buckets`; the store itself when there is none. */
export function throttled(storage: Storage, buckets: Buckets): Storage {
  if (buckets.upload.length === 0 && buckets.download.length === 0) return storage;
  return new ThrottledStorage(storage, buckets);
}

class ThrottledStorage implements Storage {
  readonly #inner: Storage;
  readonly #buckets: Buckets;

  constructor(inner: Storage, buckets: Buckets) {
    this.#inner = inner;
    this.#buckets = buckets;
    if (inner.lockedUntil !== undefined)
      this.lockedUntil = (key) => inner.lockedUntil?.(key) as Promise<Date | undefined>;
    this.checksumParts = inner.checksumParts;
    if (inner.storedChecksum !== undefined) this.storedChecksum = (key) => inner.storedChecksum?.(key) as never;
  }

  get location(): string {
    return this.#inner.location;
  }

  lockedUntil?: (key: string) => Promise<Date | undefined>;
  readonly checksumParts?: (partNumber: number) => number;
  storedChecksum?: Storage['storedChecksum'];

  async put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<void> {
    if (this.#buckets.upload.length === 0) return this.#inner.put(key, body, options);
    if (Buffer.isBuffer(body)) {
      await awaitBuckets(this.#buckets.upload, body.length);
      return this.#inner.put(key, body, options);
    }
    const throttle = new Throttle(this.#buckets.upload);
    // The source's failure reaches the store through the throttle (the store then leaves no object).
    const flowing = pipeline(body, throttle).catch(() => undefined);
    try {
      await this.#inner.put(key, throttle, options);
    } finally {
      // A store that stopped reading: the source is let go of as Node lets go of it (an AbortError).
      if (!throttle.destroyed && !throttle.readableEnded) {
        throttle.destroy(Object.assign(new Error('the store stopped reading'), { name: 'AbortError' }));
      }
      await flowing;
    }
  }

  async get(key: string, options?: { signal?: AbortSignal }): Promise<Readable> {
    const body = await this.#inner.get(key, options);
    if (this.#buckets.download.length === 0) return body;
    const throttle = new Throttle(this.#buckets.download);
    // Errors of the body reach the reader through the throttle; a reader that stops destroys the body.
    void pipeline(body, throttle).catch(() => undefined);
    return throttle;
  }

  head(key: string) {
    return this.#inner.head(key);
  }
  list(prefix: string) {
    return this.#inner.list(prefix);
  }
  delete(keys: readonly string[]) {
    return this.#inner.delete(keys);
  }
  removeStaleUploads(prefix: string, olderThan: Date) {
    return this.#inner.removeStaleUploads(prefix, olderThan);
  }
  check() {
    return this.#inner.check();
  }
  readVersioned(key: string) {
    return this.#inner.readVersioned(key);
  }
  createIfAbsent(key: string, body: Buffer) {
    return this.#inner.createIfAbsent(key, body);
  }
  replaceIfVersion(key: string, body: Buffer, version: string) {
    return this.#inner.replaceIfVersion(key, body, version);
  }
}

/** The process-wide buckets of each loaded config (`rateLimit:` at the top): shared by all its runs. */
const processBuckets = new WeakMap<LifeboatConfig, { upload?: RateBucket; download?: RateBucket }>();

function sharedBuckets(config: LifeboatConfig): { upload?: RateBucket; download?: RateBucket } {
  let buckets = processBuckets.get(config);
  if (buckets === undefined) {
    const rates = byteRates(config.rateLimit);
    buckets = {
      ...(rates.upload === undefined ? {} : { upload: new RateBucket(rates.upload) }),
      ...(rates.download === undefined ? {} : { download: new RateBucket(rates.download) }),
    };
    processBuckets.set(config, buckets);
  }
  return buckets;
}

/**
 * The store as one run of `target` sees it: its own caps (`rateLimit:` of the target or `defaults:`, a new
 * bucket per run) and the process's shared ones.
 */
export function storageForRun(storage: Storage, config: LifeboatConfig, target: TargetConfig | undefined): Storage {
  const shared = sharedBuckets(config);
  const own = target === undefined ? {} : effectiveSettings(config, target).rateLimit;
  const bucketsOf = (direction: 'upload' | 'download') => [
    ...(own[direction] === undefined ? [] : [new RateBucket(own[direction])]),
    ...(shared[direction] === undefined ? [] : [shared[direction]]),
  ];
  return throttled(storage, { upload: bucketsOf('upload'), download: bucketsOf('download') });
}
