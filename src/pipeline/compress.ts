// Compression that uses every core: the stream is cut into blocks, up to `threads` blocks are compressed at
// once (zlib's one-shot calls run on libuv's thread pool, off the event loop), and the results leave in input
// order. gzip blocks are whole gzip members and zstd blocks whole zstd frames: their concatenation is one valid
// file for plain `gunzip` and `zstd -d` (RFC 1952 section 2.2; the zstd format's concatenated frames).
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import {
  constants,
  createGunzip,
  createZstdDecompress,
  gzip,
  type InputType,
  type ZlibOptions,
  type ZstdOptions,
  zstdCompress,
  zstdDecompress,
} from 'node:zlib';

export const COMPRESSION_ALGORITHMS = ['gzip', 'zstd', 'none'] as const;
export type CompressionAlgorithm = (typeof COMPRESSION_ALGORITHMS)[number];

export interface CompressionSettings {
  readonly algorithm: CompressionAlgorithm;
  /** gzip 1-9, zstd 1-19. */
  readonly level: number;
  /** Blocks compressed at once. */
  readonly threads: number;
}

/** The levels each algorithm accepts and its default; `none` has none. */
export const LEVELS = { gzip: { min: 1, max: 9, default: 6 }, zstd: { min: 1, max: 19, default: 3 } } as const;

/** What the stored object's name ends with for each algorithm. */
export const SUFFIX: Record<CompressionAlgorithm, string> = { gzip: '.gz', zstd: '.zst', none: '' };

/** One block: large enough that independent blocks cost next to nothing in ratio, small enough to bound memory. */
export const BLOCK_SIZE: Record<Exclude<CompressionAlgorithm, 'none'>, number> = {
  // deflate's window is 32 KiB: a new member every MiB loses well under 1% against one stream.
  gzip: 1024 * 1024,
  // zstd -3 looks back 2 MiB (windowLog 21): blocks of 4 MiB keep most of each block's matches in reach.
  zstd: 4 * 1024 * 1024,
};

export function defaultThreads(): number {
  return availableParallelism();
}

type Compress = (block: Buffer) => Promise<Buffer>;

/**
 * Output buffer of one zlib call. zlib hands each full output buffer back to the main thread before it goes
 * on (16 KiB by default: dozens of round trips a block, the compressing thread idle during each). Half a
 * block holds any block that compresses 2x or better in one call; incompressible data takes three.
 */
function chunkFor(blockSize: number): number {
  return Math.max(64 * 1024, blockSize >> 1);
}

/** What decompression writes at once: our largest block whole, so that a block is one round trip too. */
const DECOMPRESS_CHUNK = Math.max(BLOCK_SIZE.gzip, BLOCK_SIZE.zstd);

function compressorOf(algorithm: Exclude<CompressionAlgorithm, 'none'>, level: number, blockSize: number): Compress {
  const chunkSize = chunkFor(blockSize);
  if (algorithm === 'gzip') {
    // memLevel 9: zlib's largest hash table (256 KiB), faster and a little smaller than the default 8.
    const options: ZlibOptions = { level, memLevel: constants.Z_MAX_MEMLEVEL, chunkSize };
    return (block) => oneShot(gzip, block, options);
  }
  const options: ZstdOptions = {
    chunkSize,
    params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: 1 },
  };
  // Node's zstd reader stops at the end of the first frame: each frame is preceded by a skippable frame that
  // holds its length (as pzstd writes them), which `zstd -d` skips and ZstdFrames below follows.
  return async (block) => {
    const frame = await oneShot(zstdCompress, block, options);
    const index = Buffer.alloc(12);
    index.writeUInt32LE(SKIPPABLE_MAGIC, 0);
    index.writeUInt32LE(4, 4);
    index.writeUInt32LE(frame.length, 8);
    return Buffer.concat([index, frame]);
  };
}

const SKIPPABLE_MAGIC = 0x184d2a50;

/**
 * Reads what ParallelCompressor wrote with zstd: index frame, data frame, again and again. A file without the
 * index (one frame, as the zstd tool writes it) goes to Node's own stream reader whole.
 */
class ZstdFrames extends Transform {
  /** Bytes not yet decoded, kept as they came: a frame is copied out only when it spans several of them. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** How many bytes the next step needs: the index frame, then the index and the frame it announces. */
  #needed = 12;
  #plain: Transform | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#plain !== undefined) {
      this.#plain.write(chunk, callback);
      return;
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < this.#needed) callback();
    else this.#next(callback);
  }

  /** The first `count` buffered bytes, taken off the buffer (a view where they lie in one chunk). */
  #take(count: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    let taken: Buffer;
    if (first.length >= count) {
      taken = first.subarray(0, count);
      if (first.length === count) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(count);
    } else {
      taken = Buffer.allocUnsafe(count);
      let filled = 0;
      while (filled < count) {
        const chunk = this.#chunks[0] as Buffer;
        const part = Math.min(chunk.length, count - filled);
        chunk.copy(taken, filled, 0, part);
        filled += part;
        if (part === chunk.length) this.#chunks.shift();
        else this.#chunks[0] = chunk.subarray(part);
      }
    }
    this.#buffered -= count;
    return taken;
  }

  #next(callback: TransformCallback): void {
    if (this.#buffered < 12) {
      this.#needed = 12;
      callback();
      return;
    }
    const first = this.#chunks[0] as Buffer;
    const index = first.length >= 12 ? first : Buffer.concat(this.#chunks, 12);
    if (index.readUInt32LE(0) !== SKIPPABLE_MAGIC || index.readUInt32LE(4) !== 4) {
      this.#startPlain(callback);
      return;
    }
    const length = index.readUInt32LE(8);
    if (this.#buffered < 12 + length) {
      this.#needed = 12 + length;
      callback();
      return;
    }
    const frame = this.#take(12 + length).subarray(12);
    zstdDecompress(frame, { chunkSize: DECOMPRESS_CHUNK }, (error, raw) => {
      if (error) {
        callback(error);
        return;
      }
      this.push(raw);
      this.#next(callback);
    });
  }

  #startPlain(callback: TransformCallback): void {
    const plain = createZstdDecompress({ chunkSize: DECOMPRESS_CHUNK });
    this.#plain = plain;
    plain.on('data', (raw: Buffer) => this.push(raw));
    plain.once('error', (error) => this.destroy(error));
    plain.write(this.#take(this.#buffered), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#plain !== undefined) {
      this.#plain.once('end', () => callback());
      this.#plain.end();
      return;
    }
    if (this.#buffered > 0) {
      callback(new Error(`zstd: ${this.#buffered} bytes after the last whole frame (the file is cut short)`));
      return;
    }
    callback();
  }
}

function oneShot<O>(
  fn: (input: InputType, options: O, callback: (error: Error | null, result: Buffer) => void) => void,
  input: Buffer,
  options: O,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    fn(input, options, (error, result) => (error ? reject(error) : resolve(result))),
  );
}

/**
 * A Transform that compresses in parallel. Memory is bounded by `threads` blocks in flight (their input and
 * output) plus the block being filled; input is not taken while `threads` blocks are in flight, and output
 * waits on the reader, so back-pressure holds both ways. A destroyed stream drops what is in flight.
 */
export class ParallelCompressor extends Transform {
  readonly #compress: Compress;
  readonly #blockSize: number;
  readonly #threads: number;
  /** The block being filled: input is copied into it, so no input chunk is held longer than its copy. */
  #filling: Buffer | undefined;
  #filled = 0;
  /** Blocks whose compression finished, to be filled again: no new memory a block (less garbage to collect). */
  readonly #free: Buffer[] = [];
  #blocks = 0;
  readonly #inFlight: Promise<Buffer>[] = [];

  constructor(
    settings: CompressionSettings & { algorithm: Exclude<CompressionAlgorithm, 'none'>; blockSize?: number },
  ) {
    super({ readableHighWaterMark: 64 * 1024 });
    this.#blockSize = settings.blockSize ?? BLOCK_SIZE[settings.algorithm];
    this.#compress = compressorOf(settings.algorithm, settings.level, this.#blockSize);
    this.#threads = Math.max(1, settings.threads);
  }

  /** Blocks being compressed now (for tests of the bound). */
  get inFlight(): number {
    return this.#inFlight.length;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, this.#blockSize - this.#filled);
      this.#filling ??= this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#blockSize);
      chunk.copy(this.#filling, this.#filled, offset, offset + take);
      this.#filled += take;
      offset += take;
      if (this.#filled === this.#blockSize) this.#start();
    }
    this.#drain(this.#threads, callback);
  }

  override _flush(callback: TransformCallback): void {
    // Empty input still makes one (empty) member or frame: the file is valid for gunzip and zstd -d.
    if (this.#filled > 0 || this.#blocks === 0) this.#start();
    this.#drain(1, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inFlight.length = 0;
    this.#filling = undefined;
    this.#free.length = 0;
    callback(error);
  }

  #start(): void {
    const block = this.#filling ?? Buffer.alloc(0);
    const job = this.#compress(this.#filled === block.length ? block : block.subarray(0, this.#filled));
    this.#filling = undefined;
    this.#filled = 0;
    this.#blocks += 1;
    // Once compressed, the block's memory is filled again (zlib no longer reads it).
    job.then(
      () => {
        if (!this.destroyed && block.length === this.#blockSize) this.#free.push(block);
      },
      // A stream destroyed meanwhile never awaits it: its failure must not become an unhandled rejection.
      () => undefined,
    );
    this.#inFlight.push(job);
  }

  /** Pushes finished blocks, in order, until fewer than `limit` are in flight; then calls back. */
  #drain(limit: number, callback: TransformCallback): void {
    const head = this.#inFlight[0];
    if (head === undefined || this.#inFlight.length < limit) {
      callback();
      return;
    }
    head.then(
      (compressed) => {
        if (this.destroyed || this.#inFlight[0] !== head) return;
        this.#inFlight.shift();
        this.push(compressed);
        this.#drain(limit, callback);
      },
      (error: Error) => {
        if (!this.destroyed) callback(error);
      },
    );
  }
}

/** The compressing stage of a backup, or none for `none`. */
export function compressor(settings: CompressionSettings): Transform | undefined {
  if (settings.algorithm === 'none') return undefined;
  return new ParallelCompressor({ ...settings, algorithm: settings.algorithm });
}

/** The stage that undoes `algorithm` (every member or frame of a concatenated file), or none. */
export function decompressor(algorithm: CompressionAlgorithm): Transform | undefined {
  if (algorithm === 'gzip') return createGunzip({ chunkSize: DECOMPRESS_CHUNK });
  if (algorithm === 'zstd') return new ZstdFrames();
  return undefined;
}

/** The content type a store is told for stored bytes. */
export function contentType(algorithm: CompressionAlgorithm, encrypted: boolean): string {
  if (encrypted) return 'application/octet-stream';
  if (algorithm === 'gzip') return 'application/gzip';
  if (algorithm === 'zstd') return 'application/zstd';
  return 'application/octet-stream';
}
