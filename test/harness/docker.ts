// A Docker engine for the tests: the one that answers (DOCKER_HOST, /var/run/docker.sock), or, when none does,
// a private dockerd (Debian's docker.io, installed by scripts/install-test-servers.sh) on its own socket, with
// its images kept in the cache folder between runs (by one run at a time). And the images the tests run on it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import Docker from 'dockerode';
import { processAlive } from '../../src/work-dir.js';
import { stopper, waitFor } from './free-port.js';

export interface DockerEngine {
  /** The engine's unix socket. */
  readonly socket: string;
  /** True when the harness started this engine itself (no registry: the images are built locally). */
  readonly private: boolean;
}

/** Images for the tests: built from Debian packages, or set by LIFEBOAT_TEST_{POSTGRES,MINIO,NEO4J}_IMAGE. */
export interface TestImages {
  readonly postgres: string;
  readonly minio: string;
  readonly neo4j: string;
}

const CACHE = process.env.LIFEBOAT_CACHE ?? join(homedir(), '.cache', 'lifeboat');

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
  };
  if (fromEnv.postgres && fromEnv.minio && fromEnv.neo4j) {
    return { postgres: fromEnv.postgres, minio: fromEnv.minio, neo4j: fromEnv.neo4j };
  }
  const pointer = join(CACHE, 'images', 'current');
  if (!existsSync(pointer)) {
    throw new Error(`harness: no test image root file system (${pointer}); run scripts/install-test-servers.sh`);
  }
  const rootfs = readFileSync(pointer, 'utf8').trim();
  const key = basename(rootfs, '.tar').replace(/^rootfs-/, '');
  const docker = new Docker({ socketPath: engine.socket });
  const built: TestImages = {
    postgres: `lifeboat-test/postgres:15-${key}`,
    minio: `lifeboat-test/minio:${key}`,
    neo4j: `lifeboat-test/neo4j:5-${key}`,
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
  const roles: [keyof TestImages, string[]][] = [
    ['postgres', ['CMD ["postgres"]', 'EXPOSE 5432']],
    ['minio', ['CMD ["minio", "server", "/data"]', 'EXPOSE 9000']],
    ['neo4j', ['CMD ["neo4j"]', 'EXPOSE 7687', 'VOLUME /data']],
  ];
  for (const [role, changes] of roles) {
    const name = built[role];
    if (await have(name)) continue;
    const holder = await docker.createContainer({ Image: base, Cmd: ['true'] });
    try {
      const [repo, tag] = name.split(':') as [string, string];
      await holder.commit({
        repo,
        tag,
        changes: ['ENTRYPOINT ["/usr/local/bin/lifeboat-test-entrypoint"]', ...changes],
      });
    } finally {
      await holder.remove({ force: true });
    }
  }
  return {
    postgres: fromEnv.postgres ?? built.postgres,
    minio: fromEnv.minio ?? built.minio,
    neo4j: fromEnv.neo4j ?? built.neo4j,
  };
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
