// The driver contract for SQLite, on real database files. (SQLite has no dump tool to break: its copy's
// length is checked against the header's page count, tested in test/unit/dump-formats.test.ts.)
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll } from 'vitest';
import { configSchema, type TargetConfig } from '../../src/config/schema.js';
import { describeDriver } from './driver-suite.js';

let target: TargetConfig;

beforeAll(async () => {
  const path = join(await mkdtemp(join(tmpdir(), 'lifeboat-conformance-sqlite-')), 'shop.db');
  const db = new Database(path);
  db.exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT);
           CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);`);
  const insert = db.prepare('INSERT INTO orders (note) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 20_000; i += 1) insert.run(`order ${i} ${'x'.repeat(i % 200)}`);
  })();
  db.prepare("INSERT INTO customers (name) VALUES ('ada'), ('grace')").run();
  db.close();
  const config = configSchema.parse({
    storage: { type: 'local', path: '/unused' },
    targets: [{ name: 'shop', driver: 'sqlite', path }],
  });
  target = config.targets[0] as TargetConfig;
});

describeDriver('sqlite', { target: () => target, tools: [] });
