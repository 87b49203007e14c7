// The driver contract for PostgreSQL: a real server, the real pg_dump and pg_restore, and stand-in pg_dump
// tools that exit 0 having written nothing or half of a real dump.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, inject } from 'vitest';
import { configSchema, type TargetConfig } from '../../src/config/schema.js';
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
