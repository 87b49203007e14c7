// A download in byte ranges fetched side by side and handed on in order: one connection's speed no longer
// bounds a restore, and a connection that breaks costs one range, not the download.

import { Readable } from 'node:stream';
import { isAbortError, isRetryable } from '../../errors.js';

/** Fetches bytes [start, end] (inclusive) of the object; rejects on any failure, with `signal` when aborted. */
export type FetchRange = (start: number, end: number, signal: AbortSignal) => Promise<Buffer>;

export interface RangedDownloadOptions {
  /** The object's first bytes, already on their way (the answer that told its size). */
  readonly first: Promise<Buffer>;
  /** The object's size. */
  readonly size: number;
  readonly rangeSize: number;
  /** Ranges fetched or held at once (the one handed on included): memory is about rangeSize x concurrency. */
  readonly concurrency: number;
  readonly fetchRange: FetchRange;
  /** Tries of one range whose failure is transient (a broken connection, a 5xx). */
  readonly attempts: number;
  readonly signal?: AbortSignal;
}

/** The object's bytes in order; fails with the first range that fails for good. */
export class RangedDownload extends Readable {
  readonly #options: RangedDownloadOptions;
  readonly #abort = new AbortController();
  /** In order: each range fetched or on its way. */
  readonly #queue: Promise<Buffer>[] = [];
  #next: number;
  #pumping = false;
  readonly #onAbort = () => this.destroy(this.#options.signal?.reason);

  constructor(options: RangedDownloadOptions) {
    super({ highWaterMark: 0 });
    this.#options = options;
    this.#next = options.rangeSize;
    this.#queue.push(settled(this.#fetch(0, Math.min(options.rangeSize, options.size) - 1, options.first)));
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  override _read(): void {
    void this.#pump();
  }

  /** Keeps `concurrency` ranges fetched or on their way, and hands on the oldest when it is here. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        this.#fill();
        const head = this.#queue[0];
        if (head === undefined) {
          this.push(null);
          return;
        }
        const bytes = await head;
        if (this.destroyed) return;
        this.#queue.shift();
        if (!this.push(bytes)) return;
      }
    } catch (error) {
      this.destroy(error as Error);
    } finally {
      this.#pumping = false;
    }
  }

  #fill(): void {
    const { size, rangeSize, concurrency } = this.#options;
    while (this.#queue.length < concurrency && this.#next < size) {
      const start = this.#next;
      const end = Math.min(start + rangeSize, size) - 1;
      this.#next = end + 1;
      this.#queue.push(settled(this.#fetch(start, end)));
    }
  }

  /** Bytes start-end, tried again on a transient failure; `first` is the first try, already on its way. */
  async #fetch(start: number, end: number, first?: Promise<Buffer>): Promise<Buffer> {
    const { fetchRange, attempts } = this.#options;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const bytes = await (attempt === 1 && first !== undefined ? first : fetchRange(start, end, this.#abort.signal));
        if (bytes.length !== end - start + 1) {
          throw new Error(`bytes ${start}-${end}: ${bytes.length} bytes came, ${end - start + 1} were asked for`);
        }
        return bytes;
      } catch (error) {
        if (attempt >= attempts || this.#abort.signal.aborted || isAbortError(error) || !isRetryable(error)) {
          throw error;
        }
      }
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#abort.abort(error ?? new Error('download closed'));
    this.#queue.length = 0;
    callback(error);
  }
}

/** The same promise, marked as handled: a range that fails while an earlier one is awaited is not unhandled. */
function settled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
