// The driver contract for PostgreSQL: a real server, the real pg_dump and pg_restore, and stand-in pg_dump
// tools that exit 0 having written nothing or half of a real dump.
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { configSchema, type TargetConfig } from '../../src/config/schema.js';
import { createDriver } from '../../src/drivers/create-driver.js';
import { findStdbuf, withStdoutBuffer } from '../../src/drivers/run-tool.js';
import { standInBinDir } from '../harness/pg-stand-in.js';
import { createDatabase, pgClient, postgresTarget } from '../harness/postgres.js';
import { describeDriver } from './driver-suite.js';

const pg = inject('postgres');
let raw: Record<string, unknown>;
let dir: string;

const parse = (extra: Record<string, unknown> = {}) =>
  configSchema.parse({ storage: { type: 'local', path: '/unused' }, targets: [{ ...raw, ...extra }] })
    .targets[0] as TargetConfig;

beforeAll(async () => {
  const database = await createDatabase(pg, 'conformance');
  const client = await pgClient(pg, database);
  await client.query(`
    CREATE TABLE orders AS SELECT g AS id, md5(g::text) || repeat('x', g % 300) AS note FROM generate_series(1, 200000) g;
    CREATE SCHEMA "Odd Schema";
    CREATE TABLE "Odd Schema"."Mixed Case" AS SELECT g AS id FROM generate_series(1, 17) g;
    CREATE TABLE empty_table (id int);`);
  await client.end();
  raw = postgresTarget(pg, database, { name: 'app' });
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-conformance-pg-'));
});

describeDriver('postgres', {
  target: () => parse(),
  tools: ['pg_dump', 'pg_restore'],
  async brokenTool(kind) {
    const body =
      kind === 'empty'
        ? 'exit 0'
        : 'TMP=$(mktemp); "$REAL" "$@" > "$TMP" || exit 1; SIZE=$(stat -c %s "$TMP"); head -c $((SIZE / 2)) "$TMP"; rm -f "$TMP"; exit 0';
    return parse({ binDir: await standInBinDir(dir, `${kind}-${Math.random().toString(36).slice(2)}`, body) });
  },
});

describe('postgres: how pg_dump is run', () => {
  /** Dumps through a stand-in pg_dump that records the stdout buffer stdbuf asked for, then runs the real one. */
  async function dumpRecording(): Promise<{ buffer: string; bytes: number }> {
    const label = `stdbuf-${Math.random().toString(36).slice(2)}`;
    const seen = join(dir, `${label}.seen`);
    const binDir = await standInBinDir(dir, label, `printf '%s' "$_STDBUF_O" > "${seen}"\nexec "$REAL" "$@"`);
    const session = await (await createDriver(parse({ binDir }))).dump();
    let bytes = 0;
    session.stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    await finished(session.stream);
    await session.done;
    return { buffer: readFileSync(seen, 'utf8'), bytes };
  }

  it('pg_dump runs under stdbuf with a 1 MiB stdout buffer, not stdio’s 4 KiB, where stdbuf is installed', async () => {
    expect(findStdbuf()).toBeDefined();
    const { buffer, bytes } = await dumpRecording();
    expect(buffer).toBe(String(1024 * 1024));
    expect(bytes).toBeGreaterThan(20 * 1024 * 1024);
  });

  it('without stdbuf on PATH, pg_dump runs as it is and writes the same dump', async () => {
    const buffered = await dumpRecording();
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'no-such-folder');
    try {
      expect(findStdbuf()).toBeUndefined();
      expect(withStdoutBuffer('pg_dump', ['--version'])).toEqual(['pg_dump', ['--version']]);
      const plain = await dumpRecording();
      expect(plain.buffer).toBe('');
      expect(plain.bytes).toBe(buffered.bytes);
    } finally {
      process.env.PATH = path;
    }
  });
});
