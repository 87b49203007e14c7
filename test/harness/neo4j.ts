// A real Neo4j Community server for the tests, assembled from Maven Central by scripts/install-test-servers.sh:
// its own home (conf, data, logs) in a temporary folder, auth on, Bolt on a free port. The real neo4j-admin is
// org.neo4j.cli.AdminTool from the same jars.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import neo4j from 'neo4j-driver';
import { expect } from 'vitest';
import { startFaultProxy } from '../hostile/fault-proxy.js';
import { CACHE } from './cache.js';
import { runCli } from './cli.js';
import { freePort, waitFor } from './free-port.js';
import type { S3Server } from './minio.js';

const run = promisify(execFile);
export const NEO4J_VERSION = process.env.NEO4J_VERSION ?? '5.26.30';
// Beside this file in the sources; from the build (dist/test/harness), the same file in the sources.
const SERVICE = [
  join(import.meta.dirname, 'neo4j-service.mjs'),
  join(import.meta.dirname, '..', '..', '..', 'test', 'harness', 'neo4j-service.mjs'),
].find((file) => existsSync(file)) as string;

export function neo4jLib(): string {
  return process.env.LIFEBOAT_NEO4J_LIB ?? join(CACHE, 'neo4j', NEO4J_VERSION, 'lib');
}

const JAVA_FLAGS = [
  '--add-opens=java.base/java.nio=ALL-UNNAMED',
  '--add-opens=java.base/java.io=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
];

export interface Neo4jServer {
  readonly home: string;
  readonly conf: string;
  readonly uri: string;
  readonly user: string;
  readonly password: string;
  /** The `exec:` section of a Lifeboat target for this server. */
  readonly exec: { admin: string[]; stop: string[]; start: string[]; console: string[]; home: string; conf: string };
  stop(): Promise<void>;
}

export async function startNeo4j(): Promise<Neo4jServer> {
  const lib = neo4jLib();
  const home = await mkdtemp(join(tmpdir(), 'lifeboat-neo4j-'));
  const conf = join(home, 'conf');
  for (const dir of ['conf', 'data', 'logs', 'run', 'plugins', 'import'])
    await mkdir(join(home, dir), { recursive: true });
  const port = await freePort();
  await writeFile(
    join(conf, 'neo4j.conf'),
    [
      `server.bolt.listen_address=127.0.0.1:${port}`,
      `server.bolt.advertised_address=127.0.0.1:${port}`,
      'server.http.enabled=false',
      'server.https.enabled=false',
      'server.memory.pagecache.size=128m',
      'dbms.usage_report.enabled=false',
      `server.directories.data=${join(home, 'data')}`,
      `server.directories.logs=${join(home, 'logs')}`,
      `server.directories.run=${join(home, 'run')}`,
      `server.directories.plugins=${join(home, 'plugins')}`,
      `server.directories.import=${join(home, 'import')}`,
      '',
    ].join('\n'),
  );
  const admin = ['java', ...JAVA_FLAGS, '-Xmx512m', '-cp', `${lib}/*`, 'org.neo4j.cli.AdminTool'];
  const env = { ...process.env, NEO4J_HOME: home, NEO4J_CONF: conf };
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const [java, ...adminArgs] = admin;
  await run(java as string, [...adminArgs, 'dbms', 'set-initial-password', password], { env });
  const service = (action: string) => ['node', SERVICE, action, lib];
  const server: Neo4jServer = {
    home,
    conf,
    uri: `bolt://127.0.0.1:${port}`,
    user: 'neo4j',
    password,
    exec: {
      admin,
      stop: service('stop'),
      start: service('start'),
      console: [
        'java',
        ...JAVA_FLAGS,
        '-Xmx1g',
        '-cp',
        `${lib}/*`,
        'org.neo4j.server.CommunityEntryPoint',
        '--home-dir={home}',
        '--config-dir={conf}',
        '--console-mode',
      ],
      home,
      conf,
    },
    stop: async () => {
      await run('node', service('stop').slice(1), { env }).catch(() => undefined);
      await rm(home, { recursive: true, force: true });
    },
  };
  await run('node', service('start').slice(1), { env });
  await waitFor('neo4j', () => boltAnswers(server), 120_000);
  return server;
}

export async function boltAnswers(server: Pick<Neo4jServer, 'uri' | 'user' | 'password'>): Promise<boolean> {
  const driver = neo4j.driver(server.uri, neo4j.auth.basic(server.user, server.password), {
    connectionTimeout: 2_000,
    logging: { level: 'error', logger: () => undefined },
  });
  try {
    await driver.verifyConnectivity();
    return true;
  } catch {
    return false;
  } finally {
    await driver.close();
  }
}

/** Runs Cypher against the server's `neo4j` database. */
export async function cypher(
  server: Pick<Neo4jServer, 'uri' | 'user' | 'password'>,
  text: string,
  params: Record<string, unknown> = {},
): Promise<Record<string, unknown>[]> {
  const driver = neo4j.driver(server.uri, neo4j.auth.basic(server.user, server.password), {
    logging: { level: 'error', logger: () => undefined },
  });
  try {
    const result = await driver.executeQuery(text, params, { database: 'neo4j' });
    return result.records.map((r) => r.toObject());
  } finally {
    await driver.close();
  }
}

type Bolt = Pick<Neo4jServer, 'uri' | 'user' | 'password'>;

/** A graph of known shape: three labels, three relationship types, properties of every type. */
export async function createKnownGraph(server: Bolt, people: number): Promise<void> {
  await cypher(
    server,
    `UNWIND range(1, $people) AS i
     CREATE (p:Person {uid: i, name: 'person ' + i, age: i % 90, score: i / 7.0, vip: i % 2 = 0,
                       tags: ['t' + (i % 3), 'x'], born: date('1980-01-01') + duration({days: i}),
                       seen: datetime('2026-01-01T00:00:00Z') + duration({minutes: i}),
                       home: point({x: i * 1.0, y: i * 2.0}), wait: duration({hours: i % 24})})`,
    { people },
  );
  await cypher(
    server,
    `UNWIND range(1, 200) AS i CREATE (:Company {uid: 100000 + i, name: 'company ' + i, founded: 1900 + i})`,
  );
  await cypher(server, `UNWIND range(1, 50) AS i CREATE (:City:Place {uid: 200000 + i, name: 'city ' + i})`);
  await cypher(
    server,
    `MATCH (a:Person), (b:Person) WHERE b.uid = a.uid + 1 CREATE (a)-[:KNOWS {since: 2000 + a.uid % 20}]->(b)`,
  );
  await cypher(
    server,
    `MATCH (p:Person), (c:Company) WHERE c.uid = 100000 + 1 + p.uid % 200 CREATE (p)-[:WORKS_AT {role: 'r' + p.uid % 5}]->(c)`,
  );
  await cypher(server, `MATCH (p:Person), (c:City) WHERE c.uid = 200000 + 1 + p.uid % 50 CREATE (p)-[:LIVES_IN]->(c)`);
}

/** Every node with its labels and properties, and every relationship with its ends, in a stable order. */
export async function graph(server: Bolt): Promise<{ nodes: unknown[]; rels: unknown[] }> {
  const nodes = await cypher(
    server,
    'MATCH (n) RETURN n.uid AS uid, labels(n) AS labels, properties(n) AS props ORDER BY n.uid',
  );
  const rels = await cypher(
    server,
    'MATCH (a)-[r]->(b) RETURN a.uid AS from, type(r) AS type, properties(r) AS props, b.uid AS to ORDER BY from, type, to',
  );
  const plain = (value: unknown): unknown =>
    JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  return { nodes: plain(nodes) as unknown[], rels: plain(rels) as unknown[] };
}

/**
 * `lifeboat backup` of a Neo4j target through a fault proxy in front of `s3` that resets every connection
 * once 32 KiB went up: the lease is taken, then the dump's upload fails while the DBMS is stopped. Asserts the
 * run failed with the store's error: the upload's own, or, should the failure reach the lease renewal first,
 * the lost lease.
 */
export async function backupWithBrokenUpload(
  s3: S3Server,
  configAt: (endpoint: string) => Promise<string>,
): Promise<void> {
  const endpoint = new URL(s3.endpoint);
  const proxy = await startFaultProxy(endpoint.hostname, Number(endpoint.port));
  try {
    proxy.setFault({ kind: 'reset', direction: 'up', bytes: 32 * 1024 });
    const result = await runCli(['--config', await configAt(proxy.url), 'backup']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /Error: backup graph: upload: (storage: write graph\/\S+\.neo4j-dump|interrupted \(lease: lost the lease of target graph: it could not be renewed: storage: write graph\/lease\.json)/,
    );
    expect(proxy.injected()).toBeGreaterThan(0);
  } finally {
    await proxy.close();
  }
}
