// The containers path of the server fixtures: the same PostgreSQL and S3 servers as the local processes of
// postgres.ts and minio.ts, started with testcontainers on a Docker engine. Tests do not see the difference.
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import type { DockerEngine } from './docker.js';

/** Where container fixtures run: an engine and the image to start. */
export interface ContainerPlace {
  readonly engine: DockerEngine;
  readonly image: string;
}

/** Starts a container and returns its host, its mapped port, its logs and a stop function. */
export async function startContainer(
  on: ContainerPlace,
  options: { port: number; env: Record<string, string>; command: string[] },
): Promise<{ host: string; port: number; container: StartedTestContainer; stop: () => Promise<void> }> {
  // testcontainers finds the engine through DOCKER_HOST; the harness's own engine has no registry to pull
  // the resource reaper from, and the fixtures stop their containers themselves.
  process.env.DOCKER_HOST = `unix://${on.engine.socket}`;
  if (on.engine.private) process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  const container = await new GenericContainer(on.image)
    .withEnvironment(options.env)
    .withCommand(options.command)
    .withExposedPorts(options.port)
    .withLabels({ 'org.lifeboat.test': 'server' })
    .withWaitStrategy(Wait.forListeningPorts())
    .withStartupTimeout(120_000)
    .start();
  return {
    host: container.getHost(),
    port: container.getMappedPort(options.port),
    container,
    stop: async () => {
      await container.stop({ remove: true, removeVolumes: true, timeout: 10_000 });
    },
  };
}
