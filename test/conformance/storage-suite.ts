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

    it('creates an object only where none is, and exactly one of racing creators wins', async () => {
      const storage = await fixture.make();
      const first = await storage.createIfAbsent('l/lease.json', Buffer.from('{"n":1}'));
      expect(first).toEqual(expect.any(String));
      expect(await storage.createIfAbsent('l/lease.json', Buffer.from('{"n":2}'))).toBeUndefined();
      const read = await storage.readVersioned('l/lease.json');
      expect(read?.body.toString()).toBe('{"n":1}');
      expect(read?.version).toBe(first);
      const racers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => storage.createIfAbsent('l/race.json', Buffer.from(`{"racer":${i}}`))),
      );
      const winners = racers.filter((version) => version !== undefined);
      expect(winners).toHaveLength(1);
      const stored = await storage.readVersioned('l/race.json');
      expect(stored?.version).toBe(winners[0]);
      expect(await storage.readVersioned('l/absent.json')).toBeUndefined();
      // Conditional objects are objects like any other, listed and sized.
      expect(await keysOf(storage, 'l/')).toEqual(['l/lease.json', 'l/race.json']);
    });

    it('replaces an object only while it has the version read, and exactly one of racing writers wins', async () => {
      const storage = await fixture.make();
      const v1 = (await storage.createIfAbsent('c/lease.json', Buffer.from('one'))) as string;
      const v2 = await storage.replaceIfVersion('c/lease.json', Buffer.from('two'), v1);
      expect(v2).toEqual(expect.any(String));
      expect(v2).not.toBe(v1);
      // The version read before the change is stale now.
      expect(await storage.replaceIfVersion('c/lease.json', Buffer.from('three'), v1)).toBeUndefined();
      expect((await storage.readVersioned('c/lease.json'))?.body.toString()).toBe('two');
      expect(await storage.replaceIfVersion('c/missing.json', Buffer.from('x'), v1)).toBeUndefined();
      expect(await storage.head('c/missing.json')).toBeUndefined();
      const racers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          storage.replaceIfVersion('c/lease.json', Buffer.from(`racer ${i}`), v2 as string),
        ),
      );
      const winners = racers.flatMap((version, i) => (version === undefined ? [] : [i]));
      expect(winners).toHaveLength(1);
      expect((await storage.readVersioned('c/lease.json'))?.body.toString()).toBe(`racer ${winners[0]}`);
      expect(await keysOf(storage, 'c/')).toEqual(['c/lease.json']);
    });

    it('checks that the store answers', async () => {
      const storage = await fixture.make();
      await expect(storage.check()).resolves.toBeUndefined();
    });
  });
}
