// Rate limits: token buckets (one per target's run, one shared by the whole process) and the stream stage
// that holds bytes back until every bucket it answers to lets them through.
import { Transform, type TransformCallback } from 'node:stream';

/** Bytes a bucket lets through at once after an idle spell: a quarter of a second's worth. */
const BURST_SECONDS = 0.25;

/**
 * A bucket of `rate` bytes per second, shared by every stream that takes from it: each take reserves its time
 * on one schedule (the generic cell rate algorithm), so two streams at once get the rate between them.
 */
export class RateBucket {
  readonly rate: number;
  /** When, on performance.now()'s clock, the bytes taken so far have all been let through. */
  #due = 0;

  constructor(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new Error(`rate limit: ${bytesPerSecond} bytes per second`);
    this.rate = bytesPerSecond;
  }

  /** Reserves `bytes` and answers how many milliseconds to wait before sending them. */
  reserve(bytes: number, nowMs: number = performance.now()): number {
    const burstMs = BURST_SECONDS * 1000;
    this.#due = Math.max(this.#due, nowMs) + (bytes / this.rate) * 1000;
    return Math.max(0, this.#due - nowMs - burstMs);
  }
}

/** Largest piece sent at once: a long chunk is spread out rather than sent in one burst after a long wait. */
const PIECE = 64 * 1024;

/** Passes bytes through no faster than the slowest of `buckets` allows. */
export class Throttle extends Transform {
  readonly #buckets: readonly RateBucket[];
  #timer: NodeJS.Timeout | undefined;

  constructor(buckets: readonly RateBucket[]) {
    super();
    this.#buckets = buckets;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#send(chunk, 0, callback);
  }

  #send(chunk: Buffer, offset: number, callback: TransformCallback): void {
    if (offset >= chunk.length) {
      callback();
      return;
    }
    const piece = chunk.subarray(offset, offset + PIECE);
    const now = performance.now();
    const wait = Math.max(...this.#buckets.map((bucket) => bucket.reserve(piece.length, now)));
    const go = () => {
      this.#timer = undefined;
      this.push(piece);
      this.#send(chunk, offset + piece.length, callback);
    };
    if (wait < 1) go();
    else this.#timer = setTimeout(go, wait);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    callback(error);
  }
}

/** Waits until `bytes` may go (for a body sent whole, such as a small object). */
export async function awaitBuckets(buckets: readonly RateBucket[], bytes: number): Promise<void> {
  const now = performance.now();
  const wait = Math.max(0, ...buckets.map((bucket) => bucket.reserve(bytes, now)));
  if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
}
