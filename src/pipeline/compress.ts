// Compression that uses every core: the stream is cut into blocks, up to `threads` blocks are compressed at
// once (each by an engine of its own, on libuv's thread pool, off the event loop), and the results leave in
// input order. gzip blocks are whole gzip members and zstd blocks whole zstd frames: their concatenation is one valid
// file for plain `gunzip` and `zstd -d` (RFC 1952 section 2.2; the zstd format's concatenated frames).
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import {
  constants,
  createGunzip,
  createGzip,
  createZstdCompress,
  createZstdDecompress,
  type Gzip,
  type ZlibOptions,
  type ZstdCompress,
  type ZstdOptions,
  zstdDecompress,
} from 'node:zlib';
import { releaseNow } from '../memory.js';

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

/**
 * Blocks compressed at once when `threads` is not set: one a core, and for gzip one more. Blocks leave in
 * order, and a gzip block takes long enough that a core that finished its own would otherwise wait for the
 * oldest; with one more in flight it starts the next (backup of the bench's dump to MinIO, 2 cores, 6 farm-bench
 * pairs: 1.02x `pg_dump | pigz -p2` to a file against 1.11x; to a folder 0.93x the wall time of cores alone).
 * zstd compresses faster than pg_dump writes: one more engine only competes with pg_dump (1.08x, 5 pairs).
 */
export function defaultThreads(algorithm: CompressionAlgorithm): number {
  const cores = availableParallelism();
  return algorithm === 'gzip' ? cores + 1 : cores;
}

/** A gzip or zstd compressing stream, with zlib's reset() (deflateReset for gzip), which their types omit. */
type Engine = (Gzip | ZstdCompress) & { reset(): void };

/** What one block became: the compressed bytes, as the engine handed them out (no copy joins them). */
type Compressed = readonly Buffer[];

/**
 * Output buffer of a compression engine. zlib hands each full one back to the main thread before it goes on,
 * and keeps a part-filled one for the engine's next block: a buffer lives until every block that wrote into it
 * has been stored and a full garbage collection finds it. 256 KiB: a zstd block of 4 MiB that compresses 4x
 * takes four round trips; with buffers of half a block (2 MiB, before), paired runs (6) of a zstd backup of the
 * 1086 MB dump to MinIO peaked at 170 against 160 MiB, at 1.03x the CPU (the main thread's part of each write
 * into an engine doubled, 0.6 against 0.3 ms a block).
 */
const OUTPUT_CHUNK = 256 * 1024;

/** What decompression writes at once: our largest block whole, so that a block is one round trip too. */
const DECOMPRESS_CHUNK = Math.max(BLOCK_SIZE.gzip, BLOCK_SIZE.zstd);

/**
 * zstd's window for frames of one block each: the whole block (4 MiB: windowLog 22), whatever the level. zstd
 * keeps a frame's input in a buffer of its window plus 128 KiB. With level 3's own window (2 MiB), a block of
 * 4 MiB wrapped around that buffer, and its second half was matched through zstd's slower two-segment path
 * (extDict, over a third of the compression threads' samples by `perf` in a backup of the bench's dump).
 * Compressing that 1086 MB dump in 4 MiB frames on one thread: 0.96x the wall time (`farm-bench`, 6 pairs,
 * 4.43 against 4.57 s; 0.89x in two alternated runs each before), 0.3% smaller output. A larger window finds
 * nothing more (no frame is larger than a block); a high level's own, larger, window is cut down to it. Each
 * engine's buffer grows by 2 MiB, and a reader needs a 4 MiB window (`zstd -d` accepts up to 128 MiB).
 */
function zstdWindowLog(blockSize: number): number {
  // zstd's least window is 1 KiB (10); 27 is the most `zstd -d` and Node.js read without being told to.
  return Math.min(27, Math.max(10, Math.ceil(Math.log2(blockSize))));
}

/**
 * Compression engines kept for the whole stream, one per block in flight: a block is written to an idle one and
 * ended as its own gzip member or zstd frame, and the engine is used again for a later block. One engine a
 * block would allocate a new context (zstd's window and tables, deflate's hash chains) and a new output buffer
 * each time, megabytes a block that only the garbage collector gives back.
 */
class Engines {
  readonly #make: () => Engine;
  /** How an engine ends a block (Z_FINISH, ZSTD_e_end), and whether it must be reset before the next. */
  readonly #end: number;
  readonly #resetAfter: boolean;
  readonly #idle: Engine[] = [];
  readonly #all = new Set<Engine>();
  readonly #waiting: ((engine: Engine) => void)[] = [];
  readonly #limit: number;
  #made = 0;

  constructor(algorithm: Exclude<CompressionAlgorithm, 'none'>, level: number, limit: number, blockSize: number) {
    this.#limit = limit;
    if (algorithm === 'gzip') {
      // memLevel 9: zlib's largest hash table (256 KiB), faster and a little smaller than the default 8.
      const options: ZlibOptions = { level, memLevel: constants.Z_MAX_MEMLEVEL, chunkSize: OUTPUT_CHUNK };
      this.#make = () => createGzip(options) as Engine;
      this.#end = constants.Z_FINISH;
      this.#resetAfter = true;
    } else {
      const options: ZstdOptions = {
        chunkSize: OUTPUT_CHUNK,
        params: {
          [constants.ZSTD_c_compressionLevel]: level,
          [constants.ZSTD_c_checksumFlag]: 1,
          [constants.ZSTD_c_windowLog]: zstdWindowLog(blockSize),
        },
      };
      this.#make = () => createZstdCompress(options) as Engine;
      // A frame ended with ZSTD_e_end leaves the context ready for the next frame, with the same parameters.
      this.#end = constants.ZSTD_e_end;
      this.#resetAfter = false;
    }
  }

  /** Compresses one block into one whole gzip member or zstd frame. */
  async compress(block: Buffer): Promise<Compressed> {
    const engine = await this.#take();
    const out: Buffer[] = [];
    const onData = (chunk: Buffer) => out.push(chunk);
    engine.on('data', onData);
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        engine.once('error', onError);
        engine.write(block);
        engine.flush(this.#end, () => {
          engine.off('error', onError);
          // Output the engine buffered rather than emitted (none in flowing mode, but never lose a byte).
          for (let chunk = engine.read() as Buffer | null; chunk !== null; chunk = engine.read() as Buffer | null) {
            out.push(chunk);
          }
          resolve();
        });
      });
    } catch (error) {
      this.#all.delete(engine);
      engine.destroy();
      throw error;
    } finally {
      engine.off('data', onData);
    }
    if (this.#resetAfter) engine.reset();
    this.#give(engine);
    return out;
  }

  /** Frees every engine (their contexts); a block still on its way fails. */
  close(): void {
    for (const engine of this.#all) engine.destroy();
    this.#all.clear();
    this.#idle.length = 0;
  }

  #take(): Promise<Engine> {
    const idle = this.#idle.pop();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.#all.size < this.#limit) {
      const engine = this.#make();
      this.#made += 1;
      this.#all.add(engine);
      return Promise.resolve(engine);
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Engines made so far (for tests: as many as blocks in flight, however many blocks). */
  get made(): number {
    return this.#made;
  }

  /** Engines not yet freed. */
  get open(): number {
    return this.#all.size;
  }

  #give(engine: Engine): void {
    if (!this.#all.has(engine)) return;
    const next = this.#waiting.shift();
    if (next !== undefined) next(engine);
    else this.#idle.push(engine);
  }
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

/**
 * A Transform that compresses in parallel. Memory is bounded by `threads` blocks in flight (their input and
 * output) plus the block being filled; input is not taken while `threads` blocks are in flight, and output
 * waits on the reader, so back-pressure holds both ways. A destroyed stream drops what is in flight.
 */
export class ParallelCompressor extends Transform {
  readonly #engines: Engines;
  /**
   * zstd: Node's zstd reader stops at the end of the first frame, so each frame is preceded by a skippable
   * frame that holds its length (as pzstd writes them), which `zstd -d` skips and ZstdFrames follows.
   */
  readonly #indexed: boolean;
  readonly #blockSize: number;
  readonly #threads: number;
  /** The block being filled: input is copied into it, so no input chunk is held longer than its copy. */
  #filling: Buffer | undefined;
  #filled = 0;
  /** Blocks whose compression finished, to be filled again: no new memory a block (less garbage to collect). */
  readonly #free: Buffer[] = [];
  #blocks = 0;
  readonly #inFlight: Promise<Compressed>[] = [];

  constructor(
    settings: CompressionSettings & { algorithm: Exclude<CompressionAlgorithm, 'none'>; blockSize?: number },
  ) {
    super({ readableHighWaterMark: 64 * 1024 });
    this.#blockSize = settings.blockSize ?? BLOCK_SIZE[settings.algorithm];
    this.#threads = Math.max(1, settings.threads);
    this.#engines = new Engines(settings.algorithm, settings.level, this.#threads, this.#blockSize);
    this.#indexed = settings.algorithm === 'zstd';
  }

  /** Blocks being compressed now (for tests of the bound). */
  get inFlight(): number {
    return this.#inFlight.length;
  }

  /** Compression engines made, and those not yet freed (for tests: engines are used again, and freed). */
  get engines(): { made: number; open: number } {
    return { made: this.#engines.made, open: this.#engines.open };
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
    this.#drain(1, (error) => {
      this.#engines.close();
      // Every block was compressed (no engine reads one any more): their memory goes back now, not at the
      // garbage collector's next full collection, which what follows the stream (a read-back) would wait for.
      if (error == null) for (const block of this.#free.splice(0)) releaseNow(block);
      callback(error);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inFlight.length = 0;
    this.#filling = undefined;
    this.#free.length = 0;
    this.#engines.close();
    callback(error);
  }

  #start(): void {
    const block = this.#filling ?? Buffer.alloc(0);
    const job = this.#engines.compress(this.#filled === block.length ? block : block.subarray(0, this.#filled));
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
        if (this.#indexed) this.push(frameIndex(compressed));
        for (const piece of compressed) this.push(piece);
        this.#drain(limit, callback);
      },
      (error: Error) => {
        if (!this.destroyed) callback(error);
      },
    );
  }
}

/** The skippable frame before a zstd frame of these pieces: its length, for readers that go frame by frame. */
function frameIndex(pieces: Compressed): Buffer {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const index = Buffer.allocUnsafe(12);
  index.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  index.writeUInt32LE(4, 4);
  index.writeUInt32LE(length, 8);
  return index;
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
