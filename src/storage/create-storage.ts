// Chooses the storage backend named by the configuration.
import type { StorageConfig } from '../config/schema.js';
import { LocalStorage } from './local/local-storage.js';
import { S3Storage } from './s3/s3-storage.js';
import type { Storage } from './storage.js';

export function createStorage(config: StorageConfig): Storage {
  switch (config.type) {
    case 'local':
      return new LocalStorage(config);
    case 's3':
      return new S3Storage(config);
  }
}
