// The folder store's compare-and-swap mutex: breaking a stale one takes away that one only, on real files.
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { breakStaleMutex } from '../../src/storage/local/local-storage.js';

describe('breaking a stale compare-and-swap mutex', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  /** A mutex file made `ageMs` ago in a new folder, with its stat as a writer saw it. */
  async function staleMutex(ageMs: number) {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-mutex-'));
    dirs.push(dir);
    const mutex = join(dir, 'lease.json.lifeboat-tmp-cas');
    await writeFile(mutex, 'killed writer');
    const at = new Date(Date.now() - ageMs);
    await utimes(mutex, at, at);
    return { dir, mutex, seen: await stat(mutex) };
  }

  it('removes the mutex that was seen stale, and leaves nothing beside it', async () => {
    const { dir, mutex, seen } = await staleMutex(20_000);
    await breakStaleMutex(mutex, seen);
    expect(await readdir(dir)).toEqual([]);
  });

  it('puts back a mutex another writer made after the look (even on the inode of the stale one)', async () => {
    const { dir, mutex, seen } = await staleMutex(20_000);
    // Between this writer's look and its break, another broke the stale mutex and made its own.
    await rm(mutex);
    await writeFile(mutex, 'live writer');
    await breakStaleMutex(mutex, seen);
    expect(await readFile(mutex, 'utf8')).toBe('live writer');
    expect(await readdir(dir)).toEqual(['lease.json.lifeboat-tmp-cas']);
  });

  it('does nothing when the mutex is already gone', async () => {
    const { dir, mutex, seen } = await staleMutex(20_000);
    await rm(mutex);
    await breakStaleMutex(mutex, seen);
    expect(await readdir(dir)).toEqual([]);
  });
});
