// The contract every storage backend must pass, hostile cases included (run for local and for real S3).
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import type { Storage } from '../../src/storage/storage.js';

export interface StorageFixture {
  /** A fresh, empty store (its own prefix or folder) for each test. */
  make(): Promise<Storage>;
}

async function keysOf(storage: Storage, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of storage.list(prefix)) keys.push(object.key);
  return keys;
}

function failingStream(goodBytes: number): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(randomBytes(goodBytes));
      } else {
        this.destroy(new Error('source broke half way'));
      }
    },
  });
}

export function describeStorage(name: string, fixture: StorageFixture): void {
  describe(`storage contract: ${name}`, () => {
    it('stores a stream and reads back the same bytes, with head reporting the size', async () => {
      const storage = await fixture.make();
      const data = randomBytes(3 * 1024 * 1024 + 17);
      await storage.put('t/a/blob.gz', Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
      expect(await storage.head('t/a/blob.gz')).toEqual({ size: data.length });
      expect((await buffer(await storage.get('t/a/blob.gz'))).equals(data)).toBe(true);
    });

    it('stores a buffer and overwrites an existing key whole', async () => {
      const storage = await fixture.make();
      await storage.put('k', Buffer.from('first version, longer'));
      await storage.put('k', Buffer.from('second'));
      expect((await buffer(await storage.get('k'))).toString()).toBe('second');
    });

    it('answers head with undefined and get with NOT_FOUND for a missing key', async () => {
      const storage = await fixture.make();
      expect(await storage.head('missing/key')).toBeUndefined();
      await expect(storage.get('missing/key')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('lists by prefix in key order, following pagination', async () => {
      const storage = await fixture.make();
      const keys = Array.from({ length: 23 }, (_, i) => `t/${String(i).padStart(3, '0')}/manifest.json`);
      await Promise.all([...keys].reverse().map((key) => storage.put(key, Buffer.from(key))));
      await storage.put('other/x', Buffer.from('x'));
      const listed: { key: string; size: number }[] = [];
      for await (const object of storage.list('t/')) listed.push(object);
      expect(listed.map((o) => o.key)).toEqual(keys);
      expect(listed.every((o, i) => o.size === (keys[i] as string).length)).toBe(true);
      expect(await keysOf(storage, 'other/')).toEqual(['other/x']);
      expect(await keysOf(storage, 'nothing/')).toEqual([]);
    });

    it('deletes many keys; absent keys are not an error', async () => {
      const storage = await fixture.make();
      await storage.put('d/1', Buffer.from('1'));
      await storage.put('d/2', Buffer.from('2'));
      await storage.put('d/3', Buffer.from('3'));
      await storage.delete(['d/1', 'd/3', 'd/never-existed']);
      expect(await keysOf(storage, 'd/')).toEqual(['d/2']);
    });

    it('leaves no object when the source stream fails half way', async () => {
      const storage = await fixture.make();
      await expect(storage.put('broken/blob', failingStream(6 * 1024 * 1024))).rejects.toThrow(/source broke half way/);
      expect(await storage.head('broken/blob')).toBeUndefined();
      expect(await keysOf(storage)).toEqual([]);
    });

    it('leaves no object when the upload is aborted', async () => {
      const storage = await fixture.make();
      const controller = new AbortController();
      let pushed = 0;
      const endless = new Readable({
        read() {
          pushed += 256 * 1024;
          // The abort arrives from outside, as a signal handler would deliver it.
          if (pushed > 8 * 1024 * 1024 && !controller.signal.aborted)
            setImmediate(() => controller.abort(new Error('stop now')));
          this.push(randomBytes(256 * 1024));
        },
      });
      await expect(storage.put('aborted/blob', endless, { signal: controller.signal })).rejects.toThrow();
      expect(await keysOf(storage)).toEqual([]);
    });

    it('finds and removes the leftover of an unfinished write, and only when it is older than asked', async () => {
      const storage = await fixture.make();
      const controller = new AbortController();
      let sent = 0;
      // 12 MiB, then the source stalls: the write is under way (a temp file, or a multipart upload) but unfinished.
      const stalled = new Readable({
        read() {
          if (sent < 12 * 1024 * 1024) {
            sent += 1024 * 1024;
            this.push(randomBytes(1024 * 1024));
          }
        },
      });
      const writing = storage.put('stale/1/blob.gz', stalled, { signal: controller.signal }).catch((e: unknown) => e);
      await storage.put('stale/2/kept', Buffer.from('kept'));
      expect(await storage.removeStaleUploads('stale/', new Date(Date.now() - 3_600_000))).toBe(0);
      let removed = 0;
      for (let i = 0; i < 100 && removed === 0; i += 1) {
        removed = await storage.removeStaleUploads('stale/', new Date(Date.now() + 60_000));
        if (removed === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(removed).toBe(1);
      expect(await storage.removeStaleUploads('stale/', new Date(Date.now() + 60_000))).toBe(0);
      controller.abort(new Error('stop'));
      await writing;
      expect(await keysOf(storage, 'stale/')).toEqual(['stale/2/kept']);
    });

    it('refuses keys that would escape the store', async () => {
      const storage = await fixture.make();
      await expect(storage.put('../outside', Buffer.from('x'))).rejects.toThrow(/unsafe object key/);
      await expect(storage.put('/abs', Buffer.from('x'))).rejects.toThrow(/unsafe object key/);
    });

    it('checks that the store answers', async () => {
      const storage = await fixture.make();
      await expect(storage.check()).resolves.toBeUndefined();
    });
  });
}
