// Streamed multipart uploads against the real MinIO behind a fault proxy: parts that grow are cut where the
// store's own checksum says, a part whose connection breaks is sent again whole from its buffer, and reading
// stops while the parts on their way go unanswered.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LifeboatError } from '../../src/errors.js';
import { collectGarbage } from '../../src/memory.js';
import { compositeSha256 } from '../../src/pipeline/digest-tap.js';
import { partSizeOf } from '../../src/storage/s3/multipart-upload.js';
import type { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { randomPrefix, s3Client, s3Storage } from '../harness/s3.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { settledValue, waitForCondition } from './hostile-support.js';

const s3 = inject('s3');
const MiB = 1024 * 1024;

function storageThrough(
  proxy: FaultProxy,
  prefix: string,
  settings: object,
  options: { partsPerStep?: number; maxParts?: number } = {},
): S3Storage {
  return s3Storage(s3, prefix, { endpoint: proxy.url, partSizeMiB: 5, ...settings }, options);
}

/** `bytes` in chunks of uneven sizes, none of which meets a part edge on purpose. */
function chunked(bytes: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0, i = 0; offset < bytes.length; i += 1) {
    const next = Math.min(bytes.length, offset + 40_000 + ((i * 7919) % 90_000));
    chunks.push(bytes.subarray(offset, next));
    offset = next;
  }
  return Readable.from(chunks);
}

async function read(storage: S3Storage, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await storage.get(key)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest();

describe('multipart uploads', () => {
  let proxy: FaultProxy;

  beforeAll(async () => {
    const endpoint = new URL(s3.endpoint);
    proxy = await startFaultProxy(endpoint.hostname, Number(endpoint.port));
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it('doubles the part size every few parts, cut exactly where the store counts them', async () => {
    proxy.setFault({ kind: 'none' });
    // Parts of 5, 5, 10, 10 MiB and the rest: five parts, where fixed 5 MiB parts would be seven.
    const storage = storageThrough(proxy, randomPrefix('grow'), { verifyUpload: 'store' }, { partsPerStep: 2 });
    const bytes = randomBytes(33 * MiB + 7);
    await storage.put('grown.bin', chunked(bytes));
    const parts: Buffer[] = [];
    for (let offset = 0; offset < bytes.length; ) {
      const size = partSizeOf(parts.length + 1, 5 * MiB, 2);
      parts.push(sha256(bytes.subarray(offset, offset + size)));
      offset += size;
    }
    expect(parts).toHaveLength(5);
    const stored = await storage.storedChecksum?.('grown.bin');
    expect(stored).toEqual({ size: bytes.length, sha256: compositeSha256(parts) });
    expect((await read(storage, 'grown.bin')).equals(bytes)).toBe(true);
  });

  it('gives the memory of its part buffers back as soon as the upload is done, before any garbage collection', async () => {
    // Straight to the store: the proxy, in this process, would leave garbage buffers of its own.
    const storage = s3Storage(s3, randomPrefix('release'), { partSizeMiB: 5 });
    const bytes = randomBytes(33 * MiB);
    collectGarbage('sync');
    const before = process.memoryUsage().arrayBuffers;
    await storage.put('released.bin', chunked(bytes));
    // Up to five part buffers of 5 MiB (four on their way, one filling) would still be allocated here.
    const held = process.memoryUsage().arrayBuffers - before;
    expect(held).toBeLessThan(5 * MiB);
    expect(sha256(await read(storage, 'released.bin'))).toEqual(sha256(bytes));
  });

  it('sends a part again whole when its connection breaks half way', async () => {
    const storage = storageThrough(proxy, randomPrefix('resend'), { queueSize: 2 });
    const bytes = randomBytes(17 * MiB);
    // 7 MiB up is in the middle of the first two parts, which go side by side.
    proxy.setFault({ kind: 'reset', direction: 'up', bytes: 7 * MiB, once: true });
    await storage.put('resent.bin', chunked(bytes));
    expect(proxy.injected()).toBeGreaterThanOrEqual(1);
    proxy.setFault({ kind: 'none' });
    expect(sha256(await read(storage, 'resent.bin'))).toEqual(sha256(bytes));
  });

  it('signs each part with its SHA-256 unless the caller reads the object back: the store then checks nothing', async () => {
    // One part at a time: 8 MiB up is inside the second part's body, whatever the headers weigh.
    const storage = storageThrough(proxy, randomPrefix('unsigned'), { queueSize: 1 });
    const bytes = randomBytes(12 * MiB);
    const injected = proxy.injected();
    // Signed: the store finds the changed byte itself and refuses the part; no object is left.
    proxy.setFault({ kind: 'flip', bytes: 8 * MiB });
    await expect(storage.put('signed.bin', chunked(bytes))).rejects.toThrow(/signed\.bin/);
    expect(proxy.injected()).toBe(injected + 1);
    expect(await storage.head('signed.bin')).toBeUndefined();
    // Unsigned (readBack): nobody hashed the part, the store keeps the changed byte, and only the caller's
    // read-back can tell (a backup's read-back does: s3-faults.test.ts).
    proxy.setFault({ kind: 'flip', bytes: 8 * MiB });
    await storage.put('unsigned.bin', chunked(bytes), { readBack: true });
    expect(proxy.injected()).toBe(injected + 2);
    const stored = await read(storage, 'unsigned.bin');
    expect(stored.length).toBe(bytes.length);
    let differing = 0;
    for (let i = 0; i < bytes.length; i++) if (stored[i] !== bytes[i]) differing += 1;
    expect(differing).toBe(1);
    // Without a fault the unsigned upload stores the bytes as sent.
    proxy.setFault({ kind: 'none' });
    await storage.put('clean.bin', chunked(bytes), { readBack: true });
    expect(sha256(await read(storage, 'clean.bin'))).toEqual(sha256(bytes));
  });

  it('stops reading the source while the parts on their way go unanswered, and stops when aborted', async () => {
    const storage = storageThrough(proxy, randomPrefix('held'), { queueSize: 2, idleTimeout: '5m' });
    let pulled = 0;
    const source = new Readable({
      read() {
        pulled += 256 * 1024;
        this.push(Buffer.alloc(256 * 1024, pulled & 0xff));
      },
    });
    // No answer ever comes back: not to the upload's creation, not to any part.
    proxy.setFault({ kind: 'stall', bytes: 0, persist: true });
    const abort = new AbortController();
    const putting = storage.put('held.bin', source, { signal: abort.signal });
    putting.catch(() => undefined);
    // Two parts on their way and a third filled: the source is read that far and no further.
    await waitForCondition(() => pulled >= 3 * 5 * MiB, 30_000);
    expect(await settledValue(() => pulled, 300)).toBeLessThanOrEqual(3 * 5 * MiB + 2 * MiB);
    abort.abort(new Error('stopped by the test'));
    // The store answers again, for the clean-up after the abort.
    proxy.setFault({ kind: 'none' });
    await expect(putting).rejects.toThrow('stopped by the test');
    expect(source.destroyed).toBe(true);
    expect(await storage.head('held.bin')).toBeUndefined();
  });

  it('aborts the upload the store made when an abort cut its creation short, before the answer came', async () => {
    const prefix = randomPrefix('late');
    const key = `${prefix}late.bin`;
    const storage = storageThrough(proxy, prefix, {});
    // Listed at MinIO itself (not through the proxy), by the exact key.
    const uploadsOfKey = async () =>
      (await s3Client(s3).send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: key }))).Uploads ?? [];
    // Every chunk held 2 s each way: the store makes the upload 2 s after it is asked, and its answer (the
    // upload's id) reaches the client 2 s after that.
    proxy.setFault({ kind: 'delay', ms: 2000 });
    const abort = new AbortController();
    const putting = storage.put('late.bin', chunked(randomBytes(12 * MiB)), { signal: abort.signal });
    putting.catch(() => undefined);
    await waitForCondition(async () => (await uploadsOfKey()).length > 0, 20_000);
    abort.abort(new Error('stopped by the test'));
    proxy.setFault({ kind: 'none' });
    await expect(putting).rejects.toThrow('stopped by the test');
    expect(await uploadsOfKey()).toEqual([]);
    expect(await storage.head('late.bin')).toBeUndefined();
  });

  it('refuses an object larger than its parts can hold, names the setting, and leaves no upload behind', async () => {
    proxy.setFault({ kind: 'none' });
    const prefix = randomPrefix('cap');
    // Three parts of 5 MiB at the most: 16 MiB do not fit.
    const storage = storageThrough(proxy, prefix, {}, { maxParts: 3 });
    const source = chunked(randomBytes(16 * MiB));
    const error = await storage.put('big.bin', source).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LifeboatError);
    expect((error as LifeboatError).message).toContain('larger than the 0.01 GiB that 3 parts can hold');
    expect((error as LifeboatError).hint).toContain('storage.partSizeMiB');
    expect(source.destroyed).toBe(true);
    expect(await storage.head('big.bin')).toBeUndefined();
    const uploads = await s3Client(s3).send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: prefix }));
    expect(uploads.Uploads ?? []).toEqual([]);
  });
});
