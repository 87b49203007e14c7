// The sizes of a multipart upload's parts: small for the backups most people have, growing for huge ones.
import { describe, expect, it } from 'vitest';
import { s3Storage } from '../../src/storage/s3/config.js';
import { largestObject, MAX_PARTS, PARTS_PER_STEP, partSizeOf } from '../../src/storage/s3/multipart-upload.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('part sizes', () => {
  it('keeps the configured size for the first steps worth of parts, then doubles', () => {
    expect(partSizeOf(1, 8 * MiB)).toBe(8 * MiB);
    expect(partSizeOf(PARTS_PER_STEP, 8 * MiB)).toBe(8 * MiB);
    expect(partSizeOf(PARTS_PER_STEP + 1, 8 * MiB)).toBe(16 * MiB);
    expect(partSizeOf(2 * PARTS_PER_STEP + 1, 8 * MiB)).toBe(32 * MiB);
    expect(partSizeOf(MAX_PARTS, 8 * MiB)).toBe(128 * MiB);
    expect([1, 2, 3, 4, 5].map((part) => partSizeOf(part, 5, 2))).toEqual([5, 5, 10, 10, 20]);
  });

  it('never asks for a part above the 5 GiB S3 allows', () => {
    expect(partSizeOf(MAX_PARTS, 2 * GiB)).toBe(5 * GiB);
  });

  it('holds 31 times the first steps worth: 484 GiB from the default 8 MiB parts', () => {
    const { partSizeMiB } = s3Storage.parse({ type: 's3', bucket: 'backups' });
    expect(partSizeMiB).toBe(8);
    const from8 = (part: number) => partSizeOf(part, partSizeMiB * MiB);
    expect(largestObject(from8)).toBe(31 * PARTS_PER_STEP * 8 * MiB);
    expect(largestObject(from8) / GiB).toBeCloseTo(484.375, 3);
    expect(largestObject(() => 5 * MiB)).toBe(MAX_PARTS * 5 * MiB);
  });
});
