// A pass-through stream that counts bytes and computes SHA-256 of what flows through it.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface Digest {
  readonly size: number;
  readonly sha256: string;
  /**
   * With part sizes: the SHA-256 an S3 store keeps of the object when it is uploaded in parts of those sizes
   * (base64; of the parts' SHA-256s, "-" and their number, or the whole object's when it is one part).
   */
  readonly partsSha256?: string;
}

/** The checksum an S3 store keeps of an object uploaded in parts with these SHA-256s (SHA256, COMPOSITE). */
export function compositeSha256(parts: readonly Buffer[]): string {
  if (parts.length === 1) return (parts[0] as Buffer).toString('base64');
  return `${createHash('sha256').update(Buffer.concat(parts)).digest('base64')}-${parts.length}`;
}

export class DigestTap extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  #digest: Digest | undefined;
  readonly #onBytes: ((size: number) => void) | undefined;
  readonly #gate: ((digest: Digest) => Error | undefined) | undefined;
  readonly #partSize: ((partNumber: number) => number) | undefined;
  #part: Hash | undefined;
  /** Size of the part being hashed, and how much of it has passed. */
  #partLength = 0;
  #partFilled = 0;
  readonly #parts: Buffer[] = [];

  /**
   * `onBytes` hears the running total. `gate`, when given, judges the digest before the end is passed on: an
   * error it returns fails the stream instead, so a reader never sees a clean end of unproven bytes.
   * `partSize`, when given, also hashes each part, part N (from 1) of `partSize(N)` bytes (Digest.partsSha256).
   */
  constructor(
    onBytes?: (totalBytes: number) => void,
    gate?: (digest: Digest) => Error | undefined,
    partSize?: (partNumber: number) => number,
  ) {
    super();
    this.#onBytes = onBytes;
    this.#gate = gate;
    this.#partSize = partSize;
    if (partSize !== undefined) {
      this.#part = createHash('sha256');
      this.#partLength = partSize(1);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    if (this.#partSize !== undefined) this.#hashParts(chunk, this.#partSize);
    this.#onBytes?.(this.#size);
    callback(null, chunk);
  }

  #hashParts(chunk: Buffer, partSize: (partNumber: number) => number): void {
    let offset = 0;
    while (offset < chunk.length) {
      // A part is closed only when more bytes follow it: the last one, full or not, is closed at the end.
      if (this.#partFilled === this.#partLength) {
        this.#parts.push((this.#part as Hash).digest());
        this.#part = createHash('sha256');
        this.#partLength = partSize(this.#parts.length + 1);
        this.#partFilled = 0;
      }
      const take = Math.min(this.#partLength - this.#partFilled, chunk.length - offset);
      (this.#part as Hash).update(
        offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take),
      );
      this.#partFilled += take;
      offset += take;
    }
  }

  override _flush(callback: TransformCallback): void {
    const sha256 = this.#hash.digest('hex');
    if (this.#part === undefined) this.#digest = { size: this.#size, sha256 };
    else {
      this.#parts.push(this.#part.digest());
      this.#digest = { size: this.#size, sha256, partsSha256: compositeSha256(this.#parts) };
    }
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
