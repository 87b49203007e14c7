// A pass-through stream that counts bytes and computes SHA-256 of what flows through it.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface Digest {
  readonly size: number;
  readonly sha256: string;
}

export class DigestTap extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  #digest: Digest | undefined;
  readonly #onBytes: ((size: number) => void) | undefined;
  readonly #gate: ((digest: Digest) => Error | undefined) | undefined;

  /**
   * `onBytes` hears the running total. `gate`, when given, judges the digest before the end is passed on: an
   * error it returns fails the stream instead, so a reader never sees a clean end of unproven bytes.
   */
  constructor(onBytes?: (totalBytes: number) => void, gate?: (digest: Digest) => Error | undefined) {
    super();
    this.#onBytes = onBytes;
    this.#gate = gate;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    this.#onBytes?.(this.#size);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = { size: this.#size, sha256: this.#hash.digest('hex') };
    callback(this.#gate?.(this.#digest) ?? null);
  }

  /** Size and hash of everything that passed; only after the stream has ended. */
  get digest(): Digest {
    if (this.#digest === undefined) throw new Error('pipeline: digest read before the stream ended');
    return this.#digest;
  }
}

/** A pass-through stream that reports the running byte count (for progress lines). */
export function byteCounter(onBytes: (totalBytes: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      onBytes(total);
      callback(null, chunk);
    },
  });
}
