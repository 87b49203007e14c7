// Neo4j end to end with a real Community server and the real neo4j-admin (both from Maven Central): stop-start
// dumps streamed to S3, a point-in-time restore compared node for node and relationship for relationship, the
// server running again after a killed dump and after a failed upload, clear errors, and a drill on a scratch
// server.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manifest } from '../../src/catalog/manifest.js';
import { drillJson, runCli, startCli, writeConfig } from '../harness/cli.js';
import { boltAnswers, cypher, type Neo4jServer, startNeo4j } from '../harness/neo4j.js';
import { randomPrefix, s3Keys, s3StorageConfig } from '../harness/s3.js';
import { type OneOffResult, startFakeEngine } from '../support/fake-docker-engine.js';

const s3 = inject('s3');

/** Every node with its labels and properties, and every relationship with its ends, in a stable order. */
async function graph(server: Neo4jServer): Promise<{ nodes: unknown[]; rels: unknown[] }> {
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

// Each stop-start backup stops and starts a real JVM server: minutes, not seconds.
describe('neo4j (real Community server, real neo4j-admin)', { timeout: 300_000 }, () => {
  let server: Neo4jServer;
  let path: string;
  let prefix: string;

  const target = (extra: Record<string, unknown> = {}) => ({
    name: 'graph',
    driver: 'neo4j',
    uri: server.uri,
    user: server.user,
    passwordFile: './neo4j_password',
    offline: 'stop-start',
    exec: server.exec,
    startTimeout: '120s',
    ...extra,
  });

  async function config(extra: Record<string, unknown> = {}, storage?: Record<string, unknown>) {
    const made = await writeConfig({
      storage: storage ?? s3StorageConfig(s3, prefix),
      targets: [target(extra)],
    });
    await writeFile(join(made.dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    await writeFile(join(made.dir, 'neo4j_password'), `${server.password}\n`);
    return made;
  }

  beforeAll(async () => {
    server = await startNeo4j();
    prefix = randomPrefix('neo4j');
    ({ path } = await config());
    // A graph of known shape: three labels, three relationship types, properties of every type.
    await cypher(
      server,
      `UNWIND range(1, 3000) AS i
       CREATE (p:Person {uid: i, name: 'person ' + i, age: i % 90, score: i / 7.0, vip: i % 2 = 0,
                         tags: ['t' + (i % 3), 'x'], born: date('1980-01-01') + duration({days: i}),
                         seen: datetime('2026-01-01T00:00:00Z') + duration({minutes: i}),
                         home: point({x: i * 1.0, y: i * 2.0}), wait: duration({hours: i % 24})})`,
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
    await cypher(
      server,
      `MATCH (p:Person), (c:City) WHERE c.uid = 200000 + 1 + p.uid % 50 CREATE (p)-[:LIVES_IN]->(c)`,
    );
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('backs up with stop-start, restores a point in time, and the graph is the same node for node', async () => {
    const before = await graph(server);
    const first = await runCli(['--config', path, 'backup', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const [manifest] = JSON.parse(first.stdout) as Manifest[];
    expect(await boltAnswers(server)).toBe(true); // started again
    expect(manifest?.stats.tables).toEqual([
      { name: 'label:City', rows: 50 },
      { name: 'label:Company', rows: 200 },
      { name: 'label:Person', rows: 3000 },
      { name: 'label:Place', rows: 50 },
      { name: 'type:KNOWS', rows: 2999 },
      { name: 'type:LIVES_IN', rows: 3000 },
      { name: 'type:WORKS_AT', rows: 3000 },
    ]);
    expect(manifest?.stats).toMatchObject({ nodes: 3250, relationships: 8999 });
    expect(manifest?.source).toMatchObject({ database: 'neo4j', edition: 'community', offline: 'stop-start' });
    expect(String(manifest?.source.serverVersion)).toMatch(/^5\.26\./);
    expect(manifest?.source.downtimeSeconds).toBeGreaterThan(0);
    // neo4j-admin compresses its dumps itself: stored as is, still hashed and verified.
    expect(manifest?.artifacts[0]).toMatchObject({ compression: 'none', format: 'neo4j-admin-dump' });
    expect(manifest?.artifacts[0]?.key).toMatch(/\/neo4j\.neo4j-dump$/);
    expect((await runCli(['--config', path, 'verify', 'graph'])).code).toBe(0);
    expect(first.stderr).toContain('"downtimeSeconds"');

    await cypher(server, `UNWIND range(1, 500) AS i CREATE (:Person {uid: 300000 + i, name: 'late ' + i})`);
    await cypher(server, `MATCH (p:Person {uid: 1}) SET p.name = 'renamed' DETACH DELETE p`);
    const second = await runCli(['--config', path, 'backup']);
    expect(second.code, second.stderr).toBe(0);
    expect((await graph(server)).nodes).not.toEqual(before.nodes);

    const restored = await runCli([
      '--config',
      path,
      'restore',
      'graph',
      '--point-in-time',
      manifest?.snapshotAt as string,
      '--force',
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await boltAnswers(server)).toBe(true);
    const after = await graph(server);
    expect(after.nodes.length).toBe(3250);
    expect(after.rels.length).toBe(8999);
    expect(after).toEqual(before);
  });

  it('starts the server again after a dump that is killed half way, and stores nothing', async () => {
    const { path: p } = await config({}, s3StorageConfig(s3, `${prefix}killed/`));
    const running = startCli(['--config', p, 'backup']);
    let killed = false;
    for (let i = 0; i < 600 && !killed; i += 1) {
      try {
        execFileSync('pkill', ['-KILL', '-f', 'org.neo4j.cli.AdminTool database dump']);
        killed = true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    expect(killed).toBe(true);
    const result = await running.result;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Error: backup graph: (dump|upload): neo4j: neo4j-admin failed \(signal SIGKILL\)/);
    expect(await boltAnswers(server)).toBe(true);
    expect(await s3Keys(s3, `${prefix}killed/`)).toEqual([]);
  });

  it('starts the server again after an upload that fails', async () => {
    const { path: p } = await config({}, { ...s3StorageConfig(s3, prefix), bucket: 'no-such-bucket-here' });
    const result = await runCli(['--config', p, 'backup']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Error: backup graph: upload: storage: .*NoSuchBucket/);
    expect(await boltAnswers(server)).toBe(true);
  });

  it('gives clear errors, and stops nothing, for a wrong password, a missing database, a missing neo4j-admin', async () => {
    const { dir: d1, path: wrong } = await config();
    await writeFile(join(d1, 'neo4j_password'), 'not-the-password\n');
    const auth = await runCli(['--config', wrong, 'backup']);
    expect(auth.code).toBe(1);
    expect(auth.stderr).toContain(`neo4j: connect to ${server.uri}: authentication failed for user "neo4j"`);
    expect(auth.stderr).not.toContain('not-the-password');

    const { path: missingDb } = await config({ database: 'nosuchdb' });
    const db = await runCli(['--config', missingDb, 'backup']);
    expect(db.code).toBe(1);
    expect(db.stderr).toContain('neo4j: dump nosuchdb: no such database (known: neo4j, system)');

    const { path: noAdmin } = await config({ exec: { ...server.exec, admin: ['/nonexistent/neo4j-admin'] } });
    const admin = await runCli(['--config', noAdmin, 'backup']);
    expect(admin.code).toBe(1);
    expect(admin.stderr).toContain('neo4j: run neo4j-admin (/nonexistent/neo4j-admin)');
    expect(admin.stderr).toContain('Try: install Neo4j on this host, or set exec.admin');
    expect(await boltAnswers(server)).toBe(true);
  });

  it('refuses a dump of a running Community DBMS with offline: assume, naming the cause', async () => {
    const { path: p } = await config({ offline: 'assume' }, s3StorageConfig(s3, `${prefix}assume/`));
    const result = await runCli(['--config', p, 'backup']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the database is in use/i);
    expect(result.stderr).toContain('Try: Community can only dump a stopped DBMS: set offline: stop-start');
    expect(await boltAnswers(server)).toBe(true);
  });

  it('drills: loads into a scratch server, checks consistency, compares counts, runs Cypher checks, removes it', async () => {
    const { path: p, dir: d } = await config({
      drill: {
        to: './scratch',
        checks: [
          { name: 'people', cypher: 'MATCH (p:Person) RETURN count(p)', expect: '>= 3000' },
          {
            name: 'companies',
            cypher: 'MATCH (c:Company) RETURN count(c)',
            expect: '= manifest',
            table: 'label:Company',
          },
        ],
      },
    });
    const { code, record, stderr } = await drillJson(p);
    expect(code, stderr).toBe(0);
    expect(record?.checks.map((c) => `${c.name}: ${c.ok}`)).toEqual([
      'checksums: true',
      'integrity: true',
      'row counts: true',
      'people: true',
      'companies: true',
    ]);
    expect(record?.scratch.cleanedUp).toBe(true);
    expect(execFileSync('ls', ['-A', join(d, 'scratch')]).toString()).toBe('');
    expect(await boltAnswers(server)).toBe(true);
  });

  describe('access: docker (against a scripted Docker Engine API; no engine in CI)', () => {
    const inspect = {
      Id: 'c0ffee',
      Name: '/neo4j',
      Config: {
        Image: 'neo4j:5.26-community',
        Env: ['NEO4J_AUTH=neo4j/x', 'NEO4J_server_memory_pagecache_size=1G'],
        User: '7474:7474',
      },
      HostConfig: { Binds: ['neo4j-data:/data', '/srv/neo4j/conf:/conf:ro'], Mounts: [] },
      State: { Running: true },
    };
    const dumpBytes = Buffer.concat([Buffer.from('DZV1'), Buffer.alloc(300_000, 7)]);
    /** One-off neo4j-admin runs: `--version` answers 5.26.30, anything else gives `result`. */
    const admin = (result: OneOffResult) => (cmd: string[]) =>
      cmd.includes('--version') ? { stdout: Buffer.from('5.26.30\n'), stderr: '', exitCode: 0 } : result;

    async function dockerConfig(socket: string, extra: Record<string, unknown> = {}) {
      return config(
        { access: 'docker', docker: { socket, container: 'neo4j' }, ...extra },
        s3StorageConfig(s3, `${prefix}docker/`),
      );
    }

    it('stops the container, dumps from a one-off container on the same volumes, starts it again, then loads back', async () => {
      const engine = await startFakeEngine({
        container: 'neo4j',
        inspect,
        run: (cmd) =>
          admin(
            cmd.includes('dump')
              ? { stdout: dumpBytes, stderr: 'Files: 1/3, data: 10.0%\nDone\n', exitCode: 0 }
              : { stdout: Buffer.alloc(0), stderr: '', exitCode: 0 },
          )(cmd),
      });
      try {
        const { path: p } = await dockerConfig(engine.socket);
        const result = await runCli(['--config', p, 'backup', '--json']);
        expect(result.code, result.stderr).toBe(0);
        const [manifest] = JSON.parse(result.stdout) as Manifest[];
        expect(manifest?.artifacts[0]).toMatchObject({
          rawSize: dumpBytes.length,
          rawSha256: createHash('sha256').update(dumpBytes).digest('hex'),
        });
        expect(manifest?.source.downtimeSeconds).toBeGreaterThan(0);
        const sequence = engine.calls.map((c) => `${c.method} ${c.path}`);
        expect(sequence).toEqual([
          // neo4j-admin --version, in a one-off container, before anything stops
          'GET /containers/neo4j/json',
          'POST /containers/create',
          'POST /containers/oneoff-1/attach',
          'POST /containers/oneoff-1/start',
          'POST /containers/oneoff-1/wait',
          'DELETE /containers/oneoff-1',
          'POST /containers/neo4j/stop',
          'GET /containers/neo4j/json',
          'POST /containers/create',
          'POST /containers/oneoff-2/attach',
          'POST /containers/oneoff-2/start',
          'POST /containers/oneoff-2/wait',
          'DELETE /containers/oneoff-2',
          'POST /containers/neo4j/start',
        ]);
        const creates = engine.calls
          .filter((c) => c.path === '/containers/create')
          .map((c) => c.body as Record<string, unknown>);
        expect(creates[1]).toMatchObject({
          Image: 'neo4j:5.26-community',
          Cmd: ['neo4j-admin', 'database', 'dump', 'neo4j', '--to-stdout'],
          Env: inspect.Config.Env,
          User: '7474:7474',
          Tty: false,
          AttachStdout: true,
          HostConfig: { Binds: inspect.HostConfig.Binds, NetworkMode: 'none' },
        });

        engine.calls.length = 0;
        const restored = await runCli(['--config', p, 'restore', 'graph', '--force']);
        expect(restored.code, restored.stderr).toBe(0);
        expect(engine.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
          'POST /containers/neo4j/stop',
          'GET /containers/neo4j/json',
          'POST /containers/create',
          'POST /containers/oneoff-3/attach',
          'POST /containers/oneoff-3/start',
          'POST /containers/oneoff-3/wait',
          'DELETE /containers/oneoff-3',
          'POST /containers/neo4j/start',
        ]);
        const load = engine.calls.find((c) => c.path === '/containers/create')?.body as Record<string, unknown>;
        expect(load).toMatchObject({
          Cmd: ['neo4j-admin', 'database', 'load', 'neo4j', '--from-stdin', '--overwrite-destination=true'],
          OpenStdin: true,
          StdinOnce: true,
        });
        expect(engine.stdin.get('oneoff-3')?.equals(dumpBytes)).toBe(true);
      } finally {
        await engine.close();
      }
    });

    it('starts the container again when the dump in the one-off container fails, and says why', async () => {
      const engine = await startFakeEngine({
        container: 'neo4j',
        inspect,
        run: admin({
          stdout: Buffer.alloc(0),
          stderr: "The database is in use. Stop database 'neo4j' and try again.\n",
          exitCode: 1,
        }),
      });
      try {
        const { path: p } = await dockerConfig(engine.socket);
        const result = await runCli(['--config', p, 'backup']);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('the database is in use');
        expect(engine.calls.at(-1)).toMatchObject({ method: 'POST', path: '/containers/neo4j/start' });
        expect(engine.calls.filter((c) => c.method === 'DELETE')).toHaveLength(2); // no one-off left behind
      } finally {
        await engine.close();
      }
    });

    it('names the socket when Docker cannot be reached', async () => {
      const { path: p } = await dockerConfig('/nonexistent/docker.sock');
      const result = await runCli(['--config', p, 'backup']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('neo4j: docker: inspect neo4j:');
      expect(result.stderr).toContain(
        "Try: mount the Docker socket (/nonexistent/docker.sock) into Lifeboat's container",
      );
      expect(await boltAnswers(server)).toBe(true);
    });
  });
});
