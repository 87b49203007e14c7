// A download in byte ranges fetched side by side and handed on in order: one connection's speed no longer
// bounds a restore, and a connection that breaks costs the rest of one range, not the download. The oldest
// range flows straight through; those ahead of it keep the chunks their sockets deliver (no copy), each at
// most one range: memory is about rangeSize x concurrency.

import { Readable } from 'node:stream';
import { isAbortError, isRetryable } from '../../errors.js';

/** Opens bytes [start, end] (inclusive) of the object: the body, once the answer's headers are in. */
export type OpenRange = (start: number, end: number, signal: AbortSignal) => Promise<Readable>;

export interface RangedDownloadOptions {
  /** The body of the object's first range, already open (the answer that told its size). */
  readonly first: Readable;
  /** The object's size. */
  readonly size: number;
  readonly rangeSize: number;
  /** Ranges open or held at once, the one flowing included. */
  readonly concurrency: number;
  readonly openRange: OpenRange;
  /** Tries of one range whose failure is transient (a broken connection, a stall, a 5xx). */
  readonly attempts: number;
  readonly signal?: AbortSignal;
}

/** One range: its chunks not yet handed on, and whether all its bytes came. */
class Range {
  readonly chunks: Buffer[] = [];
  /** Bytes received so far (handed on or not). */
  received = 0;
  done = false;
  error: unknown;
  /** The body being read, while it is. */
  body: Readable | undefined;
  constructor(
    readonly start: number,
    readonly end: number,
  ) {}
  get length(): number {
    return this.end - this.start + 1;
  }
}

/** The object's bytes in order; fails with the first range that fails for good. */
export class RangedDownload extends Readable {
  readonly #options: RangedDownloadOptions;
  readonly #abort = new AbortController();
  /** In order: each range open or held. */
  readonly #ranges: Range[] = [];
  #next = 0;
  #waiting = false;
  readonly #onAbort = () => this.destroy(this.#options.signal?.reason);

  constructor(options: RangedDownloadOptions) {
    super({ highWaterMark: 0 });
    this.#options = options;
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#fill(options.first);
  }

  /** Opens ranges up to `concurrency`; the first is given its body already open. */
  #fill(firstBody?: Readable): void {
    const { size, rangeSize, concurrency } = this.#options;
    while (this.#ranges.length < concurrency && this.#next < size) {
      const range = new Range(this.#next, Math.min(this.#next + rangeSize, size) - 1);
      this.#next = range.end + 1;
      this.#ranges.push(range);
      void this.#receive(range, this.#ranges.length === 1 ? firstBody : undefined);
    }
  }

  /** Reads the range into its chunks, opening the rest of it again after a transient failure. */
  async #receive(range: Range, body: Readable | undefined): Promise<void> {
    const { openRange, attempts } = this.#options;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const stream = body ?? (await openRange(range.start + range.received, range.end, this.#abort.signal));
        body = undefined;
        range.body = stream;
        if (this.destroyed) stream.destroy();
        await new Promise<void>((resolve, reject) => {
          stream.on('data', (chunk: Buffer) => {
            if (range.received + chunk.length > range.length) {
              stream.destroy(new Error(`bytes ${range.start}-${range.end}: more came than were asked for`));
              return;
            }
            range.received += chunk.length;
            range.chunks.push(chunk);
            this.#wake();
          });
          stream.once('error', reject);
          stream.once('end', resolve);
          stream.once('close', () => reject(new Error(`bytes ${range.start}-${range.end}: the download closed`)));
        });
        if (range.received !== range.length) {
          throw new Error(`bytes ${range.start}-${range.end}: ${range.received} of ${range.length} came`);
        }
        range.done = true;
        this.#wake();
        return;
      } catch (error) {
        if (attempt >= attempts || this.#abort.signal.aborted || isAbortError(error) || !isRetryable(error)) {
          range.error = error;
          this.#wake();
          return;
        }
      }
    }
  }

  #wake(): void {
    if (!this.#waiting) return;
    this.#waiting = false;
    this._read();
  }

  /** Hands on what the oldest range holds, until the reader has enough or nothing more is here. */
  override _read(): void {
    if (this.destroyed) return;
    for (;;) {
      const head = this.#ranges[0];
      if (head === undefined) {
        this.push(null);
        return;
      }
      const chunk = head.chunks.shift();
      if (chunk !== undefined) {
        if (!this.push(chunk)) return;
        continue;
      }
      if (head.error !== undefined) {
        this.destroy(head.error as Error);
        return;
      }
      if (!head.done) {
        this.#waiting = true;
        return;
      }
      this.#ranges.shift();
      this.#fill();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#abort.abort(error ?? new Error('download closed'));
    for (const range of this.#ranges) range.body?.destroy();
    this.#ranges.length = 0;
    callback(error);
  }
}
