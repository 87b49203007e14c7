// The `storage:` section of a local folder store.
import { z } from 'zod';
import { encryptionSchema, prefix } from '../../config/parts.js';

export const localStorage = z
  .strictObject({
    type: z.literal('local'),
    path: z.string().min(1).describe('Folder that holds the backups; created when missing.'),
    prefix,
    verifyUpload: z
      .enum(['checksum', 'size'])
      .default('checksum')
      .describe('After upload, re-read the stored bytes to check SHA-256 (checksum) or only their size.'),
    encryption: encryptionSchema.optional(),
  })
  .describe('Backups in a local folder (or a mounted volume).');
