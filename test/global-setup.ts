// Starts the real servers once for the whole suite and hands their addresses to the test files.
import type { TestProject } from 'vitest/node';
import { type S3Server, startMinio } from './harness/minio.js';
import { type PostgresServer, startPostgres } from './harness/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresServer;
    s3: S3Server;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A server that fails to start fails the run: nothing is skipped.
  const [postgres, minio] = await Promise.all([startPostgres(), startMinio()]);
  project.provide('postgres', postgres.server);
  project.provide('s3', minio.server);
  return async () => {
    await Promise.all([postgres.stop(), minio.stop()]);
  };
}
