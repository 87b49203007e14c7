// Runs the storage contract against every backend: a local folder and a real S3-compatible server.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { describeStorage } from './storage-suite.js';

describeStorage('local', {
  async make() {
    return new LocalStorage({ path: await mkdtemp(join(tmpdir(), 'lifeboat-store-')), prefix: 'p/' });
  },
});

describeStorage('s3 (MinIO)', {
  async make() {
    const s3 = inject('s3');
    const config = configSchema.parse({
      storage: {
        type: 's3',
        bucket: s3.bucket,
        prefix: `contract-${Math.random().toString(36).slice(2)}/`,
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        partSizeMiB: 5,
      },
      targets: [{ name: 'x', driver: 'sqlite', path: 'x.db' }],
    });
    if (config.storage.type !== 's3') throw new Error('unreachable');
    return new S3Storage(config.storage, undefined, { pageSize: 7 });
  },
});
