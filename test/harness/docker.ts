// A Docker engine for the tests: the one that answers (DOCKER_HOST, /var/run/docker.sock), or, when none does,
// a private dockerd (Debian's docker.io, installed by scripts/install-test-servers.sh) on its own socket, with
// its images kept in the cache folder between runs (by one run at a time). And the images the tests run on it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import Docker from 'dockerode';
import { processAlive } from '../../src/work-dir.js';
import { CACHE } from './cache.js';
import { stopper, waitFor } from './free-port.js';

export interface DockerEngine {
  /** The engine's unix socket. */
  readonly socket: string;
  /** True when the harness started this engine itself (no registry: the images are built locally). */
  readonly private: boolean;
}

/**
 * Images for the tests: built from Debian packages, or set by
 * LIFEBOAT_TEST_{POSTGRES,MINIO,NEO4J,PROMETHEUS,NODE,DEBIAN}_IMAGE. The minio one holds mc too.
 */
export interface TestImages {
  readonly postgres: string;
  readonly minio: string;
  readonly neo4j: string;
  readonly prometheus: string;
  /** Node 24 on Debian bookworm, and Debian bookworm: the Lifeboat image's bases (NODE_IMAGE, DEBIAN_IMAGE). */
  readonly node: string;
  readonly debian: string;
}

/** The socket of an engine that answers without the harness's help, if any. */
async function answeringEngine(): Promise<string | undefined> {
  const fromEnv = process.env.DOCKER_HOST;
  const candidates =
    fromEnv !== undefined && fromEnv !== ''
      ? fromEnv.startsWith('unix://')
        ? [fromEnv.slice('unix://'.length)]
        : []
      : ['/var/run/docker.sock'];
  for (const socket of candidates) {
    if (existsSync(socket) && (await pings(socket))) return socket;
  }
  return undefined;
}

async function pings(socket: string): Promise<boolean> {
  try {
    await new Docker({ socketPath: socket }).ping();
    return true;
  } catch {
    return false;
  }
}

/** An engine that answers, or a private dockerd started here (root only); stop() ends only what it started. */
export async function startDockerEngine(): Promise<{ engine: DockerEngine; stop: () => Promise<void> }> {
  const answering = await answeringEngine();
  if (answering !== undefined) return { engine: { socket: answering, private: false }, stop: async () => undefined };
  if (process.getuid?.() !== 0) {
    throw new Error(
      'harness: no Docker engine answers (DOCKER_HOST, /var/run/docker.sock) and only root can start one; ' +
        'start Docker, or run the tests as root (see README, Tests)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-dockerd-'));
  // Two test runs on one machine never share a data root: the first takes the cached one (its images kept
  // between runs), a run beside it gets a fresh one of its own, removed when it stops.
  const claim = await claimCachedDataRoot();
  const dataRoot = claim === undefined ? join(dir, 'data') : join(CACHE, 'docker');
  await mkdir(dataRoot, { recursive: true });
  const socket = join(dir, 'docker.sock');
  const child: ChildProcess = spawn(
    'dockerd',
    [
      '--host',
      `unix://${socket}`,
      '--data-root',
      dataRoot,
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'dockerd.pid'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-8000);
  });
  child.once('error', (error) => {
    log += `\n${error.message}`;
  });
  try {
    await waitFor(
      'dockerd',
      async () => {
        if (child.exitCode !== null || child.pid === undefined) throw new Error(`dockerd exited: ${log}`);
        return existsSync(socket) && (await pings(socket));
      },
      60_000,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message} (is docker.io installed? see scripts/install-test-servers.sh)`);
  }
  const stop = stopper(child, 'SIGTERM', dir);
  return {
    engine: { socket, private: true },
    stop: async () => {
      await stop();
      await claim?.release();
    },
  };
}

/** The cached data root's lock file, taken for this run; undefined when a live run holds it. */
async function claimCachedDataRoot(): Promise<{ release(): Promise<void> } | undefined> {
  const lock = join(CACHE, 'docker.lock');
  await mkdir(CACHE, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      return { release: () => rm(lock, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) return undefined;
    // Left by a run that was killed: its engine is gone too.
    await rm(lock, { force: true });
  }
  return undefined;
}

/**
 * The test images: taken from the environment, or made from the root file system that
 * scripts/install-test-servers.sh built (one import, then one tag per role, sharing the layer).
 */
export async function ensureTestImages(engine: DockerEngine): Promise<TestImages> {
  const fromEnv = {
    postgres: process.env.LIFEBOAT_TEST_POSTGRES_IMAGE,
    minio: process.env.LIFEBOAT_TEST_MINIO_IMAGE,
    neo4j: process.env.LIFEBOAT_TEST_NEO4J_IMAGE,
    prometheus: process.env.LIFEBOAT_TEST_PROMETHEUS_IMAGE,
    node: process.env.LIFEBOAT_TEST_NODE_IMAGE,
    debian: process.env.LIFEBOAT_TEST_DEBIAN_IMAGE,
  };
  const { postgres, minio, neo4j, prometheus, node, debian } = fromEnv;
  if (postgres && minio && neo4j && prometheus && node && debian)
    return { postgres, minio, neo4j, prometheus, node, debian };
  const pointer = join(CACHE, 'images', 'current');
  if (!existsSync(pointer)) {
    throw new Error(`harness: no test image root file system (${pointer}); run scripts/install-test-servers.sh`);
  }
  const rootfs = readFileSync(pointer, 'utf8').trim();
  const key = basename(rootfs, '.tar').replace(/^rootfs-/, '');
  const docker = new Docker({ socketPath: engine.socket });
  const nodePointer = join(CACHE, 'images', 'node-current');
  if (!existsSync(nodePointer)) {
    throw new Error(
      `harness: no Node base image root file system (${nodePointer}); run scripts/install-test-servers.sh`,
    );
  }
  const nodeRootfs = readFileSync(nodePointer, 'utf8').trim();
  const nodeKey = basename(nodeRootfs, '.tar').replace(/^node-/, '');
  const built: TestImages = {
    postgres: `lifeboat-test/postgres:15-${key}`,
    minio: `lifeboat-test/minio:${key}`,
    neo4j: `lifeboat-test/neo4j:5-${key}`,
    prometheus: `lifeboat-test/prometheus:${key}`,
    node: `lifeboat-test/node:24-${nodeKey}`,
    debian: `lifeboat-test/debian:bookworm-${nodeKey}`,
  };
  const have = async (name: string) =>
    docker
      .getImage(name)
      .inspect()
      .then(() => true)
      .catch(() => false);
  const base = `lifeboat-test/base:${key}`;
  if (!(await have(base))) {
    const output = await docker.importImage(createReadStream(rootfs), { repo: 'lifeboat-test/base', tag: key });
    await followProgress(docker, output);
  }
  // The base images of the Lifeboat image. The Node one as the official one: `node` by default, and this
  // machine's trusted certificates for Node and npm (scripts/install-test-servers.sh put them in), for an
  // `npm install` through a proxy that re-signs TLS.
  const bases: [keyof TestImages, string, string[]][] = [
    ['node', nodeRootfs, ['CMD ["node"]', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca-certificates.crt']],
    ['debian', join(dirname(nodeRootfs), `debian-${nodeKey}.tar`), ['CMD ["bash"]']],
  ];
  for (const [role, tar, changes] of bases) {
    if (fromEnv[role] !== undefined || (await have(built[role]))) continue;
    const imported = `lifeboat-test/${role}-rootfs:${nodeKey}`;
    if (!(await have(imported))) {
      const [repo, tag] = imported.split(':') as [string, string];
      await followProgress(docker, await docker.importImage(createReadStream(tar), { repo, tag }));
    }
    await commitWith(docker, imported, built[role], changes);
  }
  const roles: [keyof TestImages, string[]][] = [
    ['postgres', ['CMD ["postgres"]', 'EXPOSE 5432']],
    ['minio', ['CMD ["minio", "server", "/data"]', 'EXPOSE 9000']],
    ['neo4j', ['CMD ["neo4j"]', 'EXPOSE 7687', 'VOLUME /data']],
    [
      'prometheus',
      ['CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]', 'EXPOSE 9090'],
    ],
  ];
  for (const [role, changes] of roles) {
    if (await have(built[role])) continue;
    await commitWith(docker, base, built[role], ['ENTRYPOINT ["/usr/local/bin/lifeboat-test-entrypoint"]', ...changes]);
  }
  return {
    postgres: fromEnv.postgres ?? built.postgres,
    minio: fromEnv.minio ?? built.minio,
    neo4j: fromEnv.neo4j ?? built.neo4j,
    prometheus: fromEnv.prometheus ?? built.prometheus,
    node: fromEnv.node ?? built.node,
    debian: fromEnv.debian ?? built.debian,
  };
}

/** Tags `image` as `name` with Dockerfile instructions applied (ENTRYPOINT, CMD, ENV...), through a commit. */
async function commitWith(docker: Docker, image: string, name: string, changes: string[]): Promise<void> {
  const holder = await docker.createContainer({ Image: image, Cmd: ['true'] });
  try {
    const [repo, tag] = name.split(':') as [string, string];
    await holder.commit({ repo, tag, changes });
  } finally {
    await holder.remove({ force: true });
  }
}

function followProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, events: { error?: string }[]) => {
      const failed = events?.find((event) => event.error !== undefined);
      if (error !== null) reject(error);
      else if (failed !== undefined) reject(new Error(`harness: docker import: ${failed.error}`));
      else resolve();
    });
  });
}
