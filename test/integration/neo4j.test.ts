// Neo4j end to end with a real Community server and the real neo4j-admin (both from Maven Central): stop-start
// dumps streamed to S3, a point-in-time restore compared node for node and relationship for relationship, the
// server running again after a killed dump and after a failed upload, clear errors, and a drill on a scratch
// server.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manifest } from '../../src/catalog/manifest.js';
import { type AgeKey, ageKeygen } from '../harness/age.js';
import { drillJson, runCli, startCli, writeConfig } from '../harness/cli.js';
import { waitFor } from '../harness/free-port.js';
import {
  backupWithBrokenUpload,
  boltAnswers,
  createKnownGraph,
  cypher,
  graph,
  type Neo4jServer,
  startNeo4j,
} from '../harness/neo4j.js';
import { randomPrefix, s3Keys, s3StorageConfig } from '../harness/s3.js';
import { startFaultProxy } from '../hostile/fault-proxy.js';
import { mountTinyFolder } from '../hostile/hostile-support.js';

const s3 = inject('s3');

// Each stop-start backup stops and starts a real JVM server: minutes, not seconds.
describe('neo4j (real Community server, real neo4j-admin)', { timeout: 300_000 }, () => {
  let server: Neo4jServer;
  let path: string;
  let prefix: string;
  let key: AgeKey;

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

  async function config(
    extra: Record<string, unknown> = {},
    storage?: Record<string, unknown>,
    top: Record<string, unknown> = {},
  ) {
    const made = await writeConfig({
      ...top,
      // Encrypted, as a careful deployment runs it: the dump is stored as neo4j-admin compressed it, then age.
      storage: storage ?? {
        ...s3StorageConfig(s3, prefix),
        encryption: { recipients: [key.recipient], identityFile: key.identityFile },
      },
      targets: [target(extra)],
    });
    await writeFile(join(made.dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    await writeFile(join(made.dir, 'neo4j_password'), `${server.password}\n`);
    return made;
  }

  beforeAll(async () => {
    key = await ageKeygen();
    server = await startNeo4j();
    prefix = randomPrefix('neo4j');
    ({ path } = await config());
    await createKnownGraph(server, 3000);
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
    expect(manifest?.artifacts[0]?.encryption?.format).toBe('age-v1');
    expect(manifest?.artifacts[0]?.key).toMatch(/\/neo4j\.neo4j-dump\.age$/);
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

  it('a restore stopped once the load ran says the database may be left incomplete, starts the server again, and the next restore mends it', async () => {
    // The real neo4j-admin, whose load does not exit until it is killed: the restore is stopped (SIGTERM) then.
    const loaded = join(await mkdtemp(join(tmpdir(), 'lifeboat-it-')), 'loaded');
    const hold = `case " $* " in *" database load "*) "$@" || exit $?; touch '${loaded}'; exec sleep 600;; esac\nexec "$@"`;
    const { path: held } = await config({
      exec: { ...server.exec, admin: ['sh', '-c', hold, 'sh', ...server.exec.admin] },
    });
    const running = startCli(['--config', held, 'restore', 'graph', '--force']);
    await waitFor('the load of the restore', async () => existsSync(loaded), 240_000);
    running.child.kill('SIGTERM');
    const stopped = await running.result;
    expect(stopped.code).not.toBe(0);
    expect(stopped.stderr).toContain(
      'interrupted (received SIGTERM); neo4j: database neo4j may be left incomplete (neo4j-admin load overwrites it in place)',
    );
    expect(stopped.stderr).not.toContain('nothing committed');
    expect(await boltAnswers(server)).toBe(true);
    const again = await runCli(['--config', path, 'restore', 'graph', '--force']);
    expect(again.code, again.stderr).toBe(0);
    expect(await boltAnswers(server)).toBe(true);
  });

  it('a restore whose temp folder has no room for the dump refuses before it downloads, and stops nothing', async () => {
    const before = await graph(server);
    const listed = JSON.parse((await runCli(['--config', path, 'list', 'graph', '--json'])).stdout) as Manifest[];
    const rawSize = listed.sort((a, b) => a.id.localeCompare(b.id)).at(-1)?.artifacts[0]?.rawSize as number;
    const tiny = await mountTinyFolder('64k');
    try {
      expect(rawSize).toBeGreaterThan(64 * 1024);
      const refused = await runCli(['--config', path, 'restore', 'graph', '--force'], { TMPDIR: tiny.path });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `restore graph: needs [\\d.]+ [KM]iB free in ${tiny.path} \\(the dump is downloaded to the temp folder before the database goes offline\\), which has 64.0 KiB; destination untouched`,
        ),
      );
      expect(refused.stderr).toContain('Try: free space in the temp folder, or point TMPDIR at a folder with room');
      expect(readdirSync(tiny.path)).toEqual([]);
    } finally {
      await tiny.unmount();
    }
    expect(await boltAnswers(server)).toBe(true);
    expect(await graph(server)).toEqual(before);
  });

  it('a restore whose download breaks half way never touches the database: the server runs on, the graph as it was', async () => {
    const before = await graph(server);
    const listed = await runCli(['--config', path, 'list', 'graph', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const backups = JSON.parse(listed.stdout) as Manifest[];
    const newest = backups.sort((a, b) => a.id.localeCompare(b.id)).at(-1) as Manifest;
    const size = newest.artifacts[0]?.size as number;
    const endpoint = new URL(s3.endpoint);
    const proxy = await startFaultProxy(endpoint.hostname, Number(endpoint.port));
    try {
      const { path: viaProxy } = await config(
        {},
        {
          ...s3StorageConfig(s3, prefix),
          endpoint: proxy.url,
          encryption: { recipients: [key.recipient], identityFile: key.identityFile },
        },
        // The restore's lease cannot be given back through a proxy that resets every connection: a short one
        // expires soon, and is unlocked below, so the tests after this one find the target free.
        { lease: { ttl: '1s' } },
      );
      // A database that holds data is proven before it is touched: that pass reads the backup whole, and the
      // restoring pass breaks half way (and every try after it).
      proxy.setFault({ kind: 'reset', direction: 'down', bytes: Math.floor(size * 1.5) });
      const broken = await runCli(['--config', viaProxy, 'restore', 'graph', '--force']);
      expect(broken.code).not.toBe(0);
      expect(broken.stderr).toContain('(neo4j: nothing committed)');
      expect(proxy.injected()).toBeGreaterThan(0);
    } finally {
      await proxy.close();
      await waitFor(
        'the lease of the broken restore to expire',
        async () => (await runCli(['--config', path, 'unlock', 'graph', '--yes'])).code === 0,
        30_000,
      );
    }
    expect(await boltAnswers(server)).toBe(true);
    expect(await graph(server)).toEqual(before);
  });

  it('starts the server again after a dump that is killed half way, and stores nothing', async () => {
    const { path: p } = await config({}, s3StorageConfig(s3, `${prefix}killed/`));
    const running = startCli(['--config', p, 'backup']);
    let killed = false;
    for (let i = 0; i < 600 && !killed; i += 1) {
      try {
        // Only this backup's own neo4j-admin (a child of this CLI), never another test's by name.
        execFileSync('pkill', [
          '-KILL',
          '-P',
          String(running.child.pid),
          '-f',
          'org.neo4j.cli.AdminTool database dump',
        ]);
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
    await backupWithBrokenUpload(s3, async (endpoint) => {
      const made = await config({}, { ...s3StorageConfig(s3, `${prefix}reset/`), endpoint });
      return made.path;
    });
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
});
