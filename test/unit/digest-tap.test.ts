// The S3-style SHA-256 of an object's parts, as the stored-bytes tap computes it while the bytes flow.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compositeSha256, DigestTap } from '../../src/pipeline/digest-tap.js';
import { partSizeOf } from '../../src/storage/s3/multipart-upload.js';

const fixed = (size: number) => () => size;

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest();

/** How an upload is cut: full parts of partSize(1), partSize(2)..., the last one the rest; one part up to partSize(1). */
function expected(data: Buffer, partSize: (partNumber: number) => number): string {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < data.length; ) {
    const size = partSize(parts.length + 1);
    parts.push(sha(data.subarray(offset, offset + size)));
    offset += size;
  }
  if (parts.length === 0) parts.push(sha(Buffer.alloc(0)));
  if (parts.length === 1) return (parts[0] as Buffer).toString('base64');
  return `${createHash('sha256').update(Buffer.concat(parts)).digest('base64')}-${parts.length}`;
}

async function tapped(chunks: Buffer[], partSize: (partNumber: number) => number) {
  const tap = new DigestTap(undefined, undefined, partSize);
  tap.resume();
  await pipeline(Readable.from(chunks), tap);
  return tap.digest;
}

describe('the parts SHA-256 of the stored bytes', () => {
  it('is the whole object SHA-256 for one part, and of the parts with their number for more', async () => {
    const data = randomBytes(2500);
    expect((await tapped([data], fixed(4096))).partsSha256).toBe(sha(data).toString('base64'));
    const three = await tapped([data], fixed(1000));
    expect(three.partsSha256).toBe(
      compositeSha256([sha(data.subarray(0, 1000)), sha(data.subarray(1000, 2000)), sha(data.subarray(2000))]),
    );
    expect(three.partsSha256).toMatch(/-3$/);
    expect(three.sha256).toBe(sha(data).toString('hex'));
  });

  it('cuts at exact part edges however the stream is chunked (empty, exact multiples, one byte over)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom(0, 1, 63, 64, 65, 128, 129, 1000),
        fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 20 }),
        // Parts that double every few parts, as uploads cut them, or never within these sizes.
        fc.constantFrom(1, 2, 3, 1000),
        async (firstPart, size, cuts, partsPerStep) => {
          const partSize = (partNumber: number) => partSizeOf(partNumber, firstPart, partsPerStep);
          const data = randomBytes(size);
          const chunks: Buffer[] = [];
          let offset = 0;
          for (let i = 0; offset < size; i += 1) {
            const next = Math.min(size, offset + (cuts[i % cuts.length] as number));
            chunks.push(data.subarray(offset, next));
            offset = next;
          }
          const digest = await tapped(chunks, partSize);
          expect(digest.partsSha256).toBe(expected(data, partSize));
          expect(digest.size).toBe(size);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is not computed without a part size', async () => {
    const tap = new DigestTap();
    tap.resume();
    await pipeline(Readable.from([Buffer.from('x')]), tap);
    expect(tap.digest.partsSha256).toBeUndefined();
  });
});
