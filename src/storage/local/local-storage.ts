// Local folder storage: writes go to a temporary name, are fsync'd, then renamed into place.
import { createHash, randomBytes as randomTag } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LocalStorageConfig } from '../../config/schema.js';
import { LifeboatError } from '../../errors.js';
import { syncFolder } from '../../sync-folder.js';
import {
  assertSafeKey,
  assertSafePrefix,
  notFound,
  type PutOptions,
  type Storage,
  type StoredObject,
  type Versioned,
} from '../storage.js';

/** Marks a file being written; such files are not listed and are removed by removeStaleUploads. */
export const TEMP_MARK = '.lifeboat-tmp-';

const READ_CHUNK = 1024 * 1024;

export class LocalStorage implements Storage {
  readonly location: string;
  readonly #root: string;

  constructor(config: Pick<LocalStorageConfig, 'path' | 'prefix'>) {
    assertSafePrefix(config.prefix);
    this.#root = join(config.path, ...config.prefix.split('/').filter(Boolean));
    this.location = `local:${this.#root}`;
  }

  /** An fs failure as a storage error naming the file and folder, with what to try. */
  #fail(verb: string, key: string, path: string, error: unknown): LifeboatError {
    const code = (error as NodeJS.ErrnoException).code;
    const hints: Record<string, string> = {
      ENOSPC: `free space on the file system of ${this.#root}, or prune old backups`,
      EDQUOT: `the disk quota for ${this.#root} is used up: raise it or prune old backups`,
      EACCES: `let the user Lifeboat runs as (uid ${process.getuid?.() ?? '?'}) write to ${this.#root}`,
      EPERM: `let the user Lifeboat runs as (uid ${process.getuid?.() ?? '?'}) write to ${this.#root}`,
      EROFS: `${this.#root} is on a read-only file system: mount it writable or choose another storage.path`,
      ENOTDIR: `a file stands where a folder of ${this.#root} should be: move it, or choose another storage.path`,
    };
    return new LifeboatError(
      'STORAGE',
      `storage: ${verb} ${key} at ${this.location}: ${code ?? (error as Error).message} (file ${path}, folder ${dirname(path)})`,
      // A full disk or a permission does not mend itself between retries; an I/O hiccup may.
      {
        cause: error,
        hint: code === undefined ? undefined : hints[code],
        retryable: code === undefined || !(code in hints),
      },
    );
  }

  #path(key: string): string {
    assertSafeKey(key);
    return join(this.#root, ...key.split('/'));
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    await this.#write(key, body, options.signal, (temp, path) => rename(temp, path));
  }

  /**
   * Writes `body` to a private temporary file beside the key's path, fsyncs it, and hands both paths to
   * `commit` (rename, or link for create-only); the temporary file is gone afterwards either way.
   */
  async #write<T>(
    key: string,
    body: Readable | Buffer,
    signal: AbortSignal | undefined,
    commit: (temp: string, path: string) => Promise<T>,
  ): Promise<T> {
    const path = this.#path(key);
    // Backups are copies of databases: private to the user Lifeboat runs as, whatever the umask says.
    await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
      throw this.#fail('write', key, path, error);
    });
    const temp = `${path}${TEMP_MARK}${randomTag(4).toString('hex')}`;
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    try {
      await pipeline(source, createWriteStream(temp, { flags: 'wx', mode: 0o600 }), { signal });
      const handle = await open(temp, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      const result = await commit(temp, path);
      await syncFolder(dirname(path));
      return result;
    } catch (error) {
      // The source's own failure (a dump that broke) and an abort are not the folder's fault.
      if (!isWriteError(error, temp)) throw error;
      throw this.#fail('write', key, temp, error);
    } finally {
      await rm(temp, { force: true });
    }
  }

  async readVersioned(key: string): Promise<Versioned | undefined> {
    const path = this.#path(key);
    try {
      const body = await readFile(path);
      return { body, version: versionOf(body) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.#fail('read', key, path, error);
    }
  }

  async createIfAbsent(key: string, body: Buffer): Promise<string | undefined> {
    // link() fails when the name exists, atomically, and publishes a file already whole.
    return this.#write(key, body, undefined, async (temp, path) => {
      try {
        await link(temp, path);
        return versionOf(body);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
        throw error;
      }
    });
  }

  async replaceIfVersion(key: string, body: Buffer, version: string): Promise<string | undefined> {
    const path = this.#path(key);
    const release = await this.#mutex(key, `${path}${TEMP_MARK}cas`);
    try {
      const current = await this.readVersioned(key);
      if (current === undefined || current.version !== version) return undefined;
      await this.#write(key, body, undefined, (temp, target) => rename(temp, target));
      return versionOf(body);
    } finally {
      await release();
    }
  }

  /**
   * An exclusive-create mutex file for one compare-and-swap (held for milliseconds). One left by a killed
   * process is broken once it is MUTEX_STALE_MS old, by a waiter that waits that long.
   */
  async #mutex(key: string, mutex: string): Promise<() => Promise<void>> {
    await mkdir(dirname(mutex), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
      throw this.#fail('write', key, mutex, error);
    });
    const deadline = Date.now() + MUTEX_WAIT_MS;
    for (;;) {
      try {
        await (await open(mutex, 'wx', 0o600)).close();
        return () => rm(mutex, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw this.#fail('write', key, mutex, error);
      }
      const info = await stat(mutex).catch(() => undefined);
      if (info !== undefined && Date.now() - info.mtimeMs > MUTEX_STALE_MS) await breakStaleMutex(mutex, info);
      else if (Date.now() > deadline) {
        throw new LifeboatError('STORAGE', `storage: update ${key} at ${this.location}: ${mutex} stays held`, {
          hint: `another process is updating ${key}; if none is, remove ${mutex}`,
        });
      } else await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
    }
  }

  async get(key: string): Promise<Readable> {
    const path = this.#path(key);
    try {
      await stat(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(key, this.location, error);
      throw new LifeboatError('STORAGE_READ', `storage: read ${key} from ${this.location}: ${code ?? String(error)}`, {
        cause: error,
        hint: code === 'EACCES' ? 'this user cannot read the store folder: run as its owner' : undefined,
      });
    }
    // 1 MiB reads, not the default 64 KiB: fewer trips through the pipeline (a verify of 255 MB of zstd took
    // 1.35 s against 1.83 s).
    return createReadStream(path, { highWaterMark: READ_CHUNK });
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
    await mkdir(this.#root, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
      throw this.#fail('create', 'the storage folder', this.#root, error);
    });
  }
}

/**
 * A compare-and-swap holds its mutex for milliseconds: one older than MUTEX_STALE_MS was left by a process
 * killed while it held it (SIGKILL, a stopped container). A waiter waits past that age, so such a mutex delays
 * the next update of its key by at most MUTEX_STALE_MS, and never fails it.
 */
const MUTEX_STALE_MS = 15_000;
const MUTEX_WAIT_MS = MUTEX_STALE_MS + 5_000;

/**
 * Removes the mutex file that `seen` (its stat) found stale, and only that one. Two writers may find one stale
 * mutex at once: the first breaks it and makes its own, and a plain remove by the second would then take that
 * new one away and let both in. So it is moved aside first, and what moved is put back when it is not the file
 * that was seen (another writer's, made since the look). A third writer in the moment between the move and the
 * put-back could still get in; that takes three writers on one key within microseconds of each other.
 */
export async function breakStaleMutex(
  mutex: string,
  seen: { ino: number; dev: number; mtimeMs: number },
): Promise<void> {
  const aside = `${mutex}-stale-${randomTag(6).toString('hex')}`;
  try {
    await rename(mutex, aside);
  } catch {
    return; // Gone already: another writer broke it.
  }
  const moved = await stat(aside).catch(() => undefined);
  // A file system may give a new file the inode of one just removed: the time tells them apart (a stale
  // mutex is at least MUTEX_STALE_MS old, a new one is not).
  if (moved !== undefined && (moved.ino !== seen.ino || moved.dev !== seen.dev || moved.mtimeMs !== seen.mtimeMs)) {
    await link(aside, mutex).catch(() => undefined);
  }
  await rm(aside, { force: true });
}

/** The version tag of a local object: the SHA-256 of its content. */
function versionOf(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/** A failure of the file system while writing `temp` (not of the source it was fed from). */
function isWriteError(error: unknown, temp: string): boolean {
  const { syscall, path } = error as NodeJS.ErrnoException;
  return (
    typeof syscall === 'string' &&
    ['open', 'write', 'fsync', 'close', 'rename', 'link'].includes(syscall) &&
    (path === undefined || path === temp)
  );
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
