// SQLite driver: consistent online copy with the SQLite backup API, integrity_check, atomic restore.

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import type { TableStats } from '../../catalog/manifest.js';
import { now } from '../../clock.js';
import type { SqliteTargetConfig } from '../../config/schema.js';
import { LifeboatError } from '../../errors.js';
import { ensureRoom, measureRoom } from '../../free-space.js';
import { syncFolder } from '../../sync-folder.js';
import { makeWorkDir, removeStaleWorkDirs, withSpooledFile } from '../../work-dir.js';
import type {
  DestinationState,
  Driver,
  DumpSession,
  Landing,
  RestoredState,
  RestoreOptions,
  Scratch,
} from '../driver.js';

const ALL_PAGES = 0x7fffffff;

export class SqliteDriver implements Driver {
  readonly name = 'sqlite';
  readonly #config: SqliteTargetConfig;

  constructor(config: SqliteTargetConfig) {
    this.#config = config;
  }

  async dump(signal?: AbortSignal): Promise<DumpSession> {
    const path = this.#config.path;
    if (!existsSync(path)) {
      throw new LifeboatError('SOURCE', `sqlite: open ${path}: no such file`, {
        hint: `check targets "${this.#config.name}" path`,
      });
    }
    // What killed runs left in the temp folder goes first: each copy is as large as the database.
    await removeStaleWorkDirs();
    const workDir = await makeWorkDir('sqlite').catch((error: unknown) => {
      throw tempFolderError(`sqlite: back up ${path}: create a work folder in ${tmpdir()}`, error);
    });
    const copy = join(workDir, 'database.sqlite3');
    const cleanup = () => rm(workDir, { recursive: true, force: true });
    try {
      let source: Database.Database;
      try {
        source = new Database(path, { readonly: true, fileMustExist: true });
      } catch (error) {
        throw new LifeboatError('SOURCE', `sqlite: open ${path}: ${(error as Error).message}`, {
          cause: error,
          hint: `check targets "${this.#config.name}" path and that Lifeboat may read it`,
        });
      }
      try {
        // The copy is as large as the database's pages (those in its WAL included): measured before it is made.
        const pages = Number(source.pragma('page_count', { simple: true }));
        const room = await measureRoom({
          folder: workDir,
          bytes: pages * Number(source.pragma('page_size', { simple: true })),
          why: 'the consistent copy is made there, then compressed and stored',
          hint: `free space in the temp folder ${tmpdir()}, or point TMPDIR at a larger folder`,
        });
        ensureRoom(room, `sqlite: back up ${path}`, 'the backups before this one are untouched');
        // All pages in one step, under one read transaction: the copy is one consistent state, and a
        // busy writer cannot force endless restarts (in WAL mode it is not blocked either).
        await source.backup(copy, { progress: () => ALL_PAGES }).catch((error: unknown) => {
          // The source was opened and read; a failure writing the copy is the temp folder's (full, read-only).
          throw tempFolderError(`sqlite: back up ${path}: write the copy ${copy}`, error);
        });
      } finally {
        source.close();
      }
      signal?.throwIfAborted();
      const snapshotAt = now();
      const { stats, version, problems } = inspectCopy(copy, true);
      if (problems.length > 0) {
        throw new LifeboatError('INTEGRITY', `sqlite: integrity_check of the copy of ${path}: ${problems.join('; ')}`);
      }
      const file = createReadStream(copy);
      const stream = checkPageCount(file, path);
      const done = finished(stream).finally(cleanup);
      done.catch(() => undefined);
      return {
        stream,
        fileName: 'database.sqlite3',
        format: 'sqlite3',
        snapshotAt,
        source: { path, sqliteVersion: version },
        stats: { tables: stats },
        done,
        abort: () => {
          file.destroy();
          stream.destroy();
        },
      };
    } catch (error) {
      await cleanup();
      if (error instanceof LifeboatError) throw error;
      throw new LifeboatError('SOURCE', `sqlite: back up ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  async inspectDestination(destination?: string): Promise<DestinationState> {
    const path = resolve(destination ?? this.#config.path);
    let size = 0;
    try {
      size = (await stat(path)).size;
    } catch {
      return { description: path, hasData: false, detail: 'file does not exist' };
    }
    if (size === 0) return { description: path, hasData: false, detail: 'empty file' };
    let tables = 0;
    try {
      const db = new Database(path, { readonly: true, fileMustExist: true });
      try {
        tables = listTables(db).length;
      } finally {
        db.close();
      }
    } catch {
      return { description: path, hasData: true, detail: `${size} bytes, not a readable SQLite database` };
    }
    return { description: path, hasData: true, detail: `${size} bytes, ${tables} tables` };
  }

  landing(destination: string | undefined, found: DestinationState): Landing {
    return {
      folder: dirname(resolve(destination ?? this.#config.path)),
      why: found.hasData
        ? 'the restored file is written beside the old one, which stays until the new one proved itself'
        : 'the restored file is written there',
      hint: 'free space on that file system, or restore --to a folder with room and move the file in while the application is stopped',
    };
  }

  async restore(raw: Readable, destination: string | undefined, options: RestoreOptions): Promise<void> {
    const path = resolve(destination ?? this.#config.path);
    const temp = join(dirname(path), `.${basename(path)}.lifeboat-restore-${randomBytes(4).toString('hex')}`);
    try {
      await pipeline(raw, createWriteStream(temp, { flags: 'wx', mode: 0o600 }), { signal: options.signal });
      const { problems } = inspectCopy(temp, false);
      if (problems.length > 0) {
        throw new LifeboatError('INTEGRITY', `sqlite: integrity_check of the restored file: ${problems.join('; ')}`);
      }
      await replaceDatabase(path, temp);
    } finally {
      await rm(temp, { force: true });
    }
  }

  async createScratch(label: string, to: string | undefined): Promise<Scratch> {
    const base = to ?? tmpdir();
    await mkdir(base, { recursive: true });
    const dir = await mkdtemp(join(base, `lifeboat-drill-${label}-`));
    const destination = join(dir, `${this.#config.name}.sqlite3`);
    if (resolve(destination) === resolve(this.#config.path)) {
      throw new LifeboatError('DRILL_DESTINATION', `sqlite: drill scratch ${destination} is the live database`);
    }
    return {
      destination,
      description: `scratch file ${destination}`,
      drop: () => rm(dir, { recursive: true, force: true }),
    };
  }

  async inspectRestored(destination: string): Promise<RestoredState> {
    const { stats, problems } = inspectCopy(destination, false);
    return {
      integrity: 'PRAGMA integrity_check: ok',
      problems: problems.map((p) => `integrity_check: ${p}`),
      tables: stats,
    };
  }

  async queryValue(destination: string, sql: string): Promise<unknown> {
    const db = new Database(destination, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare(sql).raw().get() as unknown[] | undefined;
      return row?.[0];
    } finally {
      db.close();
    }
  }

  async checkDump(raw: Readable): Promise<string[]> {
    return withSpooledFile('verify', 'database.sqlite3', raw, undefined, async (file) =>
      inspectCopy(file, false).problems.map((p) => `integrity_check: ${p}`),
    );
  }
}

/**
 * Puts `temp` in the place of the database at `path`, holding SQLite's exclusive lock on the old file while
 * it does: a process that has the database open in WAL mode, or is inside a transaction, makes it refuse
 * (--force does not override that). The old file's WAL is checkpointed into it, then its journal, WAL and
 * shared-memory files go: a hot journal left beside the new file would be "rolled back" into it on the next
 * open and corrupt it. A destination that cannot be renamed over (a mount point) is refused, untouched. The new
 * file keeps the old one's mode and owner.
 */
async function replaceDatabase(path: string, temp: string): Promise<void> {
  const before = await stat(path).catch(() => undefined);
  const lock = before === undefined || before.size === 0 ? undefined : lockExclusively(path);
  try {
    if (before !== undefined) {
      await chmod(temp, before.mode & 0o7777);
      if (before.uid !== process.getuid?.() || before.gid !== process.getgid?.()) {
        await chown(temp, before.uid, before.gid).catch((error: NodeJS.ErrnoException) => {
          throw new LifeboatError(
            'DESTINATION_OWNER',
            `sqlite: restore into ${path}: cannot give the new file the owner ${before.uid}:${before.gid} of the old one (${error.code}); destination untouched`,
            { cause: error, hint: "run the restore as the database file's owner (or as root)" },
          );
        });
      }
    }
    for (const suffix of ['-journal', '-wal', '-shm']) await rm(`${path}${suffix}`, { force: true });
    await rename(temp, path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EBUSY' && error.code !== 'EXDEV') throw error;
      throw new LifeboatError(
        'DESTINATION',
        `sqlite: restore into ${path}: it cannot be replaced (${error.code}: a mount point, such as a single file bound into a container); destination untouched`,
        {
          cause: error,
          hint: 'mount the folder that holds the database rather than the file alone (SQLite keeps its -wal and -journal files beside it), or restore --to another path and move the file in while the application is stopped',
        },
      );
    });
    await syncFolder(dirname(path));
  } finally {
    lock?.close();
  }
}

/** Opens `path` and takes SQLite's exclusive lock, or refuses while another process uses the database. */
function lockExclusively(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true, timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    db.exec('COMMIT');
    // Commits that live only in a WAL (its writer killed before a checkpoint) move into the file itself, so
    // removing the side files cannot lose them if the restore stops before the new file is in place.
    const [checkpoint] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (checkpoint !== undefined && checkpoint.busy !== 0) {
      throw Object.assign(new Error('the checkpoint of its WAL was blocked'), { code: 'SQLITE_BUSY' });
    }
    return db;
  } catch (error) {
    db?.close();
    const code = (error as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      throw new LifeboatError(
        'DESTINATION_IN_USE',
        `sqlite: restore into ${path}: another process has the database open or locked (${(error as Error).message}); destination untouched`,
        {
          hint: 'stop the application (every process using the file) and run the restore again; --force does not override this',
        },
      );
    }
    throw new LifeboatError(
      'DESTINATION',
      `sqlite: restore into ${path}: open the old database: ${(error as Error).message}`,
      {
        cause: error,
        hint: 'a file that is not a SQLite database is not replaced; move it away, or restore --to another path',
      },
    );
  }
}

/** A failure writing into the temp folder, named as such (not as a problem of the source database). */
function tempFolderError(what: string, error: unknown): LifeboatError {
  const code = (error as NodeJS.ErrnoException).code;
  const message = (error as Error).message;
  const full = code === 'ENOSPC' || code === 'SQLITE_FULL' || /disk is full|no space/i.test(message);
  return new LifeboatError('TEMP_FOLDER', `${what}: ${message}`, {
    cause: error,
    hint: full
      ? `free space in the temp folder ${tmpdir()} (it needs room for one copy of the database), or point TMPDIR at a larger folder`
      : `check that the temp folder ${tmpdir()} is writable, or point TMPDIR at another folder`,
  });
}

function listTables(db: Database.Database): string[] {
  return db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
}

/** Runs integrity_check and counts rows; with `standalone`, turns the copy into a rollback-journal file. */
function inspectCopy(file: string, standalone: boolean): { stats: TableStats[]; version: string; problems: string[] } {
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, readonly: !standalone });
  } catch (error) {
    return { stats: [], version: '', problems: [(error as Error).message] };
  }
  try {
    if (standalone) db.pragma('journal_mode = DELETE');
    const result = db.pragma('integrity_check') as { integrity_check: string }[];
    const problems = result.map((row) => row.integrity_check).filter((line) => line !== 'ok');
    if (problems.length > 0) return { stats: [], version: '', problems };
    const stats = listTables(db).map((name) => ({
      name,
      rows: Number(
        db
          .prepare(`SELECT count(*) FROM "${name.replaceAll('"', '""')}"`)
          .pluck()
          .get(),
      ),
    }));
    const version = String(db.prepare('SELECT sqlite_version()').pluck().get());
    return { stats, version, problems: [] };
  } catch (error) {
    return { stats: [], version: '', problems: [(error as Error).message] };
  } finally {
    db.close();
  }
}

const HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Passes a database file on, failing it at the end unless it is as long as its own header says: the page size
 * (bytes 16-17; 1 means 65536) times the page count (bytes 28-31). A copy cut short is never a backup.
 */
export function checkPageCount(source: Readable, path: string): Readable {
  let header = Buffer.alloc(0);
  let bytes = 0;
  const incomplete = (why: string) =>
    new LifeboatError('DUMP_INCOMPLETE', `sqlite: the copy of ${path} is not a whole database: ${why}`, {
      hint: 'the temporary copy was cut short (a full or failing temp folder?); the backups before this one are untouched',
    });
  const check = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (header.length < 100) header = Buffer.concat([header, chunk.subarray(0, 100 - header.length)]);
      bytes += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      if (header.length < 100 || !header.subarray(0, 16).equals(HEADER)) {
        callback(incomplete(`${bytes} bytes, without a whole SQLite header`));
        return;
      }
      const raw = header.readUInt16BE(16);
      const pageSize = raw === 1 ? 65536 : raw;
      const expected = pageSize * header.readUInt32BE(28);
      if (bytes !== expected) {
        callback(
          incomplete(
            `${bytes} bytes, but its header promises ${header.readUInt32BE(28)} pages of ${pageSize} bytes (${expected} bytes)`,
          ),
        );
        return;
      }
      callback();
    },
  });
  source.once('error', (error) => check.destroy(error));
  return source.pipe(check);
}
