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

  constructor(onBytes?: (totalBytes: number) => void) {
    super();
    this.#onBytes = onBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    this.#onBytes?.(this.#size);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = { size: this.#size, sha256: this.#hash.digest('hex') };
    callback();
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
