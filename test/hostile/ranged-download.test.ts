// Downloads in ranged GETs side by side, against the real MinIO behind a fault proxy: the bytes come whole
// and in order, a connection that breaks costs one range (tried again), an object replaced during the
// download fails it instead of mixing two versions, and a reader that stops holds back the ranges.
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { randomPrefix, s3Client, s3Storage } from '../harness/s3.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { settledValue, waitForCondition } from './hostile-support.js';

const s3 = inject('s3');
const MiB = 1024 * 1024;

function storageThrough(proxy: FaultProxy, prefix: string, settings: object = {}): S3Storage {
  return s3Storage(s3, prefix, { endpoint: proxy.url, idleTimeout: '5s', ...settings });
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Reads a download through, hashing it; `pauseAt` bytes in, waits for `resume` before reading on. */
async function drain(
  stream: NodeJS.ReadableStream,
  pause?: { at: number; resume: Promise<void> },
): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  let paused = false;
  await pipeline(
    stream,
    new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        if (pause !== undefined && !paused && size >= pause.at) {
          paused = true;
          pause.resume.then(() => callback(), callback);
        } else callback();
      },
    }),
  );
  return { sha256: hash.digest('hex'), size };
}

describe('ranged downloads', () => {
  let proxy: FaultProxy;
  const prefix = randomPrefix('ranged');
  const bytes = randomBytes(9 * MiB + 12_345);

  beforeAll(async () => {
    const endpoint = new URL(s3.endpoint);
    proxy = await startFaultProxy(endpoint.hostname, Number(endpoint.port));
    await s3Client(s3).send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}big.bin`, Body: bytes }));
    await s3Client(s3).send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}empty.bin`, Body: Buffer.alloc(0) }),
    );
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it('brings the bytes whole and in order, in ranges side by side, and small or empty objects in one GET', async () => {
    const storage = storageThrough(proxy, prefix, { downloadRangeMiB: 1, downloadConcurrency: 3 });
    expect(await drain(await storage.get('big.bin'))).toEqual({ sha256: sha256(bytes), size: bytes.length });
    const single = storageThrough(proxy, prefix, { downloadConcurrency: 1 });
    expect(await drain(await single.get('big.bin'))).toEqual({ sha256: sha256(bytes), size: bytes.length });
    expect(await drain(await storage.get('empty.bin'))).toEqual({ sha256: sha256(Buffer.alloc(0)), size: 0 });
    await expect(storage.get('missing.bin')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('tries a range again when its connection breaks, and gives up when every try breaks', async () => {
    const storage = storageThrough(proxy, prefix, { downloadRangeMiB: 1, downloadConcurrency: 3 });
    proxy.setFault({ kind: 'reset', direction: 'down', bytes: 4 * MiB, once: true });
    const survived = await drain(await storage.get('big.bin'));
    expect(proxy.injected()).toBeGreaterThan(0);
    expect(survived).toEqual({ sha256: sha256(bytes), size: bytes.length });

    proxy.setFault({ kind: 'reset', direction: 'down', bytes: 4 * MiB });
    const broken = drain(await storage.get('big.bin'));
    await expect(broken).rejects.toMatchObject({ code: 'STORAGE', message: /read big\.bin/ });
    proxy.setFault({ kind: 'none' });
  });

  it('fails, naming the cause, when the object is replaced during the download', async () => {
    const key = 'replaced.bin';
    await s3Client(s3).send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${key}`, Body: bytes }));
    const storage = storageThrough(proxy, prefix, { downloadRangeMiB: 1, downloadConcurrency: 2 });
    const { promise: resumed, resolve: resume } = Promise.withResolvers<void>();
    const reading = drain(await storage.get(key), { at: 1, resume: resumed });
    const other = randomBytes(bytes.length);
    await s3Client(s3).send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${key}`, Body: other }));
    resume();
    await expect(reading).rejects.toThrow(/replaced\.bin .*the object changed during the download/);
  });

  it('holds back the ranges while the reader does not read: at most `downloadConcurrency` are fetched', async () => {
    const storage = storageThrough(proxy, prefix, { downloadRangeMiB: 1, downloadConcurrency: 2 });
    const { promise: resumed, resolve: resume } = Promise.withResolvers<void>();
    proxy.setFault({ kind: 'none' });
    const before = proxy.bytesDown();
    const reading = drain(await storage.get('big.bin'), { at: 1, resume: resumed });
    // The reader holds its first chunk; what comes down meanwhile settles at the ranges allowed ahead.
    const held = (await settledValue(() => proxy.bytesDown(), 300)) - before;
    expect(held).toBeGreaterThanOrEqual(2 * MiB);
    expect(held).toBeLessThan(4 * MiB);
    resume();
    expect(await reading).toEqual({ sha256: sha256(bytes), size: bytes.length });
  });

  it('stops every range at once when the reader aborts: the rest of the object is not fetched', async () => {
    const storage = storageThrough(proxy, prefix, { downloadRangeMiB: 1, downloadConcurrency: 3 });
    proxy.setFault({ kind: 'rate', bytesPerSecond: 4 * MiB });
    const controller = new AbortController();
    const reading = drain(await storage.get('big.bin', { signal: controller.signal }));
    await waitForCondition(() => proxy.bytesDown() >= MiB);
    controller.abort(new Error('stopped by the reader'));
    await expect(reading).rejects.toThrow('stopped by the reader');
    const settled = await settledValue(() => proxy.bytesDown(), 500);
    proxy.setFault({ kind: 'none' });
    expect(settled).toBeLessThan(bytes.length / 2);
  });
});
