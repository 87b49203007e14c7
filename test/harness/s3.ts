// Helpers for tests that use the suite's S3-compatible server.
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { configSchema, type S3StorageConfig } from '../../src/config/schema.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { S3Server } from './minio.js';

export function s3Client(s3: S3Server): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}

/** Every key under `prefix` (raw bucket keys, not relative to a storage prefix). */
export async function s3Keys(s3: S3Server, prefix: string): Promise<string[]> {
  const client = s3Client(s3);
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys;
  } finally {
    client.destroy();
  }
}

/** A fresh random prefix, so tests sharing the bucket never see each other's objects. */
export function randomPrefix(label = 'it'): string {
  return `${label}-${Math.random().toString(36).slice(2)}/`;
}

/** The `storage:` section for the suite's server under `prefix`, with the secret read from `secretFile`. */
export function s3StorageConfig(s3: S3Server, prefix: string, secretFile = './s3_secret'): Record<string, unknown> {
  const { secretAccessKey: _secret, ...rest } = s3StorageInline(s3, prefix);
  return { ...rest, secretAccessKeyFile: secretFile };
}

/** The same with the secret inline (benchmarks, which write no secret files). */
export function s3StorageInline(s3: S3Server, prefix = ''): Record<string, unknown> {
  return {
    type: 's3',
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  };
}

/** Lifeboat's S3 storage on the suite's server under `prefix`: the storage section with `settings` over it. */
export function s3Storage(
  s3: S3Server,
  prefix: string,
  settings: object = {},
  options?: ConstructorParameters<typeof S3Storage>[2],
): S3Storage {
  const config = configSchema.parse({
    storage: { ...s3StorageInline(s3, prefix), ...settings },
    targets: [{ name: 'app', driver: 'sqlite', path: '/x.db' }],
  }).storage as S3StorageConfig;
  return new S3Storage(config, undefined, options);
}
