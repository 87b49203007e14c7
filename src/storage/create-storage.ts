// Chooses the storage backend named by the configuration. Each backend is loaded when first chosen: a
// command on a local folder never loads the S3 client.
import type { StorageConfig } from '../config/schema.js';
import type { Storage } from './storage.js';

export async function createStorage(config: StorageConfig): Promise<Storage> {
  switch (config.type) {
    case 'local':
      return new (await import('./local/local-storage.js')).LocalStorage(config);
    case 's3':
      return new (await import('./s3/s3-storage.js')).S3Storage(config);
  }
}
