// What a neo4j-admin dump says about its own length: the "DZV1" header, then zstd frames (RFC 8878) whose
// block headers give every block's size and mark the last block of each frame. A dump that ends anywhere but
// at the end of a frame was cut short. (Legacy "DGV1" dumps are gzip: only their header and a length beyond a
// bare gzip header and trailer are checked.)
import { Transform, type TransformCallback } from 'node:stream';
import { LifeboatError } from '../../errors.js';

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** Field sizes by the frame header descriptor's Dictionary_ID_flag and Frame_Content_Size_flag. */
const DICTIONARY_ID_BYTES = [0, 1, 2, 4];
const CONTENT_SIZE_BYTES = [0, 2, 4, 8];

type State =
  | { kind: 'magic' }
  | { kind: 'frame-start' }
  | { kind: 'frame-header'; size: number; checksum: boolean }
  | { kind: 'skippable-size' }
  | { kind: 'block-header'; checksum: boolean }
  | { kind: 'skip'; left: number; then: 'block-header' | 'checksum' | 'frame-start'; checksum: boolean };

/**
 * Walks a neo4j-admin dump as it flows (bytes passed on unchanged) and fails it at the end unless it is a
 * header and whole zstd frames. Only headers are read: nothing is decompressed.
 */
export class DumpFramesCheck extends Transform {
  readonly #database: string;
  #state: State = { kind: 'magic' };
  /** Bytes of a header being gathered across chunks. */
  #pending: Buffer = Buffer.alloc(0);
  #frames = 0;
  #bytes = 0;
  #gzip = false;

  readonly #toolExited: Promise<void>;

  /** `toolExited` settles when neo4j-admin exits: a tool that failed reports its own error, not this one. */
  constructor(database: string, toolExited: Promise<void> = Promise.resolve()) {
    super();
    this.#database = database;
    this.#toolExited = toolExited;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    try {
      if (!this.#gzip) this.#walk(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const whole = this.#gzip
      ? this.#bytes > 18
      : this.#state.kind === 'frame-start' && this.#pending.length === 0 && this.#frames > 0;
    if (whole) {
      callback();
      return;
    }
    const incomplete = this.#incomplete(this.#describeEnd());
    this.#toolExited.then(
      () => callback(incomplete),
      () => callback(),
    );
  }

  #describeEnd(): string {
    if (this.#bytes < 4) return `${this.#bytes} bytes, without the dump header`;
    if (this.#frames === 0 && this.#state.kind === 'frame-start' && this.#pending.length === 0) {
      return 'the header and no data';
    }
    return `it ends after ${this.#bytes} bytes inside a zstd frame (${this.#frames} whole frames before it)`;
  }

  #incomplete(why: string): LifeboatError {
    return new LifeboatError(
      'DUMP_INCOMPLETE',
      `neo4j: neo4j-admin exited 0, but its dump of ${this.#database} is not whole: ${why}`,
      { hint: 'check neo4j-admin and its disk; the backups before this one are untouched' },
    );
  }

  /** Takes `n` header bytes from `chunk` at `at`, with what earlier chunks left; undefined until there are n. */
  #take(chunk: Buffer, at: { i: number }, n: number): Buffer | undefined {
    const need = n - this.#pending.length;
    const part = chunk.subarray(at.i, at.i + need);
    at.i += part.length;
    if (part.length < need) {
      this.#pending = Buffer.concat([this.#pending, part]);
      return undefined;
    }
    const whole = this.#pending.length === 0 ? part : Buffer.concat([this.#pending, part]);
    this.#pending = Buffer.alloc(0);
    return whole;
  }

  #walk(chunk: Buffer): void {
    const at = { i: 0 };
    while (at.i < chunk.length) {
      const state = this.#state;
      switch (state.kind) {
        case 'magic': {
          const magic = this.#take(chunk, at, 4);
          if (magic === undefined) return;
          const text = magic.toString('latin1');
          if (text === 'DGV1') {
            this.#gzip = true;
            return;
          }
          if (text !== 'DZV1')
            throw this.#incomplete(`it does not start with a dump header (found ${JSON.stringify(text)})`);
          this.#state = { kind: 'frame-start' };
          break;
        }
        case 'frame-start': {
          // The magic and the frame header descriptor.
          const head = this.#take(chunk, at, 5);
          if (head === undefined) return;
          const magic = head.readUInt32LE(0);
          if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
            this.#pending = head.subarray(4);
            this.#state = { kind: 'skippable-size' };
            break;
          }
          if (magic !== ZSTD_MAGIC)
            throw this.#incomplete(`no zstd frame at byte ${this.#bytes - chunk.length + at.i - 5}`);
          const descriptor = head[4] as number;
          const fcsFlag = descriptor >> 6;
          const single = (descriptor & 0x20) !== 0;
          const dictFlag = descriptor & 0x03;
          const dictionaryBytes = DICTIONARY_ID_BYTES[dictFlag] as number;
          const contentSizeBytes = fcsFlag === 0 ? (single ? 1 : 0) : (CONTENT_SIZE_BYTES[fcsFlag] as number);
          // The window descriptor (absent in a single-segment frame), the dictionary id, the content size.
          const size = (single ? 0 : 1) + dictionaryBytes + contentSizeBytes;
          this.#state = { kind: 'frame-header', size, checksum: (descriptor & 0x04) !== 0 };
          break;
        }
        case 'skippable-size': {
          const size = this.#take(chunk, at, 4);
          if (size === undefined) return;
          this.#skipThen(size.readUInt32LE(0), 'frame-start', false);
          break;
        }
        case 'frame-header': {
          if (state.size > 0 && this.#take(chunk, at, state.size) === undefined) return;
          this.#state = { kind: 'block-header', checksum: state.checksum };
          break;
        }
        case 'block-header': {
          const header = this.#take(chunk, at, 3);
          if (header === undefined) return;
          const value = header.readUIntLE(0, 3);
          const last = (value & 1) === 1;
          const type = (value >> 1) & 3;
          if (type === 3) {
            throw this.#incomplete(`a reserved zstd block type at byte ${this.#bytes - chunk.length + at.i - 3}`);
          }
          // An RLE block holds one byte, repeated when decompressed; the others hold Block_Size bytes.
          const size = type === 1 ? 1 : value >>> 3;
          this.#skipThen(size, last ? (state.checksum ? 'checksum' : 'frame-start') : 'block-header', state.checksum);
          break;
        }
        case 'skip': {
          const step = Math.min(state.left, chunk.length - at.i);
          at.i += step;
          if (state.left > step) {
            this.#state = { ...state, left: state.left - step };
            return;
          }
          this.#skipThen(0, state.then, state.checksum);
          break;
        }
      }
    }
  }

  /** Skips `left` bytes, then goes on to `then`: the next block, the frame's checksum, or the next frame. */
  #skipThen(left: number, then: 'block-header' | 'checksum' | 'frame-start', checksum: boolean): void {
    if (left > 0) {
      this.#state = { kind: 'skip', left, then, checksum };
      return;
    }
    if (then === 'block-header') this.#state = { kind: 'block-header', checksum };
    else if (then === 'checksum') this.#skipThen(4, 'frame-start', false);
    else {
      this.#frames += 1;
      this.#state = { kind: 'frame-start' };
    }
  }
}
