// The Neo4j sidecar as users run it: Lifeboat inside its image, the Docker socket mounted (readable through
// the socket's group), backing up and drilling a Neo4j container on the same network (`access: docker`).
// Lifeboat stops the container, dumps in a one-off container on its volume, starts it again; the drill runs
// a throwaway Neo4j container on a new volume, reached over the network. Nothing of Lifeboat's is left.
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import type { Manifest } from '../../src/catalog/manifest.js';
import type { DrillRecord } from '../../src/verify/drill-record.js';
import { freePort, waitFor } from '../harness/free-port.js';
import { buildLifeboatImage, docker, dockerOk, HARDENED, IMAGE_BUILD_HOOK_TIMEOUT } from '../harness/lifeboat-image.js';
import { boltAnswers, createKnownGraph, graph } from '../harness/neo4j.js';

const { engine, images } = inject('docker');
/** Not `graph`: test/integration/neo4j-docker.test.ts drills a target of that name on the same engine. */
const TARGET = 'sidecar-graph';

describe('Neo4j sidecar: Lifeboat in its container with the Docker socket', { timeout: 900_000 }, () => {
  const run = randomBytes(4).toString('hex');
  const network = `lifeboat-neo4j-sidecar-${run}`;
  const name = `lifeboat-neo4j-sidecar-db-${run}`;
  const volume = `${name}-data`;
  const password = `pw${randomBytes(8).toString('hex')}`;
  let image: string;
  let hostBolt: { uri: string; user: string; password: string };
  let dir: string;

  /** `docker run --rm` of the Lifeboat image, as a compose service with the socket would run it. */
  function lifeboat(args: string[]) {
    const socketGroup = String(statSync(engine.socket).gid);
    return docker(engine, [
      'run',
      '--rm',
      '--label',
      'org.lifeboat.test=neo4j-sidecar',
      '--network',
      network,
      ...HARDENED,
      '--group-add',
      socketGroup,
      '--volume',
      `${engine.socket}:/var/run/docker.sock`,
      '--volume',
      `${dir}/config:/etc/lifeboat:ro`,
      '--volume',
      `${dir}/backups:/backups`,
      image,
      ...args,
    ]);
  }

  /** Lifeboat's one-off containers (labelled with the container) and drill scratch (with the target) of this file. */
  async function leftovers(): Promise<string[]> {
    const found: string[] = [];
    for (const owner of [name, TARGET]) {
      const label = `label=org.lifeboat.for=${owner}`;
      found.push(...(await dockerOk(engine, ['ps', '--all', '--filter', label, '--format', '{{.Names}}'])).split('\n'));
      found.push(...(await dockerOk(engine, ['volume', 'ls', '--filter', label, '--format', '{{.Name}}'])).split('\n'));
    }
    return found.filter((line) => line !== '');
  }

  beforeAll(async () => {
    image = (await buildLifeboatImage(engine, images)).name;
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-neo4j-sidecar-'));
    await mkdir(join(dir, 'config'));
    await mkdir(join(dir, 'backups'));
    await chmod(dir, 0o755);
    await chmod(join(dir, 'backups'), 0o777);
    await chmod(join(dir, 'config'), 0o755);
    await writeFile(
      join(dir, 'config', 'lifeboat.yaml'),
      stringify({
        storage: { type: 'local', path: '/backups' },
        targets: [
          {
            name: TARGET,
            driver: 'neo4j',
            uri: 'bolt://neo4j:7687',
            user: 'neo4j',
            passwordFile: '/etc/lifeboat/neo4j_password',
            offline: 'stop-start',
            access: 'docker',
            docker: { socket: '/var/run/docker.sock', container: name },
            startTimeout: '180s',
            drill: { checks: [{ name: 'people', cypher: 'MATCH (p:Person) RETURN count(p)', expect: '= 300' }] },
          },
        ],
      }),
    );
    await writeFile(join(dir, 'config', 'neo4j_password'), `${password}\n`);
    for (const file of ['lifeboat.yaml', 'neo4j_password']) await chmod(join(dir, 'config', file), 0o644);
    await dockerOk(engine, ['network', 'create', '--label', 'org.lifeboat.test=neo4j-sidecar', network]);
    await dockerOk(engine, ['volume', 'create', '--label', 'org.lifeboat.test=neo4j-sidecar', volume]);
    const port = await freePort();
    hostBolt = { uri: `bolt://127.0.0.1:${port}`, user: 'neo4j', password };
    await dockerOk(engine, [
      'run',
      '--detach',
      '--name',
      name,
      '--label',
      'org.lifeboat.test=neo4j-sidecar',
      '--network',
      network,
      '--network-alias',
      'neo4j',
      '--env',
      `NEO4J_AUTH=neo4j/${password}`,
      '--env',
      'NEO4J_server_memory_heap_max__size=512m',
      '--env',
      'NEO4J_server_memory_pagecache_size=64m',
      '--volume',
      `${volume}:/data`,
      '--publish',
      `127.0.0.1:${port}:7687`,
      images.neo4j,
      'neo4j',
    ]);
    await waitFor('neo4j in its container', () => boltAnswers(hostBolt), 180_000);
    await createKnownGraph(hostBolt, 300);
  }, IMAGE_BUILD_HOOK_TIMEOUT);

  afterAll(async () => {
    await docker(engine, ['rm', '--force', name]);
    await docker(engine, ['volume', 'rm', volume]);
    await docker(engine, ['network', 'rm', network]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('backs up the Neo4j container (stop, one-off dump, start) and drills it in a throwaway container', async () => {
    const before = await graph(hostBolt);
    const backup = await lifeboat(['backup', '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const [manifest] = JSON.parse(backup.stdout) as Manifest[];
    expect(manifest?.stats).toMatchObject({ nodes: before.nodes.length, relationships: before.rels.length });
    expect(manifest?.source).toMatchObject({ offline: 'stop-start' });
    await waitFor('neo4j to answer again after the backup', () => boltAnswers(hostBolt), 180_000);
    expect(await graph(hostBolt)).toEqual(before);
    expect(await leftovers()).toEqual([]);

    const drill = await lifeboat(['drill', '--json']);
    expect(drill.code, drill.stderr).toBe(0);
    const [record] = JSON.parse(drill.stdout) as DrillRecord[];
    expect(record?.checks.map((c) => `${c.name}: ${c.ok}`)).toEqual([
      'checksums: true',
      'integrity: true',
      'row counts: true',
      'people: true',
    ]);
    expect(record?.scratch.description).toContain(`(network ${network})`);
    expect(record?.scratch.cleanedUp).toBe(true);
    expect(await leftovers()).toEqual([]);
  });
});
