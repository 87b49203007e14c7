// What a dump's own format says about its length and rows: SQLite's page count, pg_dump's COPY blocks,
// neo4j-admin's header and zstd frames.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DumpFramesCheck } from '../../src/drivers/neo4j/dump-format.js';
import { CopyRowCounter, copyTable, statsMismatch } from '../../src/drivers/postgres/copy-count.js';
import { checkPageCount } from '../../src/drivers/sqlite/sqlite-driver.js';

async function sqliteFile(): Promise<Buffer> {
  const path = join(await mkdtemp(join(tmpdir(), 'lifeboat-unit-')), 'db.sqlite3');
  const db = new Database(path);
  db.exec(
    'CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO t (note) SELECT hex(randomblob(200)) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) SELECT x FROM c);',
  );
  db.close();
  return readFile(path);
}

const chunks = (data: Buffer, size: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)),
  );

describe('SQLite page count', () => {
  it('passes a whole database file through unchanged, in any chunking', async () => {
    const file = await sqliteFile();
    for (const size of [7, 4096, file.length]) {
      expect((await buffer(checkPageCount(chunks(file, size), 'db'))).equals(file)).toBe(true);
    }
  });

  it('fails a copy cut short, or one that is not a database, naming the sizes', async () => {
    const file = await sqliteFile();
    const pages = file.readUInt32BE(28);
    const pageSize = file.readUInt16BE(16);
    const cut = file.subarray(0, file.length - pageSize);
    await expect(buffer(checkPageCount(chunks(cut, 1000), 'db'))).rejects.toMatchObject({
      code: 'DUMP_INCOMPLETE',
      message: `sqlite: the copy of db is not a whole database: ${cut.length} bytes, but its header promises ${pages} pages of ${pageSize} bytes (${file.length} bytes)`,
    });
    await expect(buffer(checkPageCount(chunks(file.subarray(0, 50), 10), 'db'))).rejects.toThrow(
      /50 bytes, without a whole SQLite header/,
    );
    await expect(buffer(checkPageCount(chunks(Buffer.alloc(8192, 1), 100), 'db'))).rejects.toThrow(
      /without a whole SQLite header/,
    );
  });
});

describe('rows in pg_dump SQL', () => {
  const sql = [
    'SET statement_timeout = 0;',
    'COPY public.t (id, note) FROM stdin;',
    '1\ta',
    '2\tb\\nwith an escaped newline',
    '\\.',
    'COPY "Odd ""Schema"".x"."Table.Name" FROM stdin;',
    '1',
    '\\.',
    'COPY public.empty (id) FROM stdin;',
    '\\.',
    `COPY public.wide (blob) FROM stdin;`,
    'x'.repeat(100_000),
    'y'.repeat(20_000),
    '\\.',
    '-- COPY public.fake (id) FROM stdin; is a comment',
    '',
  ].join('\n');

  it('counts the rows of every COPY block, in any chunking', () => {
    for (const size of [1, 3, 17, 4096, sql.length]) {
      const counter = new CopyRowCounter();
      const data = Buffer.from(sql);
      for (let i = 0; i < data.length; i += size) counter.push(data.subarray(i, i + size));
      expect(Object.fromEntries(counter.counts), `chunks of ${size}`).toEqual({
        'public.t': 2,
        'Odd "Schema".x.Table.Name': 1,
        'public.empty': 0,
        'public.wide': 2,
      });
    }
  });

  it('reads quoted identifiers, and ignores lines that are no COPY header', () => {
    expect(copyTable('COPY public.t (id) FROM stdin;')).toBe('public.t');
    expect(copyTable('COPY "a""b"."c d" (x, "y z") FROM stdin;')).toBe('a"b.c d');
    expect(copyTable('COPY public.t TO stdout;')).toBeUndefined();
    expect(copyTable('COPY t FROM stdin;')).toBeUndefined();
  });

  it('names each table whose rows differ, and missing ones only when every table was dumped', () => {
    const stats = [
      { name: 'public.a', rows: 3 },
      { name: 'public.b', rows: 0 },
      { name: 'public.c', rows: 5 },
    ];
    const dumped = new Map([
      ['public.a', 3],
      ['public.c', 4],
    ]);
    expect(statsMismatch(stats, dumped, true)).toEqual([
      'public.b: 0 rows counted, none dumped',
      'public.c: 5 rows counted, 4 dumped',
    ]);
    expect(statsMismatch(stats, dumped, false)).toEqual(['public.c: 5 rows counted, 4 dumped']);
    expect(statsMismatch(stats, new Map([...dumped, ['public.b', 0], ['public.c', 5]]), true)).toEqual([]);
  });
});

describe('neo4j-admin dump frames', () => {
  // Real zstd frames, made by the zstd tool, behind the "DZV1" header neo4j-admin writes.
  function zstd(data: Buffer, ...args: string[]): Buffer {
    return execFileSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 64 * 1024 * 1024 });
  }
  const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `node ${i} ${i % 97}\n`).join(''));
  const noise = randomBytes(300_000);
  const dumps = {
    checksummed: Buffer.concat([Buffer.from('DZV1'), zstd(Buffer.concat([text, noise]))]),
    'no checksum': Buffer.concat([Buffer.from('DZV1'), zstd(text, '--no-check')]),
    'two frames': Buffer.concat([Buffer.from('DZV1'), zstd(noise, '-1'), zstd(text, '-19')]),
  };
  const check = (data: Buffer, size: number) => buffer(chunks(data, size).pipe(new DumpFramesCheck('graph')));

  it('passes whole dumps through unchanged, in any chunking', async () => {
    for (const [name, dump] of Object.entries(dumps)) {
      for (const size of [1, 5, 4096, dump.length]) {
        if (size === 1 && dump.length > 100_000) continue;
        expect((await check(dump, size)).equals(dump), `${name}, chunks of ${size}`).toBe(true);
      }
    }
  });

  it('fails a dump cut anywhere inside a frame, and one without the header', async () => {
    for (const [name, dump] of Object.entries(dumps)) {
      for (const at of [5, 9, 100, Math.floor(dump.length / 2), dump.length - 4, dump.length - 1]) {
        await expect(check(dump.subarray(0, at), 4096), `${name} cut at ${at}`).rejects.toMatchObject({
          code: 'DUMP_INCOMPLETE',
          message: expect.stringMatching(
            /^neo4j: neo4j-admin exited 0, but its dump of graph is not whole: it ends after \d+ bytes inside a zstd frame/,
          ),
        });
      }
    }
    await expect(check(Buffer.from('DZV1'), 10)).rejects.toThrow(/the header and no data/);
    await expect(check(Buffer.alloc(0), 10)).rejects.toThrow(/0 bytes, without the dump header/);
    await expect(check(zstd(text), 4096)).rejects.toThrow(/does not start with a dump header/);
  });
});
