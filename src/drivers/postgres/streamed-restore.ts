// A parallel restore of a custom-format dump as it downloads, into a destination that holds no data: the
// archive is read as it flows (CustomArchiveReader), its schema made by pg_restore from the table of contents
// alone, each table's COPY text cut at row ends into pieces of about PIECE_BYTES, each piece loaded by one of
// `jobs` psql sessions while the stream goes on (a big table by all of them at once), and the indexes and
// constraints built by `pg_restore --jobs` at the end. pg_restore alone cannot start before the whole file is
// there: a dump written to a pipe has no offsets for its data; and its --jobs loads a table in one session,
// so the biggest table bounds it.
//
// Nothing is committed before the backup proved itself: each session loads its pieces in one transaction
// and commits only once the stream ended (the stream's end is gated on its checksums). On any failure the
// sessions roll back and the schema this restore made is dropped again, so the destination is left as
// empty as it was found. The pieces wait on disk, a few at most: the stream waits for the loaders.
import { once } from 'node:events';
import { type FileHandle, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describeError, LifeboatError, type LifeboatErrorOptions } from '../../errors.js';
import { makeWorkDir } from '../../work-dir.js';
import { runTool, type ToolProcess } from '../run-tool.js';
import { CustomArchiveReader, SECTION, type TocEntry } from './custom-archive.js';

export interface StreamedRestoreOptions {
  readonly pgRestore: string;
  readonly psql: string;
  /** libpq's environment for the destination (PGHOST, PGDATABASE, PGPASSWORD, PGAPPNAME, ...). */
  readonly env: NodeJS.ProcessEnv;
  readonly database: string;
  readonly jobs: number;
  readonly signal?: AbortSignal;
  /** Runs SQL on the destination and answers its rows (the clean-up after a failure). */
  readonly query: (sql: string, params?: unknown[]) => Promise<unknown[][]>;
}

/**
 * A streamed restore that stopped; `leftBehind` says what the destination holds when it is not as empty as it
 * was found (a phrase after its name: "holds the schema this restore made (dropping it failed: ...)").
 */
export class StreamedRestoreStopped extends LifeboatError {
  override readonly name = 'StreamedRestoreStopped';
  constructor(
    message: string,
    readonly leftBehind: string | undefined,
    options: LifeboatErrorOptions,
  ) {
    super('RESTORE_INPUT', message, options);
  }
}

/** Entries of the data section this restore runs itself; an archive with any other is left to pg_restore. */
const DATA_ENTRIES = new Set(['TABLE DATA', 'SEQUENCE SET']);

/**
 * The objects of the schema step that the clean-up drops (with what depends on them). Never DATABASE: that
 * entry names the source database, and pg_restore runs it only with --create.
 */
const DROPPED = new Set([
  'SCHEMA',
  'EXTENSION',
  'TYPE',
  'DOMAIN',
  'FUNCTION',
  'PROCEDURE',
  'AGGREGATE',
  'COLLATION',
  'TABLE',
  'SEQUENCE',
  'VIEW',
  'MATERIALIZED VIEW',
  'FOREIGN TABLE',
]);

/** Session settings pg_restore makes before it restores (its fixed output state), for the loading sessions. */
const SESSION_SETTINGS = [
  'SET statement_timeout = 0;',
  'SET lock_timeout = 0;',
  // A session waits in its transaction until the whole backup proved itself.
  'SET idle_in_transaction_session_timeout = 0;',
  'SET row_security = off;',
  'SET check_function_bodies = false;',
  'SET client_min_messages = warning;',
];

/** Descriptions of the settings entries of the table of contents (encoding, strings, search path). */
const SETTINGS_ENTRIES = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH']);

/** Spool chunks read back for a loader: big enough for few reads, small enough for little memory. */
const READ_SIZE = 1024 * 1024;

/**
 * The size at which a table's COPY text goes on in a new piece (at the next row end): small enough that the
 * sessions share a big table evenly and the spools stay small, big enough for few COPY statements.
 */
const PIECE_BYTES = 16 * 1024 * 1024;

const NEWLINE = 0x0a;

/** A custom-format archive whose head was read off its stream: who restores it, and its bytes from the first. */
export interface ArchiveHead {
  /**
   * The table of contents when the streamed restore runs every entry itself; undefined when the archive
   * holds what it does not (large objects, data compressed by pg_dump, an unknown entry), or its head is one
   * this reader does not read (an unknown layout, or no archive at all): then it is pg_restore's, whose own
   * error says what is wrong with it.
   */
  readonly toc: readonly TocEntry[] | undefined;
  /** The archive from its first byte: the bytes read for the head, then the rest of the stream. */
  readonly bytes: () => AsyncGenerator<Buffer>;
  /** The same, as a stream (for pg_restore). */
  readonly stream: () => Readable;
  /** Lets go of the stream (after a failure): the download must not wait for a reader that is gone. */
  readonly stop: () => void;
}

/** Reads the head of the archive `raw` streams (nothing more): what it promises decides who restores. */
export async function readArchiveHead(raw: Readable): Promise<ArchiveHead> {
  const iterator = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const seen: Buffer[] = [];
  let toc: readonly TocEntry[] | undefined;
  let unsupported = false;
  const probe = new CustomArchiveReader({
    head: (_bytes, entries) => {
      toc = entries;
    },
  });
  while (toc === undefined && !unsupported) {
    const next = await iterator.next();
    if (next.done) break;
    seen.push(next.value);
    try {
      probe.push(next.value);
    } catch {
      // A defect after the head is the restoring reader's to find; a head this reader does not read is
      // pg_restore's.
      if (toc === undefined) unsupported = true;
    }
  }
  const bytes = async function* () {
    yield* seen;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  };
  return {
    toc: unsupported || toc === undefined || !streamable(toc) ? undefined : toc,
    bytes,
    stream: () => Readable.from(bytes(), { objectMode: false }),
    stop: () => raw.destroy(),
  };
}

/**
 * Restores `archive`, whose head (`toc`, its table of contents) says the streamed restore runs it, into the
 * empty destination `options.env` names. Rejects on any failure with the destination as empty as it was
 * found, or with a StreamedRestoreStopped that says what is left.
 */
export async function restoreStreamed(
  toc: readonly TocEntry[],
  archive: ArchiveHead,
  options: StreamedRestoreOptions,
): Promise<void> {
  try {
    await new Restore(options).run(toc, archive.bytes, archive.stop);
  } catch (error) {
    archive.stop();
    throw error;
  }
}

/**
 * Whether this restore runs every entry with data, and every entry of the data section, itself, and whether
 * a failure's clean-up can drop everything its schema step makes (`undo`: an object of another kind, a cast
 * or an operator, or one whose drop statement it does not know, sends the archive the spooled way).
 */
function streamable(toc: readonly TocEntry[]): boolean {
  return toc.every(
    (e) =>
      (e.hasData ? e.desc === 'TABLE DATA' && e.copyStmt !== '' : true) &&
      (e.section !== SECTION.data || DATA_ENTRIES.has(e.desc)) &&
      (e.section !== SECTION.preData || !creates(e) || NOT_MADE.has(e.desc) || undo(e) !== undefined),
  );
}

/** Whether an entry makes an object of its own: a CREATE that fails on one that is there already. */
function creates(entry: TocEntry): boolean {
  const create = entry.defn.trim();
  return create.startsWith('CREATE ') && !/^CREATE [^\n]*IF NOT EXISTS/.test(create);
}

/** Wakes everyone waiting at once; each looks again at what changed (and may wait again). */
class Changed {
  #waiting: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  notify(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

/** A file that one side appends to while the other reads it from the start, until it is closed. */
class Spool {
  #written = 0;
  #reserved = 0;
  #closed = false;
  #failed: unknown;
  readonly #file: Promise<FileHandle>;
  #appending: Promise<void>;
  #pending: Buffer[] = [];
  readonly #changed = new Changed();

  constructor(readonly path: string) {
    this.#file = open(path, 'w+', 0o600);
    this.#appending = this.#file.then(() => undefined);
    this.#appending.catch((error: unknown) => this.#fail(error));
  }

  /** Keeps `bytes` for the next flush: the archive gives a chunk per row, far too small for a write each. */
  add(bytes: Buffer): void {
    this.#pending.push(bytes);
  }

  /** Writes what was added since the last flush (in order); the promise settles when it is in the file. */
  flush(): Promise<void> {
    if (this.#pending.length === 0) return this.#appending;
    const bytes = Buffer.concat(this.#pending);
    this.#pending = [];
    const at = this.#reserved;
    this.#reserved += bytes.length;
    this.#appending = this.#appending.then(async () => {
      await (await this.#file).write(bytes, 0, bytes.length, at);
      this.#written = at + bytes.length;
      this.#changed.notify();
    });
    this.#appending.catch((error: unknown) => this.#fail(error));
    return this.#appending;
  }

  /** No more bytes: a reader ends once it has read them all. The promise settles when all are written. */
  close(): Promise<void> {
    return this.flush().then(() => {
      this.#closed = true;
      this.#changed.notify();
    });
  }

  #fail(error: unknown): void {
    this.#failed ??= error;
    this.#changed.notify();
  }

  async *read(): AsyncGenerator<Buffer> {
    let at = 0;
    for (;;) {
      if (this.#failed !== undefined) throw this.#failed;
      if (at < this.#written) {
        const buffer = Buffer.allocUnsafe(Math.min(READ_SIZE, this.#written - at));
        const { bytesRead } = await (await this.#file).read(buffer, 0, buffer.length, at);
        at += bytesRead;
        yield buffer.subarray(0, bytesRead);
      } else if (this.#closed) return;
      else await this.#changed.wait();
    }
  }

  async remove(): Promise<void> {
    await this.#file.then((file) => file.close()).catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

/** A run of whole rows of one table's COPY text, loaded by one COPY statement. */
interface Piece {
  readonly entry: TocEntry;
  readonly spool: Spool;
  /** Bytes added so far. */
  size: number;
  /** Whether the bytes added so far end with a newline (at a row end). */
  rowEnd: boolean;
  /** Whether its COPY text holds the `\.` line that ends the data (older archives): the last piece only. */
  copyEnded: boolean;
}

/** One restore: the schema, the loading sessions fed from spools, the commit, the indexes; or the clean-up. */
class Restore {
  readonly #options: StreamedRestoreOptions;
  #toc = new Map<number, TocEntry>();
  #workDir = '';
  /** Pieces whose data began, in stream order, waiting for a loader. */
  #queue: Piece[] = [];
  #queueEnded = false;
  readonly #queueChanged = new Changed();
  #current: Piece | undefined;
  #pieces = 0;
  /** Pieces begun and not yet loaded (queued, being written or being loaded): the stream waits above a few. */
  #unloaded = 0;
  readonly #loaded = new Changed();
  #writes: Promise<void>[] = [];

  constructor(options: StreamedRestoreOptions) {
    this.#options = options;
  }

  /** A piece of `entry`'s data begins: it goes to a spool of its own, and a loader may start on it at once. */
  #pieceStart(entry: TocEntry): void {
    const piece: Piece = {
      entry,
      spool: new Spool(join(this.#workDir, `data-${entry.id}-${this.#pieces++}.copy`)),
      size: 0,
      rowEnd: true,
      copyEnded: false,
    };
    this.#current = piece;
    this.#unloaded += 1;
    this.#queue.push(piece);
    this.#queueChanged.notify();
  }

  /** `ended`: the data's `\.` line (older archives) came, in these bytes or before: no piece begins after it. */
  #payload(bytes: Buffer, ended: boolean): void {
    let piece = this.#current as Piece;
    // A big piece goes on in a new one where a row ends.
    if (piece.size >= PIECE_BYTES && piece.rowEnd && !ended) {
      this.#pieceEnd(false);
      this.#pieceStart(piece.entry);
      piece = this.#current as Piece;
    }
    piece.spool.add(bytes);
    piece.size += bytes.length;
    piece.rowEnd = bytes[bytes.length - 1] === NEWLINE;
  }

  /** The current piece is whole: at its block's end, or where the next piece of the block begins. */
  #pieceEnd(copyEnded: boolean): void {
    const piece = this.#current as Piece;
    piece.copyEnded = copyEnded;
    this.#writes.push(piece.spool.close());
    this.#current = undefined;
  }

  /** The next piece for a loader, or undefined once every piece was handed out. */
  async #take(): Promise<Piece | undefined> {
    for (;;) {
      const piece = this.#queue.shift();
      if (piece !== undefined) return piece;
      if (this.#queueEnded) return undefined;
      await this.#queueChanged.wait();
    }
  }

  /** Restores the archive `bytes` yields (from its first byte); `stopInput` lets go of it after a failure. */
  async run(toc: readonly TocEntry[], bytes: () => AsyncGenerator<Buffer>, stopInput: () => void): Promise<void> {
    const options = this.#options;
    for (const entry of toc) this.#toc.set(entry.id, entry);
    this.#workDir = await makeWorkDir('pgrestore');
    const tocFile = join(this.#workDir, 'toc.pgcustom');
    const headWritten = Promise.withResolvers<void>();
    headWritten.promise.catch(() => undefined);
    const reader = new CustomArchiveReader({
      // pg_restore makes the schema from the head alone, and at the end the indexes and constraints.
      head: (head) => {
        const writing = writeFile(tocFile, head, { mode: 0o600 });
        writing.then(headWritten.resolve, headWritten.reject);
        this.#writes.push(writing);
      },
      blockStart: (id) => this.#pieceStart(this.#toc.get(id) as TocEntry),
      payload: (chunk, ended) => this.#payload(chunk, ended),
      blockEnd: (copyEnded) => this.#pieceEnd(copyEnded),
    });
    const common = ['--exit-on-error', '--no-password', `--dbname=${options.database}`];
    /** The failure that ends the restore: the first of the input's, a tool's, or the abort. */
    const failure = Promise.withResolvers<never>();
    failure.promise.catch(() => undefined);
    const onAbort = () => failure.reject(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const loaders: Loader[] = [];
    /** How the schema step ended (a failure drops again what it made). */
    let schemaStep: SchemaStep = 'not run';
    let schema: Promise<void> | undefined;
    let extensions: ReadonlySet<string> = new Set();
    try {
      options.signal?.throwIfAborted();
      extensions = new Set((await options.query('SELECT extname FROM pg_extension')).map((row) => String(row[0])));
      schema = headWritten.promise.then(async () => {
        const tool = runTool(
          'postgres',
          options.pgRestore,
          [...common, '--section=pre-data', '--single-transaction', tocFile],
          { env: options.env, stdout: 'ignore' },
        );
        try {
          await runToEnd(tool, failure.promise);
          schemaStep = 'made';
        } catch (error) {
          schemaStep = stepEnd(tool);
          throw error;
        }
      });
      schema.catch((error: unknown) => failure.reject(error));
      const settings = [
        ...SESSION_SETTINGS,
        ...toc.filter((e) => SETTINGS_ENTRIES.has(e.desc)).map((e) => e.defn.trim()),
      ].join('\n');
      const sequences = toc.filter((e) => e.desc === 'SEQUENCE SET').map((e) => e.defn.trim());
      // A big table is shared by the sessions: as many as asked for, when there is data at all.
      const jobs = toc.some((e) => e.hasData) ? options.jobs : 1;
      for (let i = 0; i < jobs; i++) {
        loaders.push(new Loader(options, settings, i === 0 ? sequences : [], failure.promise));
      }
      // The stream into the spools as fast as it comes, the loaders behind it; the stream's end is its proof.
      const reading = (async () => {
        for await (const chunk of bytes()) {
          reader.push(chunk);
          if (this.#current !== undefined) this.#writes.push(this.#current.spool.flush());
          const writes = this.#writes;
          this.#writes = [];
          await Promise.race([Promise.all(writes), failure.promise]);
          // A few pieces ahead of the loaders at most (one of them may be the one being written).
          while (this.#unloaded > 2 * loaders.length) await Promise.race([this.#loaded.wait(), failure.promise]);
        }
        reader.end();
        await Promise.all(this.#writes);
        this.#queueEnded = true;
        this.#queueChanged.notify();
      })();
      reading.catch((error: unknown) => failure.reject(error));
      const loading = Promise.all(
        loaders.map(async (loader) => {
          await schema;
          await loader.start();
          for (let piece = await this.#take(); piece !== undefined; piece = await this.#take()) {
            await loader.load(piece);
            this.#unloaded -= 1;
            this.#loaded.notify();
          }
          // Every piece is loaded and the backup proved itself: only now is anything committed.
          await reading;
          await loader.commit();
        }),
      );
      loading.catch((error: unknown) => failure.reject(error));
      await Promise.race([loading, failure.promise]);
      if (toc.some((e) => e.section === SECTION.postData)) {
        await runToEnd(
          runTool(
            'postgres',
            options.pgRestore,
            [...common, '--section=post-data', `--jobs=${options.jobs}`, tocFile],
            { env: options.env, stdout: 'ignore' },
          ),
          failure.promise,
        );
      }
    } catch (error) {
      stopInput();
      this.#queueEnded = true;
      this.#queueChanged.notify();
      for (const loader of loaders) loader.stop();
      // The schema step is stopped too, unless it has not begun (then it never will); how it ended decides
      // the clean-up.
      failure.reject(error);
      headWritten.reject(error);
      await Promise.allSettled([...loaders.map((l) => l.exited()), schema]);
      const cause = options.signal?.aborted ? options.signal.reason : error;
      const left = await this.#leftBehind(schemaStep, toc, extensions);
      throw new StreamedRestoreStopped(
        `postgres: restore stopped, ${left === undefined ? 'nothing committed' : `${options.database} ${left}`}: ${describeError(cause)}`,
        left,
        {
          cause,
          hint: left === undefined ? undefined : 'drop what the restore made in the destination, then restore again',
        },
      );
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      await rm(this.#workDir, { recursive: true, force: true });
    }
  }

  /**
   * What a failed restore leaves in the destination, as a phrase; undefined when it is as empty as it was
   * found. The data sessions commit only at the very end (nothing of theirs is left), the schema step in one
   * transaction: what it made is dropped again, once it is known to have committed.
   */
  async #leftBehind(step: SchemaStep, toc: readonly TocEntry[], extensions: ReadonlySet<string>) {
    if (step === 'not run' || step === 'rolled back') return undefined;
    if (step === 'stopped') {
      const committed = await this.#schemaCommitted(toc).catch(() => undefined);
      if (committed === false) return undefined;
      if (committed === undefined) {
        return 'may hold the schema this restore made (its pg_restore was stopped, and whether it had committed could not be told)';
      }
    }
    const failed = await this.#cleanUp(toc, extensions);
    return failed === undefined ? undefined : `holds the schema this restore made (${failed})`;
  }

  /**
   * Whether a schema step stopped before it said how it ended had committed (a failure can come between its
   * commit and its exit): the destination held no table before, so a table of the archive there now is its.
   * Undefined when the archive makes no table to tell by.
   */
  async #schemaCommitted(toc: readonly TocEntry[]): Promise<boolean | undefined> {
    const table = toc.find((e) => e.section === SECTION.preData && e.desc === 'TABLE' && creates(e));
    if (table === undefined) return undefined;
    const [row] = await this.#options.query("SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL", [
      table.namespace,
      table.tag,
    ]);
    return row?.[0] === true;
  }

  /**
   * Drops what the restore made, in the reverse order of the table of contents, in one transaction (CASCADE
   * takes the indexes, constraints and defaults with their tables). Extensions that were there before stay.
   * Answers undefined when the destination is as empty as before, else why not.
   */
  async #cleanUp(toc: readonly TocEntry[], extensions: ReadonlySet<string>): Promise<string | undefined> {
    const drops = [...toc]
      .reverse()
      .filter((e) => e.section === SECTION.preData && madeByRestore(e, extensions))
      .map((e) => undo(e))
      .filter((sql): sql is string => sql !== undefined);
    try {
      await this.#options.query(['BEGIN', ...drops, 'COMMIT'].join(';\n'));
      return undefined;
    } catch (error) {
      return `dropping it failed: ${describeError(error)}`;
    }
  }
}

/**
 * CREATE entries of the schema step that make nothing to drop: DATABASE (pg_restore runs it only with
 * --create, never given here) and a SHELL TYPE (its TYPE entry completes and drops it).
 */
const NOT_MADE = new Set(['DATABASE', 'SHELL TYPE']);

/**
 * Whether the schema step made this object, once that step succeeded: its CREATE would have failed on one
 * that was there before; only an extension is made IF NOT EXISTS (it stays when it was there before).
 */
function madeByRestore(entry: TocEntry, extensions: ReadonlySet<string>): boolean {
  if (entry.desc === 'EXTENSION') return !extensions.has(entry.tag);
  return creates(entry);
}

/**
 * `DROP <kind> IF EXISTS <name> CASCADE`, undoing an entry of a kind the clean-up drops whose drop statement
 * is a DROP of that kind; undefined for any other. The one rule for both the clean-up and `streamable`.
 */
function undo(entry: TocEntry): string | undefined {
  if (!DROPPED.has(entry.desc)) return undefined;
  const prefix = `DROP ${entry.desc} `;
  const statement = entry.dropStmt.trim();
  if (!statement.startsWith(prefix) || !statement.endsWith(';')) return undefined;
  return `${prefix}IF EXISTS ${statement.slice(prefix.length, -1)} CASCADE`;
}

/**
 * How the schema step ended: `made` (committed), `rolled back` (pg_restore failed: --single-transaction
 * commits nothing then), or `stopped` (killed by this restore's failure, or by a signal, perhaps after its
 * commit).
 */
type SchemaStep = 'not run' | 'made' | 'rolled back' | 'stopped';

/** How a schema step that did not end well ended (its exit is known once runToEnd settled). */
function stepEnd(tool: ToolProcess): SchemaStep {
  const code = tool.child.exitCode;
  if (code === 0) return 'made';
  return code === null ? 'stopped' : 'rolled back';
}

/** A tool run to its end, or stopped when `failure` rejects first. */
async function runToEnd(tool: ToolProcess, failure: Promise<never>): Promise<void> {
  try {
    await Promise.race([tool.exited, failure]);
  } catch (error) {
    tool.child.kill('SIGTERM');
    await tool.exited.catch(() => undefined);
    throw error;
  }
}

/** One psql session: one transaction, the COPY of each piece it is given, committed at the end. */
class Loader {
  #tool: ToolProcess | undefined;

  constructor(
    readonly options: StreamedRestoreOptions,
    readonly settings: string,
    readonly last: readonly string[],
    readonly failure: Promise<never>,
  ) {}

  async start(): Promise<void> {
    this.#tool = runTool(
      'postgres',
      this.options.psql,
      ['--no-psqlrc', '--quiet', '--no-password', '--set=ON_ERROR_STOP=1', '--file=-'],
      { env: this.options.env, stdin: 'pipe', stdout: 'ignore', name: 'psql' },
    );
    this.#tool.exited.catch(() => undefined);
    // A psql that exits early breaks the pipe: its exit code tells why (#send).
    this.#tool.child.stdin?.on('error', () => undefined);
    await this.#send(Buffer.from(`${this.settings}\nBEGIN;\n`));
  }

  async load(piece: Piece): Promise<void> {
    await this.#send(Buffer.from(`${piece.entry.copyStmt.trim()}\n`));
    for await (const chunk of piece.spool.read()) await this.#send(chunk);
    // Loaded: its disk space goes back at once (after a failure the work directory goes as a whole).
    await piece.spool.remove();
    if (!piece.copyEnded) await this.#send(Buffer.from('\\.\n'));
  }

  async commit(): Promise<void> {
    const tool = this.#tool as ToolProcess;
    await this.#send(Buffer.from(`${this.last.join('\n')}\nCOMMIT;\n`));
    tool.child.stdin?.end();
    await Promise.race([tool.exited, this.failure]);
  }

  /** Writes to psql's stdin, waiting while its pipe is full; fails when psql has gone or the restore failed. */
  async #send(bytes: Buffer): Promise<void> {
    const tool = this.#tool as ToolProcess;
    const stdin = tool.child.stdin;
    if (stdin === null || stdin.destroyed) {
      await tool.exited;
      throw new LifeboatError('RESTORE_FAILED', 'postgres: psql closed its input');
    }
    if (stdin.write(bytes)) return;
    try {
      await Promise.race([once(stdin, 'drain'), tool.exited.then(() => Promise.reject(closedEarly())), this.failure]);
    } catch (error) {
      // A broken pipe is psql having gone: its exit says why.
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
      await Promise.race([tool.exited, this.failure]);
      throw closedEarly();
    }
  }

  stop(): void {
    this.#tool?.child.stdin?.destroy();
    this.#tool?.child.kill('SIGTERM');
  }

  async exited(): Promise<void> {
    await this.#tool?.exited;
  }
}

function closedEarly(): LifeboatError {
  return new LifeboatError('RESTORE_FAILED', 'postgres: psql exited before the restore ended');
}
