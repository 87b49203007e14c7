// Reads pg_dump's custom-format archive as it flows (header, table of contents, data blocks), to prove it
// whole and count the rows of each table without a second program reading the bytes again.
//
// The layout (PostgreSQL's pg_backup_archiver.c and pg_backup_custom.c): "PGDMP", version, integer and
// offset sizes, format; the table of contents, one entry per object, saying which entries have data;
// then one block per such entry: a type byte, the entry's id and, for a table, chunks of COPY text
// (length, bytes) ended by a zero length; large objects are (oid, chunks) pairs ended by oid 0.
// Only archives whose data pg_dump did not compress itself are read here (Lifeboat dumps with
// --compress=0); for any other the caller checks with pg_restore.
import { copyTable } from './copy-count.js';

const MAGIC = 'PGDMP';
const FORMAT_CUSTOM = 1;
const BLOCK_DATA = 1;
const BLOCK_LARGE_OBJECTS = 3;
const OFFSET_NO_DATA = 3;
const NEWLINE = 0x0a;
/** The bytes `\.` as one number: the line that ends COPY text. */
const END_MARKER = 0x5c * 256 + 0x2e;
/** Archive versions, as PostgreSQL numbers them: (major * 256 + minor) * 256 + revision. */
const version = (major: number, minor: number) => (major * 256 + minor) * 256;
const OLDEST = version(1, 12);
const NEWEST = version(1, 16);

/** Thrown inside the head parser when the bytes so far end before it does. */
const MORE = Symbol('more bytes needed');

interface DataEntry {
  /** "TABLE DATA public.t", for messages. */
  readonly label: string;
  /** The "schema.name" its rows count for, when its data is COPY text. */
  readonly table: string | undefined;
}

/** pg_dump's sections, as the table of contents numbers them. */
export const SECTION = { none: 1, preData: 2, data: 3, postData: 4 } as const;

/** One entry of the table of contents: what pg_restore would run for it. */
export interface TocEntry {
  readonly id: number;
  /** "TABLE", "TABLE DATA", "SEQUENCE SET", "INDEX", ... */
  readonly desc: string;
  readonly tag: string;
  /** The schema of the object it makes, '' for none (a schema, an extension, ...). */
  readonly namespace: string;
  readonly section: number;
  /** The SQL that makes it (CREATE ..., SET ..., SELECT setval(...)). */
  readonly defn: string;
  readonly dropStmt: string;
  /** "COPY schema.table (columns) FROM stdin;" for table data. */
  readonly copyStmt: string;
  /** Whether a data block follows the table of contents for it. */
  readonly hasData: boolean;
}

/** Hears the archive's parts as they flow past the reader (each call inside `push`). */
export interface ArchiveVisitor {
  /** The header and table of contents, as the bytes they were read from. */
  head?(bytes: Buffer, toc: readonly TocEntry[]): void;
  /** A data block starts: that entry's chunks follow until `blockEnd`. */
  blockStart?(id: number): void;
  /**
   * Bytes of the current block's chunks (a view into the pushed chunk); `copyEnded`: the `\.` line that ends
   * its COPY text came, in these bytes or before.
   */
  payload?(bytes: Buffer, copyEnded: boolean): void;
  /** The block ended; `copyEnded`: its COPY text held the `\.` line that ends it. */
  blockEnd?(copyEnded: boolean): void;
}

/** The archive is not whole, or not an archive; the reason is a sentence without a subject. */
export class ArchiveDefect extends Error {}

/** The layout this reader does not know (a newer pg_dump, data compressed by pg_dump): check it another way. */
export class ArchiveUnsupported extends Error {}

/** pg_dump's integer at `buf[pos]`: a sign byte, then `size` bytes of magnitude, least significant first. */
function intAt(buf: Buffer, pos: number, size: number): number {
  // Read once per row of COPY text (each row is a chunk of its own): the common size without a loop.
  let value = size === 4 ? buf.readUInt32LE(pos + 1) : 0;
  if (size !== 4) for (let i = size - 1; i >= 0; i--) value = value * 256 + (buf[pos + 1 + i] as number);
  return buf[pos] === 0 ? value : -value;
}

class Cursor {
  pos = 0;
  intSize = 4;
  constructor(readonly buf: Buffer) {}

  byte(): number {
    if (this.pos >= this.buf.length) throw MORE;
    return this.buf[this.pos++] as number;
  }

  int(): number {
    if (this.pos + 1 + this.intSize > this.buf.length) throw MORE;
    const value = intAt(this.buf, this.pos, this.intSize);
    this.pos += 1 + this.intSize;
    return value;
  }

  str(): string | undefined {
    const length = this.int();
    if (length < 0) return undefined;
    if (this.pos + length > this.buf.length) throw MORE;
    const text = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return text;
  }
}

interface Head {
  readonly intSize: number;
  readonly entries: Map<number, DataEntry>;
  readonly toc: TocEntry[];
  readonly end: number;
}

/** The header and table of contents at the start of `buf`, or MORE when `buf` ends first. */
function readHead(buf: Buffer): Head {
  const c = new Cursor(buf);
  for (const char of MAGIC) {
    if (c.byte() !== char.charCodeAt(0)) throw new ArchiveDefect('it does not start with "PGDMP"');
  }
  const major = c.byte();
  const minor = c.byte();
  const revision = major > 1 || (major === 1 && minor > 0) ? c.byte() : 0;
  const v = version(major, minor) + revision;
  if (v < OLDEST || v > NEWEST) throw new ArchiveUnsupported(`archive version ${major}.${minor}.${revision}`);
  const intSize = c.byte();
  if (intSize < 1 || intSize > 6) throw new ArchiveUnsupported(`integers of ${intSize} bytes`);
  c.intSize = intSize;
  const offSize = c.byte();
  const format = c.byte();
  if (format !== FORMAT_CUSTOM) throw new ArchiveDefect(`its header names format ${format}, not the custom format`);
  const compression = v >= version(1, 15) ? c.byte() : c.int();
  if (compression !== 0) throw new ArchiveUnsupported('data compressed by pg_dump');
  for (let i = 0; i < 7; i++) c.int(); // creation time
  for (let i = 0; i < 3; i++) c.str(); // database name, server version, pg_dump version
  const count = c.int();
  if (count < 0) throw new ArchiveDefect(`its table of contents claims ${count} entries`);
  const entries = new Map<number, DataEntry>();
  const toc: TocEntry[] = [];
  for (let i = 0; i < count; i++) {
    const dumpId = c.int();
    if (dumpId <= 0) throw new ArchiveDefect(`entry ${i + 1} of its table of contents has the id ${dumpId}`);
    c.int(); // had a data dumper
    c.str(); // catalog table oid
    c.str(); // oid
    const tag = c.str() ?? '';
    const desc = c.str() ?? '';
    const section = c.int();
    const defn = c.str() ?? '';
    const dropStmt = c.str() ?? '';
    const copyStmt = c.str();
    const namespace = c.str();
    c.str(); // tablespace
    if (v >= version(1, 14)) c.str(); // table access method
    if (v >= version(1, 16)) c.int(); // relkind
    c.str(); // owner
    c.str(); // "with oids", always false
    while (c.str() !== undefined); // dependencies, ended by a null string
    const state = c.byte();
    for (let b = 0; b < offSize; b++) c.byte(); // where its data sits, when pg_dump could seek
    if (state < 1 || state > 3) throw new ArchiveDefect(`entry ${dumpId} has the data state ${state}`);
    toc.push({
      id: dumpId,
      desc,
      tag,
      namespace: namespace ?? '',
      section,
      defn,
      dropStmt,
      copyStmt: copyStmt ?? '',
      hasData: state !== OFFSET_NO_DATA,
    });
    if (state === OFFSET_NO_DATA) continue;
    const label = `${desc} ${namespace === undefined || namespace === '' ? '' : `${namespace}.`}${tag}`;
    const table = desc === 'TABLE DATA' && copyStmt ? copyTable(copyStmt.trim()) : undefined;
    entries.set(dumpId, { label, table });
  }
  return { intSize, entries, toc, end: c.pos };
}

type State = 'block' | 'length' | 'payload' | 'oid';

/** Feed it the archive with `push`, then `end()`: it throws ArchiveDefect or ArchiveUnsupported, or returns. */
export class CustomArchiveReader {
  /** Rows per table, by "schema.name". */
  readonly counts = new Map<string, number>();
  #bytes = 0;
  #head: Buffer[] | undefined = [];
  #headLength = 0;
  #nextTry = 4096;
  #intSize = 4;
  #entries = new Map<number, DataEntry>();
  #seen = new Set<number>();
  #state: State = 'block';
  #largeObjects = false;
  #entry: DataEntry | undefined;
  #id = 0;
  #rows = 0;
  /** Of the COPY line not yet ended: its length so far and its first (up to two) bytes as a number. */
  #lineLength = 0;
  #lineStart = 0;
  /** Whether the `\.` line was read: what follows in the block is no row. */
  #copyEnded = false;
  #remaining = 0;
  /** The start of a field cut by a chunk boundary. */
  #carry: Buffer | undefined;
  readonly #visitor: ArchiveVisitor | undefined;

  constructor(visitor?: ArchiveVisitor) {
    this.#visitor = visitor;
  }

  /** Whether the header and table of contents were read. */
  get headRead(): boolean {
    return this.#head === undefined;
  }

  push(chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (this.#head !== undefined) {
      this.#head.push(chunk);
      this.#headLength += chunk.length;
      // The head is parsed again from the start only when its bytes doubled: linear in its size.
      if (this.#headLength < this.#nextTry) return;
      this.#nextTry = this.#headLength * 2;
      const rest = this.#tryHead(false);
      if (rest !== undefined) this.#data(rest);
      return;
    }
    this.#data(chunk);
  }

  end(): void {
    if (this.#head !== undefined) {
      const rest = this.#tryHead(true);
      if (rest !== undefined) this.#data(rest);
    }
    if (this.#state !== 'block' || this.#carry !== undefined) {
      const where = this.#entry === undefined ? 'a data block' : `the data of ${this.#entry.label}`;
      throw new ArchiveDefect(`it ends after ${this.#bytes} bytes, inside ${where}`);
    }
    const missing = [...this.#entries.entries()].filter(([id]) => !this.#seen.has(id)).map(([, e]) => e.label);
    if (missing.length > 0) {
      const named = missing.slice(0, 3).join(', ') + (missing.length > 3 ? ` and ${missing.length - 3} more` : '');
      throw new ArchiveDefect(`it ends after ${this.#bytes} bytes, without the data of ${named}`);
    }
  }

  /** The bytes after the head once it is read; undefined while more are needed. */
  #tryHead(last: boolean): Buffer | undefined {
    const buf = Buffer.concat(this.#head ?? []);
    try {
      const head = readHead(buf);
      this.#head = undefined;
      this.#intSize = head.intSize;
      this.#entries = head.entries;
      this.#visitor?.head?.(buf.subarray(0, head.end), head.toc);
      return buf.subarray(head.end);
    } catch (error) {
      if (error !== MORE) throw error;
      if (last) {
        const what = buf.length < 12 ? 'its header' : 'its table of contents';
        throw new ArchiveDefect(`it ends after ${buf.length} bytes, inside ${what}`);
      }
      this.#head = [buf];
      return undefined;
    }
  }

  #data(chunk: Buffer): void {
    let pos = 0;
    if (this.#carry !== undefined) {
      // Complete the cut field from this chunk, then go on in the chunk itself (no copy of it).
      const need = this.#fieldSize() - this.#carry.length;
      if (chunk.length < need) {
        this.#carry = Buffer.concat([this.#carry, chunk]);
        return;
      }
      const field = Buffer.concat([this.#carry, chunk.subarray(0, need)]);
      this.#carry = undefined;
      this.#field(field, 0);
      pos = need;
    }
    const size = chunk.length;
    while (pos < size) {
      if (this.#state === 'payload') {
        const stop = Math.min(size, pos + this.#remaining);
        if (this.#entry?.table !== undefined && !this.#copyEnded) this.#countLines(chunk, pos, stop);
        this.#visitor?.payload?.(chunk.subarray(pos, stop), this.#copyEnded);
        this.#remaining -= stop - pos;
        pos = stop;
        if (this.#remaining === 0) this.#state = 'length';
        continue;
      }
      const need = this.#fieldSize();
      if (size - pos < need) {
        this.#carry = Buffer.from(chunk.subarray(pos));
        return;
      }
      this.#field(chunk, pos);
      pos += need;
    }
  }

  /**
   * Counts the rows of COPY text in `chunk[pos, stop)`: one a line, up to the `\.` line pg_dump may end the
   * data with (a value of `\.` is written `\\.`, so no row is that line). Lines may span chunks.
   */
  #countLines(chunk: Buffer, pos: number, stop: number): void {
    let start = pos;
    let at = chunk.indexOf(NEWLINE, pos);
    while (at >= 0 && at < stop) {
      if (this.#lineLength + (at - start) === 2 && this.#endMarker(chunk, start)) {
        this.#copyEnded = true;
        return;
      }
      this.#rows += 1;
      this.#lineLength = 0;
      this.#lineStart = 0;
      start = at + 1;
      // A chunk of one row ends with its newline: no search past it (into the rows that follow).
      at = start < stop ? chunk.indexOf(NEWLINE, start) : -1;
    }
    // The start of a line that goes on in the next chunk: its first two bytes are all that matter.
    for (let i = start; i < stop && this.#lineLength + (i - start) < 2; i++) {
      this.#lineStart = this.#lineStart * 256 + (chunk[i] as number);
    }
    this.#lineLength += stop - start;
  }

  /** Whether the two-byte line that began before `chunk[start]` (#lineLength bytes) and goes on there is `\.`. */
  #endMarker(chunk: Buffer, start: number): boolean {
    let bytes = this.#lineStart;
    for (let i = this.#lineLength; i < 2; i++) bytes = bytes * 256 + (chunk[start + i - this.#lineLength] as number);
    return bytes === END_MARKER;
  }

  #fieldSize(): number {
    return (this.#state === 'block' ? 2 : 1) + this.#intSize;
  }

  /** One fixed-size field at `buf[pos]`: a block start, a chunk length or a large object's oid. */
  #field(buf: Buffer, pos: number): void {
    switch (this.#state) {
      case 'block': {
        const type = buf[pos] as number;
        const id = intAt(buf, pos + 1, this.#intSize);
        const entry = this.#entries.get(id);
        if (type !== BLOCK_DATA && type !== BLOCK_LARGE_OBJECTS) {
          throw new ArchiveDefect(
            `a data block of unknown type ${type} follows the data of ${this.#seen.size} entries`,
          );
        }
        if (entry === undefined || this.#seen.has(id)) {
          throw new ArchiveDefect(
            `it holds a data block for entry ${id}, which its table of contents does not promise`,
          );
        }
        this.#entry = entry;
        this.#id = id;
        this.#rows = 0;
        this.#lineLength = 0;
        this.#lineStart = 0;
        this.#copyEnded = false;
        this.#largeObjects = type === BLOCK_LARGE_OBJECTS;
        this.#state = this.#largeObjects ? 'oid' : 'length';
        this.#visitor?.blockStart?.(id);
        return;
      }
      case 'length': {
        const length = intAt(buf, pos, this.#intSize);
        if (length < 0) throw new ArchiveDefect(`a data chunk of ${this.#entry?.label} claims ${length} bytes`);
        if (length > 0) {
          this.#remaining = length;
          this.#state = 'payload';
        } else if (this.#largeObjects) this.#state = 'oid';
        else this.#closeBlock();
        return;
      }
      case 'oid': {
        if (intAt(buf, pos, this.#intSize) === 0) this.#closeBlock();
        else this.#state = 'length';
        return;
      }
      default:
        throw new Error('unreachable: payload is not a field');
    }
  }

  #closeBlock(): void {
    const entry = this.#entry as DataEntry;
    if (entry.table !== undefined) this.counts.set(entry.table, (this.counts.get(entry.table) ?? 0) + this.#rows);
    this.#seen.add(this.#id);
    this.#entry = undefined;
    this.#state = 'block';
    this.#visitor?.blockEnd?.(this.#copyEnded);
  }
}
