// Counts the rows pg_dump's SQL text carries for each table (its `COPY … FROM stdin;` blocks), as the text
// flows by, so that the row counts taken in the dump's own snapshot can be compared with what was dumped.
import type { TableStats } from '../../catalog/manifest.js';

/** Longest start of a line kept across chunks: enough for any COPY header line worth parsing. */
const LINE_START_LIMIT = 16 * 1024;
const NEWLINE = 0x0a;

export class CopyRowCounter {
  /** Rows per table, by the "schema.name" of the stats. */
  readonly counts = new Map<string, number>();
  #table: string | undefined;
  #rows = 0;
  /** The start of the line not yet ended by a newline. */
  #line: Buffer[] = [];
  #lineLength = 0;

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end < 0) {
        this.#keep(chunk.subarray(start));
        return;
      }
      if (this.#lineLength === 0) this.#endLine(chunk, start, end);
      else {
        this.#keep(chunk.subarray(start, end));
        const line = Buffer.concat(this.#line);
        this.#line = [];
        this.#lineLength = 0;
        this.#endLine(line, 0, line.length);
      }
      start = end + 1;
    }
  }

  #keep(part: Buffer): void {
    const room = LINE_START_LIMIT - this.#lineLength;
    if (room <= 0 || part.length === 0) {
      // Only the start of a long line matters; its length is kept so the line still counts.
      if (part.length > 0) this.#lineLength += part.length;
      return;
    }
    const kept = part.subarray(0, room);
    this.#line.push(Buffer.from(kept));
    this.#lineLength += part.length;
  }

  /** One whole line, `line[start, end)`, without its newline. */
  #endLine(line: Buffer, start: number, end: number): void {
    if (this.#table !== undefined) {
      // Inside a COPY block every line is a row, up to the `\.` line.
      if (end - start === 2 && line[start] === 0x5c && line[start + 1] === 0x2e) {
        this.counts.set(this.#table, (this.counts.get(this.#table) ?? 0) + this.#rows);
        this.#table = undefined;
        this.#rows = 0;
      } else this.#rows += 1;
      return;
    }
    // "COPY " starts a block's header line.
    if (end - start < 5 || line[start] !== 0x43 || line.toString('latin1', start, start + 5) !== 'COPY ') return;
    const header = line.toString('utf8', start, Math.min(end, start + LINE_START_LIMIT));
    const table = copyTable(header);
    if (table !== undefined) {
      this.#table = table;
      this.#rows = 0;
    }
  }
}

/** The "schema.name" of a `COPY <table> [(columns)] FROM stdin;` line, identifiers unquoted. */
export function copyTable(line: string): string | undefined {
  const match = /^COPY (.+?)(?: \(.*\))? FROM stdin;$/.exec(line);
  if (match === null) return undefined;
  const parts: string[] = [];
  const text = match[1] as string;
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      let name = '';
      i += 1;
      while (i < text.length) {
        if (text[i] === '"' && text[i + 1] === '"') {
          name += '"';
          i += 2;
        } else if (text[i] === '"') {
          i += 1;
          break;
        } else {
          name += text[i];
          i += 1;
        }
      }
      parts.push(name);
    } else {
      const dot = text.indexOf('.', i);
      const stop = dot < 0 ? text.length : dot;
      parts.push(text.slice(i, stop));
      i = stop;
    }
    if (text[i] === '.') i += 1;
  }
  return parts.length === 2 ? parts.join('.') : undefined;
}

/**
 * How the dumped rows differ from the rows counted in the dump's snapshot: a table whose row count differs,
 * or (when every table is dumped, `complete`) one that is missing from the dump.
 */
export function statsMismatch(
  stats: readonly TableStats[],
  dumped: ReadonlyMap<string, number>,
  complete: boolean,
): string[] {
  const problems: string[] = [];
  for (const table of stats) {
    const rows = dumped.get(table.name);
    if (rows === undefined) {
      if (complete) problems.push(`${table.name}: ${table.rows} rows counted, none dumped`);
    } else if (rows !== table.rows) problems.push(`${table.name}: ${table.rows} rows counted, ${rows} dumped`);
  }
  return problems;
}
