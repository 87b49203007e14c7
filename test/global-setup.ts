// Starts the real servers once for the whole suite and hands their addresses to the test files: local
// processes, or containers (testcontainers) where a Docker engine answers by itself. It also brings up a
// Docker engine and the test images for the tests of the containers path and of Neo4j's `access: docker`.
import type { TestProject } from 'vitest/node';
import type { ContainerPlace } from './harness/containers.js';
import { type DockerEngine, ensureTestImages, startDockerEngine, type TestImages } from './harness/docker.js';
import { type S3Server, startMinio } from './harness/minio.js';
import { type PostgresServer, startPostgres } from './harness/postgres.js';

export type ServerMode = 'processes' | 'containers';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresServer;
    s3: S3Server;
    docker: { engine: DockerEngine; images: TestImages };
  }
}

/**
 * LIFEBOAT_TEST_SERVERS=processes|containers, or by default containers where an engine answered by itself
 * (not the harness's own).
 */
function serverMode(engine: DockerEngine): ServerMode {
  const chosen = process.env.LIFEBOAT_TEST_SERVERS ?? 'auto';
  if (chosen === 'processes' || chosen === 'containers') return chosen;
  if (chosen !== 'auto') {
    throw new Error(`LIFEBOAT_TEST_SERVERS: "${chosen}" (expected one of: auto, processes, containers)`);
  }
  return engine.private ? 'processes' : 'containers';
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A server that fails to start fails the run: nothing is skipped.
  const docker = await startDockerEngine();
  const stops: (() => Promise<void>)[] = [docker.stop];
  try {
    const mode = serverMode(docker.engine);
    const images = await ensureTestImages(docker.engine);
    const on = (image: string): ContainerPlace | undefined =>
      mode === 'containers' ? { engine: docker.engine, image } : undefined;
    const [postgres, minio] = await Promise.allSettled([
      startPostgres(on(images.postgres)),
      startMinio(on(images.minio)),
    ]);
    for (const started of [postgres, minio]) if (started.status === 'fulfilled') stops.unshift(started.value.stop);
    if (postgres.status === 'rejected') throw postgres.reason;
    if (minio.status === 'rejected') throw minio.reason;
    project.provide('postgres', postgres.value.server);
    project.provide('s3', minio.value.server);
    project.provide('docker', { engine: docker.engine, images });
  } catch (error) {
    for (const stop of stops) await stop().catch(() => undefined);
    throw error;
  }
  return async () => {
    for (const stop of stops) await stop();
  };
}
