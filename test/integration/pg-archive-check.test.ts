// The in-process reader of pg_dump's custom format against real pg_dump archives: the rows it counts are the
// rows PostgreSQL counts, in any chunking; every archive cut short is refused, as pg_restore refuses it; the
// layouts it does not read (data compressed by pg_dump, an unknown version) go to pg_restore instead.
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ArchiveDefect, ArchiveUnsupported, CustomArchiveReader } from '../../src/drivers/postgres/custom-archive.js';
import { checkArchive } from '../../src/drivers/postgres/dump-check.js';
import { createDatabase, pgClient } from '../harness/postgres.js';

const pg = inject('postgres');

const TABLES = [
  ['public', 'plain'],
  ['public', 'empty'],
  ['we"ird.schema', 'ta.ble "x"'],
  ['public', 'texts'],
  ['public', 'part_a'],
  ['public', 'part_b'],
  ['public', 'marker'],
] as const;

function pgDump(database: string, ...args: string[]): Buffer {
  const run = spawnSync(
    'pg_dump',
    ['--format=custom', `--host=${pg.host}`, `--port=${pg.port}`, `--username=${pg.user}`, ...args, database],
    { env: { ...process.env, PGPASSWORD: pg.password }, maxBuffer: 256 * 2 ** 20 },
  );
  if (run.status !== 0) throw new Error(`pg_dump failed: ${run.stderr}`);
  return run.stdout;
}

/** pg_restore's own verdict on an archive: whether it reads every entry. */
function pgRestoreReads(archive: Buffer): boolean {
  return spawnSync('pg_restore', ['--file=/dev/null', '--data-only'], { input: archive }).status === 0;
}

function read(archive: Buffer, size: number): Map<string, number> {
  const reader = new CustomArchiveReader();
  for (let at = 0; at < archive.length; at += size) reader.push(archive.subarray(at, at + size));
  reader.end();
  return reader.counts;
}

describe('reading pg_dump custom-format archives in process', () => {
  let database: string;
  let expected: Map<string, number>;
  let archive: Buffer;

  beforeAll(async () => {
    database = await createDatabase(pg, 'archive');
    const client = await pgClient(pg, database);
    try {
      await client.query(`
        CREATE TABLE plain AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 20000) g;
        CREATE TABLE empty (id int);
        CREATE SCHEMA "we""ird.schema";
        CREATE TABLE "we""ird.schema"."ta.ble ""x""" AS SELECT g AS id FROM generate_series(1, 777) g;
        -- Newlines, tabs, backslashes and a COPY end marker inside values: escaped in COPY text, one line a row.
        CREATE TABLE texts (body text, doc jsonb);
        INSERT INTO texts SELECT E'line one\\nline two\\t\\\\.' || g || E'\\n\\\\.\\n', jsonb_build_object('k', E'a\\nb', 'n', g)
          FROM generate_series(1, 3001) g;
        -- A row whose one value is the COPY end marker: written as \\\\., it is no end.
        CREATE TABLE marker (v text);
        INSERT INTO marker VALUES (E'\\\\.'), (E'\\\\.'), ('x');
        CREATE TABLE parted (id int, kind text) PARTITION BY LIST (kind);
        CREATE TABLE part_a PARTITION OF parted FOR VALUES IN ('a');
        CREATE TABLE part_b PARTITION OF parted FOR VALUES IN ('b');
        INSERT INTO parted SELECT g, CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 5000) g;
        SELECT lo_from_bytea(0, convert_to(repeat('large object ', 50000), 'UTF8'));
        SELECT lo_from_bytea(0, '\\x00'::bytea);
      `);
      expected = new Map();
      for (const [schema, name] of TABLES) {
        const ident = `"${schema.replaceAll('"', '""')}"."${name.replaceAll('"', '""')}"`;
        const rows = Number((await client.query(`SELECT count(*) AS n FROM ${ident}`)).rows[0].n);
        expected.set(`${schema}.${name}`, rows);
      }
    } finally {
      await client.end();
    }
    archive = pgDump(database, '--compress=0');
  });

  it('counts the rows PostgreSQL counts, whatever the chunk sizes', () => {
    expect(expected.get('public.plain')).toBe(20000);
    expect(expected.get('public.texts')).toBe(3001);
    expect(expected.get('public.marker')).toBe(3);
    for (const size of [1, 7, 4093, 65536, archive.length]) {
      expect(Object.fromEntries(read(archive, size)), `chunks of ${size} bytes`).toEqual(Object.fromEntries(expected));
    }
  });

  it('refuses the archive cut at any point, as pg_restore does', () => {
    // Every cut in the header and table of contents and a little beyond, then cuts spread over the rest
    // (odd steps: across fields and chunk boundaries), and the last bytes one by one.
    const head = archive.indexOf('COPY public.texts');
    expect(head).toBeGreaterThan(0);
    const cuts = new Set<number>();
    for (let at = 0; at < head + 4096; at += 1) cuts.add(at);
    const step = Math.floor((archive.length - head) / 200) | 1;
    for (let at = head + 4096; at < archive.length; at += step) cuts.add(at);
    for (let at = archive.length - 64; at < archive.length; at += 1) cuts.add(at);
    for (const cut of cuts) {
      expect(() => read(archive.subarray(0, cut), 4093), `cut at ${cut} of ${archive.length}`).toThrow(ArchiveDefect);
    }
    // pg_restore agrees on a sample of the same cuts, and on the whole archive.
    const sample = [...cuts].filter((_, i) => i % Math.ceil(cuts.size / 12) === 0);
    for (const cut of sample) expect(pgRestoreReads(archive.subarray(0, cut)), `pg_restore, cut at ${cut}`).toBe(false);
    expect(pgRestoreReads(archive)).toBe(true);
  });

  it('names where a cut archive ends, and refuses bytes that are not an archive', () => {
    const half = archive.subarray(0, Math.floor(archive.length / 2));
    expect(() => read(half, 65536)).toThrow(/^it ends after \d+ bytes, inside the data of TABLE DATA /);
    expect(() => read(Buffer.from('-- PostgreSQL database dump\n'), 64)).toThrow(/does not start with "PGDMP"/);
    expect(() => read(Buffer.alloc(0), 64)).toThrow('it ends after 0 bytes, inside its header');
  });

  it('leaves an archive of a version it does not know to pg_restore', () => {
    const newer = Buffer.from(archive);
    newer[6] = 99; // the minor version byte: 1.99
    expect(() => read(newer, 65536)).toThrow(ArchiveUnsupported);
  });

  async function check(bytes: Buffer, size: number) {
    const source = Readable.from(
      Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)),
    );
    const completeness = checkArchive(source, 'pg_restore');
    const passed = await buffer(completeness.stream);
    const verdict = await completeness.whole.then(
      () => 'whole',
      (error: Error) => error.message,
    );
    return { passed, verdict, counts: Object.fromEntries(completeness.counts()) };
  }

  it('passes every byte through unchanged and proves the archive whole', async () => {
    const { passed, verdict, counts } = await check(archive, 65536);
    expect(passed.equals(archive)).toBe(true);
    expect(verdict).toBe('whole');
    expect(counts).toEqual(Object.fromEntries(expected));
  });

  it('fails a cut archive with the reason, passing its bytes on', async () => {
    const cut = archive.subarray(0, archive.length - 10);
    const { passed, verdict } = await check(cut, 65536);
    expect(passed.equals(cut)).toBe(true);
    expect(verdict).toMatch(
      /^postgres: pg_dump exited 0, but its output is not a whole custom-format archive: it ends after \d+ bytes, inside the data of /,
    );
  });

  it('checks an archive whose data pg_dump compressed with pg_restore instead, large or small', async () => {
    const compressed = pgDump(database, '--compress=5');
    expect(() => read(compressed, 65536)).toThrow(ArchiveUnsupported);
    const { passed, verdict, counts } = await check(compressed, 8192);
    expect(passed.equals(compressed)).toBe(true);
    expect(verdict).toBe('whole');
    expect(counts).toEqual(Object.fromEntries(expected));
    // pg_restore's verdict on a cut one, too.
    const cut = await check(compressed.subarray(0, compressed.length - 100), 8192);
    expect(cut.verdict).toMatch(/^postgres: pg_dump exited 0, but its output is not a whole custom-format archive: /);
    // An archive smaller than the reader's first look: it is handed over at its end.
    const small = pgDump(database, '--compress=5', '--schema-only', '--table=empty');
    expect(small.length).toBeLessThan(4096);
    const smallCheck = await check(small, 100);
    expect(smallCheck.passed.equals(small)).toBe(true);
    expect(smallCheck.verdict).toBe('whole');
  });
});
