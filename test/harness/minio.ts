// A real MinIO server: a local process on a free port, built by scripts/install-test-servers.sh, or, given a
// container place, a container started with testcontainers. One fixture API for both.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { cachedTool } from './cache.js';
import { type ContainerPlace, startContainer } from './containers.js';
import { freePort, stopper, waitFor } from './free-port.js';

export interface S3Server {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
}

export function minioBinary(): string {
  return cachedTool('minio', process.env.LIFEBOAT_MINIO_BIN, 'MinIO binary');
}

const accessKeyId = 'lifeboat-test';
const secretAccessKey = 'lifeboat-test-secret-key';

/** Starts MinIO with one empty bucket, as a local process or, given `on`, in a container. */
export async function startMinio(on?: ContainerPlace): Promise<{ server: S3Server; stop: () => Promise<void> }> {
  if (on !== undefined) {
    const started = await startContainer(on, {
      port: 9000,
      env: { MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey, MINIO_BROWSER: 'off' },
      command: ['minio', 'server', '/data', '--quiet'],
    });
    try {
      const server = await readyWithBucket(`http://${started.host}:${started.port}`, () => undefined);
      return { server, stop: started.stop };
    } catch (error) {
      await started.stop();
      throw error;
    }
  }
  const binary = minioBinary();
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-minio-'));
  const port = await freePort();
  const consolePort = await freePort();
  const child = spawn(
    binary,
    [
      'server',
      join(dir, 'data'),
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      '--quiet',
    ],
    {
      env: {
        ...process.env,
        MINIO_ROOT_USER: accessKeyId,
        MINIO_ROOT_PASSWORD: secretAccessKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-8000);
  });
  try {
    const server = await readyWithBucket(`http://127.0.0.1:${port}`, () => {
      if (child.exitCode !== null) throw new Error(`minio exited: ${log}`);
    });
    return { server, stop: stopper(child, 'SIGTERM', dir) };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

async function readyWithBucket(endpoint: string, alive: () => void): Promise<S3Server> {
  await waitFor(
    'MinIO',
    async () => {
      alive();
      const response = await fetch(`${endpoint}/minio/health/ready`);
      return response.ok;
    },
    60_000,
  );
  const server: S3Server = { endpoint, region: 'us-east-1', accessKeyId, secretAccessKey, bucket: 'lifeboat-test' };
  const client = new S3Client({
    endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: server.bucket }));
  client.destroy();
  return server;
}
