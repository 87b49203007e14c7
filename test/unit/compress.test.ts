// Parallel compression (real gzip members and zstd frames, read back by the reference tools), the settings
// that choose it, and the rate limits' arithmetic.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { collectGarbage, everyBytes } from '../../src/memory.js';
import { decompressor, ParallelCompressor } from '../../src/pipeline/compress.js';
import { RateBucket, Throttle } from '../../src/pipeline/throttle.js';
import { effectiveCompression, effectiveSettings, parseByteRate } from '../../src/scheduler/settings.js';

/** Text with the entropy of application data: words, numbers and JSON keys, compressing a few times. */
function appText(bytes: number, seed = 1): Buffer {
  const words = ['order', 'customer', 'shipped', 'pending', 'invoice', 'Berlin', 'Lisboa', 'note', 'total', 'id'];
  let x = seed;
  const next = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x;
  };
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    const line = `{"${words[next() % 10]}":"${words[next() % 10]} ${next().toString(36)}","n":${next() % 100000}}\n`;
    parts.push(line);
    size += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

/** The opening bytes of a gzip member (magic, deflate) and of a zstd frame. */
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 8]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** How often `needle` stands in `haystack` (members or frames, by their opening bytes). */
function occurrences(haystack: Buffer, needle: Buffer): number {
  let count = 0;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) count += 1;
  return count;
}

const chunked = (data: Buffer, size: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)),
  );

async function compress(data: Buffer, algorithm: 'gzip' | 'zstd', blockSize: number, chunk = 64 * 1024) {
  return buffer(chunked(data, chunk).pipe(new ParallelCompressor({ algorithm, level: 3, threads: 2, blockSize })));
}

describe('parallel compression', () => {
  it('writes gzip that plain gunzip reads: one member per block, in input order', async () => {
    const data = appText(5 * 1024 * 1024 + 123);
    const gz = await compress(data, 'gzip', 1024 * 1024);
    expect(execFileSync('gunzip', ['-c'], { input: gz, maxBuffer: 64 << 20 }).equals(data)).toBe(true);
    // Six blocks: six members, each opening with the gzip magic and deflate method.
    expect(occurrences(gz, GZIP_MAGIC)).toBeGreaterThanOrEqual(6);
    expect(gz.length).toBeLessThan(data.length / 2);
  });

  it('writes zstd that plain zstd -d reads, frame after frame', async () => {
    const data = appText(9 * 1024 * 1024 + 7, 2);
    const zst = await compress(data, 'zstd', 4 * 1024 * 1024);
    expect(execFileSync('zstd', ['-d', '-c', '-q'], { input: zst, maxBuffer: 64 << 20 }).equals(data)).toBe(true);
    expect(zst.length).toBeLessThan(data.length / 2);
  });

  it("gives each zstd frame the window of its whole block, whatever the level (no block wraps zstd's input buffer)", async () => {
    /** The window each frame declares (its header's Window_Descriptor; every frame here has one). */
    const windows = (zst: Buffer) => {
      const found: number[] = [];
      for (let i = zst.indexOf(ZSTD_MAGIC); i >= 0; i = zst.indexOf(ZSTD_MAGIC, i + 1)) {
        const descriptor = zst[i + 4] as number;
        expect(descriptor & 0x20).toBe(0); // not single-segment: a window descriptor follows
        const window = zst[i + 5] as number;
        const base = 2 ** (10 + (window >> 3));
        found.push(base + (base / 8) * (window & 7));
      }
      return found;
    };
    const MiB = 1024 * 1024;
    for (const level of [1, 3, 19]) {
      const data = appText(2 * MiB + 500, level);
      const zst = await buffer(
        chunked(data, 64 * 1024).pipe(new ParallelCompressor({ algorithm: 'zstd', level, threads: 2, blockSize: MiB })),
      );
      expect(windows(zst), `level ${level}`).toEqual([MiB, MiB, MiB]);
      expect(execFileSync('zstd', ['-d', '-c', '-q'], { input: zst, maxBuffer: 64 << 20 }).equals(data)).toBe(true);
    }
    // The default block, 4 MiB.
    const zst = await buffer(
      chunked(appText(5 * MiB, 9), 64 * 1024).pipe(new ParallelCompressor({ algorithm: 'zstd', level: 3, threads: 2 })),
    );
    expect(windows(zst)).toEqual([4 * MiB, 4 * MiB]);
  });

  it('reads back with its own decompressors whatever the chunking and block size (order is kept)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.integer({ min: 1024, max: 100_000 }),
        fc.constantFrom('gzip' as const, 'zstd' as const),
        fc.integer({ min: 1, max: 200_000 }),
        async (size, chunk, blockSize, algorithm, readChunk) => {
          const data = appText(size, size + 3);
          const packed = await compress(data, algorithm, blockSize, chunk);
          // The stored bytes come in chunks of any size too (a socket's, a ranged GET's): frames span them.
          const unpacked = await buffer(
            chunked(packed, readChunk).pipe(decompressor(algorithm) as NodeJS.ReadWriteStream),
          );
          expect(createHash('sha256').update(unpacked).digest('hex')).toBe(
            createHash('sha256').update(data).digest('hex'),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('uses one engine per thread for every block, each block still its own member or frame; frees them at the end', async () => {
    for (const [algorithm, tool, magic] of [
      ['gzip', 'gunzip', GZIP_MAGIC],
      ['zstd', 'zstd', ZSTD_MAGIC],
    ] as const) {
      const data = appText(40 * 32 * 1024 + 5, 9);
      const compressor = new ParallelCompressor({ algorithm, level: 3, threads: 2, blockSize: 32 * 1024 });
      const packed = await buffer(chunked(data, 7000).pipe(compressor));
      expect(execFileSync(tool, ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 << 20 }).equals(data)).toBe(true);
      // 41 blocks (the last one 5 bytes): 41 members or frames, from two engines, none left open.
      expect(occurrences(packed, magic), algorithm).toBeGreaterThanOrEqual(41);
      expect(compressor.engines, algorithm).toEqual({ made: 2, open: 0 });
    }
  });

  it('gives the memory of its blocks back at its end, before any garbage collection', async () => {
    const blockSize = 4 * 1024 * 1024;
    const data = appText(6 * blockSize + 100, 5);
    collectGarbage('sync');
    const before = process.memoryUsage().arrayBuffers;
    const compressor = new ParallelCompressor({ algorithm: 'zstd', level: 1, threads: 2, blockSize });
    let out = 0;
    await pipeline(
      chunked(data, 64 * 1024),
      compressor,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          out += chunk.length;
          callback();
        },
      }),
    );
    // Allocated still, as the stream ends: the engines' output buffers the collector has not yet freed (a few
    // MiB), and the blocks (three of 4 MiB, filled again and again) unless given back.
    const held = process.memoryUsage().arrayBuffers - before;
    expect(out).toBeGreaterThan(0);
    expect(compressor.writableFinished).toBe(true);
    expect(held).toBeLessThan(2 * blockSize);
  });

  it('runs an action once each time a running total passes another step, however far the total jumps', () => {
    const passed: number[] = [];
    let total = 0;
    const listener = everyBytes(100, () => passed.push(total));
    for (const next of [10, 99, 100, 150, 199, 420, 430, 500, 1000]) {
      total = next;
      listener(next);
    }
    // 100, 150 and 199 are within one step; 420 passes 200, 300 and 400 at once: one action, next at 500.
    expect(passed).toEqual([100, 420, 500, 1000]);
  });

  it('keeps back-pressure: an unread output stops the input at a few blocks, none of it lost', async () => {
    const blockSize = 64 * 1024;
    const total = 64 * 1024 * 1024;
    let pulled = 0;
    const source = new Readable({
      highWaterMark: 16 * 1024,
      read() {
        if (pulled >= total) {
          this.push(null);
          return;
        }
        const piece = randomBytes(16 * 1024);
        pulled += piece.length;
        this.push(piece);
      },
    });
    const compressor = new ParallelCompressor({ algorithm: 'gzip', level: 1, threads: 2, blockSize });
    let maxInFlight = 0;
    const watch = setInterval(() => {
      maxInFlight = Math.max(maxInFlight, compressor.inFlight);
    }, 1);
    source.pipe(compressor);
    // Nobody reads: the compressor fills its buffers and then asks the source to wait.
    await vi.waitFor(() => expect(compressor.writableNeedDrain).toBe(true), { timeout: 20_000 });
    const stalledAt = pulled;
    expect(stalledAt).toBeLessThan(4 * 1024 * 1024);
    // Now read it all: every byte arrives once, in order.
    const hash = createHash('sha256');
    const out = await buffer(compressor);
    clearInterval(watch);
    hash.update(execFileSync('gunzip', ['-c'], { input: out, maxBuffer: 128 << 20 }));
    expect(pulled).toBe(total);
    expect(maxInFlight).toBeLessThanOrEqual(2);
    expect(execFileSync('gunzip', ['-c'], { input: out, maxBuffer: 128 << 20 }).length).toBe(total);
  });

  it('stops cleanly when destroyed mid-stream: nothing more is pushed, no stray rejection', async () => {
    const compressor = new ParallelCompressor({ algorithm: 'zstd', level: 3, threads: 2, blockSize: 32 * 1024 });
    const seen: Buffer[] = [];
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        seen.push(chunk);
        if (seen.length === 2) compressor.destroy(new Error('stop here'));
        callback();
      },
    });
    const failed = await pipeline(chunked(appText(4 * 1024 * 1024), 8192), compressor, sink).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failed?.message).toBe('stop here');
    expect(seen.length).toBe(2);
    expect(compressor.inFlight).toBe(0);
    expect(compressor.engines.open).toBe(0);
  });
});

describe('compression settings', () => {
  const base = (extra: string) => `
storage: { type: local, path: x }
${extra}
targets:
  - { name: a, driver: sqlite, path: a.db }
  - { name: b, driver: sqlite, path: b.db, compression: { algorithm: zstd } }
`;

  it('inherits field by field, and a level meant for another algorithm does not carry over', () => {
    const config = parseConfig(base('defaults: { compression: { algorithm: gzip, level: 9, threads: 3 } }'), {
      baseDir: '/b',
    });
    const [a, b] = config.targets;
    expect(effectiveSettings(config, a as never).compression).toEqual({ algorithm: 'gzip', level: 9, threads: 3 });
    expect(effectiveSettings(config, b as never).compression).toEqual({ algorithm: 'zstd', level: 3, threads: 3 });
    expect(effectiveCompression(undefined, undefined).algorithm).toBe('gzip');
    expect(effectiveCompression(undefined, undefined).level).toBe(6);
  });

  it('compresses one gzip block more than there are cores when threads is not set, and one zstd block a core', () => {
    const config = parseConfig(base(''), { baseDir: '/b' });
    const [a, b] = config.targets;
    const cores = availableParallelism();
    expect(effectiveSettings(config, a as never).compression).toEqual({
      algorithm: 'gzip',
      level: 6,
      threads: cores + 1,
    });
    expect(effectiveSettings(config, b as never).compression).toEqual({ algorithm: 'zstd', level: 3, threads: cores });
  });

  it('names a level the algorithm does not have, and an unknown algorithm', () => {
    const issues = (text: string) => {
      try {
        parseConfig(text, { baseDir: '/b' });
      } catch (error) {
        if (error instanceof ConfigError) return error.issues.join('\n');
        throw error;
      }
      return '';
    };
    expect(issues(base('defaults: { compression: { level: 12 } }'))).toMatch(
      /defaults\.compression\.level: gzip levels are 1-9 \(default 6\), not 12/,
    );
    expect(issues(base('defaults: { compression: { algorithm: brotli } }'))).toMatch(
      /defaults\.compression\.algorithm/,
    );
    expect(issues(base('defaults: { rateLimit: { upload: "fast" } }'))).toMatch(/defaults\.rateLimit\.upload/);
    expect(issues(base('defaults: { priority: { cpu: 25 } }'))).toMatch(/defaults\.priority\.cpu/);
  });
});

describe('rate limits', () => {
  it('reads rates in bytes per second', () => {
    expect(parseByteRate('20MiB')).toBe(20 * 1024 * 1024);
    expect(parseByteRate('500KB')).toBe(500_000);
    expect(parseByteRate(4096)).toBe(4096);
    expect(() => parseByteRate('lots')).toThrow(/not a rate/);
  });

  it('lets a burst of a quarter second through, then spaces what follows at the rate, shared by its takers', () => {
    const bucket = new RateBucket(1000);
    expect(bucket.reserve(250, 10_000)).toBe(0);
    // What follows waits its turn: the waits add up to the rate, whoever takes.
    expect(bucket.reserve(250, 10_000)).toBeCloseTo(250);
    expect(bucket.reserve(250, 10_000)).toBeCloseTo(500);
    expect(bucket.reserve(250, 10_500)).toBeCloseTo(250);
    // After a long idle spell only the burst is let through at once, not the whole idle time.
    expect(bucket.reserve(250, 60_000)).toBe(0);
    expect(bucket.reserve(500, 60_000)).toBeCloseTo(500);
  });

  it('passes every byte through, in order', async () => {
    const data = randomBytes(300_000);
    const out = await buffer(chunked(data, 100_000).pipe(new Throttle([new RateBucket(100 * 1024 * 1024)])));
    expect(out.equals(data)).toBe(true);
  });
});
