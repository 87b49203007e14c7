// Local folder storage: writes go to a temporary name, are fsync'd, then renamed into place.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LocalStorageConfig } from '../../config/schema.js';
import { assertSafeKey, notFound, type PutOptions, type Storage, type StoredObject } from '../storage.js';

/** Marks a file being written; such files are not listed and are removed by removeStaleUploads. */
export const TEMP_MARK = '.lifeboat-tmp-';

export class LocalStorage implements Storage {
  readonly location: string;
  readonly #root: string;

  constructor(config: Pick<LocalStorageConfig, 'path' | 'prefix'>) {
    this.#root = join(config.path, ...config.prefix.split('/').filter(Boolean));
    this.location = `local:${this.#root}`;
  }

  #path(key: string): string {
    assertSafeKey(key);
    return join(this.#root, ...key.split('/'));
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}${TEMP_MARK}${randomBytes(4).toString('hex')}`;
    try {
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      await pipeline(source, createWriteStream(temp, { flags: 'wx' }), { signal: options.signal });
      const handle = await open(temp, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
      await syncDirectory(dirname(path));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Readable> {
    const path = this.#path(key);
    try {
      await stat(path);
    } catch (error) {
      throw notFound(key, this.location, error);
    }
    return createReadStream(path);
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      const info = await stat(this.#path(key));
      return info.isFile() ? { size: info.size } : undefined;
    } catch {
      return undefined;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const found: StoredObject[] = [];
    await walk(this.#root, async (file, size) => {
      const key = relative(this.#root, file).split(sep).join('/');
      if (key.startsWith(prefix) && !key.includes(TEMP_MARK)) found.push({ key, size });
    });
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const path = this.#path(key);
      await rm(path, { force: true });
      await removeEmptyParents(dirname(path), this.#root);
    }
  }

  async removeStaleUploads(prefix: string, olderThan: Date): Promise<number> {
    let removed = 0;
    await walk(this.#root, async (file) => {
      const key = relative(this.#root, file).split(sep).join('/');
      if (!key.startsWith(prefix) || !key.includes(TEMP_MARK)) return;
      const info = await stat(file).catch(() => undefined);
      if (info === undefined || info.mtimeMs >= olderThan.getTime()) return;
      await rm(file, { force: true });
      await removeEmptyParents(dirname(file), this.#root);
      removed += 1;
    });
    return removed;
  }

  async check(): Promise<void> {
    await mkdir(this.#root, { recursive: true });
  }
}

async function walk(dir: string, visit: (file: string, size: number) => Promise<void>): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path, visit);
    else if (entry.isFile()) await visit(path, (await stat(path)).size);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function removeEmptyParents(dir: string, root: string): Promise<void> {
  let current = dir;
  while (current.startsWith(root) && current !== root) {
    try {
      const entries = await readdir(current);
      if (entries.length > 0) return;
      await rmdir(current);
    } catch {
      return;
    }
    current = dirname(current);
  }
}
