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

/** The hashing of an upload's parts, as a store that checks them cuts them (see Digest.partsSha256). */
class PartHashes {
  readonly #sizeOf: (partNumber: number) => number;
  /** The part being hashed: its hash, its size, and how much of it has passed. */
  #hash: Hash = createHash('sha256');
  #length: number;
  #filled = 0;
  /** The SHA-256s of the parts before it. */
  readonly #done: Buffer[] = [];

  constructor(sizeOf: (partNumber: number) => number) {
    this.#sizeOf = sizeOf;
    this.#length = sizeOf(1);
  }

  update(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      // A part is closed only when more bytes follow it: the last one, full or not, is closed at the end.
      if (this.#filled === this.#length) {
        this.#done.push(this.#hash.digest());
        this.#hash = createHash('sha256');
        this.#length = this.#sizeOf(this.#done.length + 1);
        this.#filled = 0;
      }
      const take = Math.min(this.#length - this.#filled, chunk.length - offset);
      this.#hash.update(offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
      this.#filled += take;
      offset += take;
    }
  }

  /** The composite SHA-256 of all parts, the last one closed now. */
  finish(): string {
    this.#done.push(this.#hash.digest());
    return compositeSha256(this.#done);
  }
}

export class DigestTap extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  #digest: Digest | undefined;
  readonly #onBytes: ((size: number) => void) | undefined;
  readonly #gate: ((digest: Digest) => Error | undefined) | undefined;
  readonly #parts: PartHashes | undefined;

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
    this.#parts = partSize === undefined ? undefined : new PartHashes(partSize);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    this.#parts?.update(chunk);
    this.#onBytes?.(this.#size);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const sha256 = this.#hash.digest('hex');
    this.#digest =
      this.#parts === undefined
        ? { size: this.#size, sha256 }
        : { size: this.#size, sha256, partsSha256: this.#parts.finish() };
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
