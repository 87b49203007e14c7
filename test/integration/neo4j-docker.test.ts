// Neo4j with `access: docker` against a real Docker engine: the live Neo4j runs in a container (from the test
// image, which has the official image's interface), Lifeboat stops it, dumps in a one-off container on the
// same volume, starts it again, restores a point in time node for node, and drills in a throwaway container
// on a new volume. Nothing of Lifeboat's may be left behind: no one-off container, no scratch volume.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manifest } from '../../src/catalog/manifest.js';
import { clockAt, drillJson, runCli, writeConfig } from '../harness/cli.js';
import { freePort, waitFor } from '../harness/free-port.js';
import { backupWithBrokenUpload, boltAnswers, createKnownGraph, cypher, graph } from '../harness/neo4j.js';
import { randomPrefix, s3StorageConfig } from '../harness/s3.js';

const s3 = inject('s3');
const { engine, images } = inject('docker');

describe('neo4j access: docker (real Docker engine, Neo4j in a container)', { timeout: 300_000 }, () => {
  const docker = new Docker({ socketPath: engine.socket });
  const name = `lifeboat-test-neo4j-${randomBytes(4).toString('hex')}`;
  const volume = `${name}-data`;
  const password = `pw${randomBytes(8).toString('hex')}`;
  let uri: string;
  let prefix: string;
  const server = () => ({ uri, user: 'neo4j', password });

  /**
   * Containers and volumes Lifeboat made (one-off neo4j-admin, drill scratch) that still exist. Only Lifeboat
   * sets org.lifeboat.role (the test fixtures' containers, which may run meanwhile, carry org.lifeboat.test).
   */
  async function leftovers(): Promise<string[]> {
    const filters = JSON.stringify({ label: ['org.lifeboat.role'] });
    // Only this file's: a one-off is labelled with its container, a drill scratch with its target (other
    // test files run Lifeboat's Neo4j containers on the same engine at the same time).
    const ours = (labels: Record<string, string> | null | undefined) =>
      [name, 'graph'].includes(labels?.['org.lifeboat.for'] ?? '');
    const containers = (await docker.listContainers({ all: true, filters })).filter((c) => ours(c.Labels));
    const volumes = ((await docker.listVolumes({ filters })).Volumes ?? []).filter((v) => ours(v.Labels));
    return [...containers.map((c) => `container ${c.Names[0]}`), ...volumes.map((v) => `volume ${v.Name}`)];
  }

  async function running(): Promise<boolean> {
    return (await docker.getContainer(name).inspect()).State.Running;
  }

  async function config(extra: Record<string, unknown> = {}, storage?: Record<string, unknown>) {
    const made = await writeConfig({
      storage: storage ?? s3StorageConfig(s3, prefix),
      targets: [
        {
          name: 'graph',
          driver: 'neo4j',
          uri,
          user: 'neo4j',
          passwordFile: './neo4j_password',
          offline: 'stop-start',
          access: 'docker',
          docker: { socket: engine.socket, container: name },
          startTimeout: '180s',
          ...extra,
        },
      ],
    });
    await writeFile(join(made.dir, 's3_secret'), `${s3.secretAccessKey}\n`);
    await writeFile(join(made.dir, 'neo4j_password'), `${password}\n`);
    return made;
  }

  beforeAll(async () => {
    prefix = randomPrefix('neo4j-docker');
    const port = await freePort();
    uri = `bolt://127.0.0.1:${port}`;
    await docker.createVolume({ Name: volume });
    const container = await docker.createContainer({
      name,
      Image: images.neo4j,
      Env: [
        `NEO4J_AUTH=neo4j/${password}`,
        'NEO4J_server_memory_heap_max__size=512m',
        'NEO4J_server_memory_pagecache_size=64m',
      ],
      ExposedPorts: { '7687/tcp': {} },
      HostConfig: {
        Binds: [`${volume}:/data`],
        PortBindings: { '7687/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] },
      },
    });
    await container.start();
    await waitFor('neo4j in a container', () => boltAnswers(server()), 180_000);
    await createKnownGraph(server(), 1000);
  }, 300_000);

  afterAll(async () => {
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
    await docker
      .getVolume(volume)
      .remove()
      .catch(() => undefined);
  });

  it('stops the container, dumps in a one-off container, starts it again, and restores a point in time node for node', async () => {
    const { path } = await config();
    const before = await graph(server());
    // The two backups run a minute apart on their own clocks (LIFEBOAT_NOW); `between` lies between them.
    const base = Date.now() - 10 * 60_000;
    const first = await runCli(['--config', path, 'backup', '--json'], clockAt(base));
    expect(first.code, first.stderr).toBe(0);
    const [manifest] = JSON.parse(first.stdout) as Manifest[];
    expect(manifest?.stats).toMatchObject({ nodes: 1250, relationships: 2999 });
    expect(manifest?.source).toMatchObject({ edition: 'community', offline: 'stop-start' });
    expect(manifest?.source.downtimeSeconds).toBeGreaterThan(0);
    expect(await running()).toBe(true);
    expect(await boltAnswers(server())).toBe(true);
    expect(await leftovers()).toEqual([]);

    const between = new Date(base + 30_000).toISOString();
    await cypher(server(), 'UNWIND range(1, 100) AS i CREATE (:Later {uid: 900000 + i})');
    await cypher(server(), "MATCH (p:Person {uid: 1}) SET p.name = 'changed'");
    const second = await runCli(['--config', path, 'backup'], clockAt(base + 60_000));
    expect(second.code, second.stderr).toBe(0);

    const restored = await runCli(['--config', path, 'restore', 'graph', '--point-in-time', between, '--force']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(manifest?.id);
    expect(await running()).toBe(true);
    expect(await graph(server())).toEqual(before);
    expect(await leftovers()).toEqual([]);
  });

  it('drills in a throwaway container on a new volume: consistency check, counts, Cypher checks; removes both', async () => {
    const { path } = await config({
      drill: {
        checks: [
          { name: 'people', cypher: 'MATCH (p:Person) RETURN count(p)', expect: '= 1000' },
          { name: 'cities', cypher: 'MATCH (c:City) RETURN count(c)', expect: '= manifest', table: 'label:City' },
        ],
      },
    });
    const backup = await runCli(['--config', path, 'backup']);
    expect(backup.code, backup.stderr).toBe(0);
    const { code, record, stderr } = await drillJson(path);
    expect(code, stderr).toBe(0);
    expect(record?.checks.map((c) => `${c.name}: ${c.ok}`)).toEqual([
      'checksums: true',
      'integrity: true',
      'row counts: true',
      'people: true',
      'cities: true',
    ]);
    expect(record?.scratch.description).toMatch(/^scratch Neo4j container on volume lifeboat-drill-graph-/);
    expect(record?.scratch.cleanedUp).toBe(true);
    expect(await leftovers()).toEqual([]);
    expect(await running()).toBe(true);
  });

  it('starts the container again when the upload fails after the stop, and leaves no one-off container', async () => {
    await backupWithBrokenUpload(s3, async (endpoint) => {
      const made = await config({}, { ...s3StorageConfig(s3, `${prefix}reset/`), endpoint });
      return made.path;
    });
    expect(await running()).toBe(true);
    expect(await boltAnswers(server())).toBe(true);
    expect(await leftovers()).toEqual([]);
  });

  it('names the container or the socket when Docker cannot find them, and stops nothing', async () => {
    const missing = await config({ docker: { socket: engine.socket, container: 'no-such-container' } });
    const noContainer = await runCli(['--config', missing.path, 'backup']);
    expect(noContainer.code).toBe(1);
    expect(noContainer.stderr).toContain('neo4j: docker: inspect no-such-container:');
    expect(noContainer.stderr).toContain('Try: check docker.container');

    const noSocket = await config({ docker: { socket: '/nonexistent/docker.sock', container: name } });
    const unreachable = await runCli(['--config', noSocket.path, 'backup']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(
      "Try: mount the Docker socket (/nonexistent/docker.sock) into Lifeboat's container",
    );
    expect(await running()).toBe(true);
  });
});
