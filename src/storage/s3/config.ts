// The `storage:` section of an S3 store (AWS S3, MinIO, other S3-compatible servers).
import { z } from 'zod';
import { duration, encryptionSchema, httpUrl, prefix } from '../../config/parts.js';

export const s3Storage = z
  .strictObject({
    type: z.literal('s3'),
    bucket: z.string().min(3).max(63),
    prefix,
    endpoint: httpUrl('http://minio:9000')
      .optional()
      .describe('For MinIO and other S3-compatible stores, e.g. http://minio:9000.'),
    region: z.string().default('us-east-1'),
    forcePathStyle: z.boolean().default(false).describe('Path-style URLs (needed by most S3-compatible servers).'),
    accessKeyId: z.string().min(1).optional().describe('Omit both keys to use the AWS SDK default credential chain.'),
    secretAccessKey: z.string().min(1).optional().describe('Secret; prefer secretAccessKeyFile.'),
    secretAccessKeyFile: z.string().min(1).optional().describe('File holding the secret key (Docker secrets).'),
    sessionToken: z.string().optional(),
    serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
    sseKmsKeyId: z.string().optional(),
    storageClass: z.string().optional().describe('e.g. STANDARD_IA, GLACIER_IR.'),
    partSizeMiB: z
      .number()
      .int()
      .min(5)
      .max(5120)
      .default(8)
      .describe('Size of the first 2000 parts of a multipart upload; each further 2000 are twice the size.'),
    queueSize: z.number().int().min(1).max(16).default(4).describe('Parts uploaded at once.'),
    downloadConcurrency: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(4)
      .describe('Ranged GETs of one download at once (1: one plain GET); memory is about this x downloadRangeMiB.'),
    downloadRangeMiB: z
      .number()
      .int()
      .min(1)
      .max(5120)
      .default(4)
      .describe('Size of each ranged GET of a download; raise it on links with a long round trip.'),
    verifyUpload: z
      .enum(['checksum', 'size', 'store'])
      .default('checksum')
      .describe(
        "checksum: read the stored object back and check its SHA-256; store: no read-back, the store checks each part's SHA-256 as it arrives and the object's is compared (S3 additional checksums: AWS S3, MinIO); size: its size only.",
      ),
    connectTimeout: duration.default('10s').describe('A connection to the store that does not open within this fails.'),
    idleTimeout: duration
      .default('60s')
      .describe('A request or download whose connection moves no byte for this long fails (and may be retried).'),
    encryption: encryptionSchema.optional(),
    caFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        "PEM file of the CA that signed the endpoint's certificate (a private CA), trusted besides the system ones.",
      ),
    pruneCredentials: z
      .strictObject({
        accessKeyId: z.string().min(1),
        secretAccessKey: z.string().min(1).optional().describe('Secret; prefer secretAccessKeyFile.'),
        secretAccessKeyFile: z.string().min(1).optional(),
      })
      .refine(
        (c) => (c.secretAccessKey === undefined) !== (c.secretAccessKeyFile === undefined),
        'set one of secretAccessKey or secretAccessKeyFile',
      )
      .optional()
      .describe(
        'Credentials allowed to delete, used only to delete (retention, leftovers): the main ones can then be write-only.',
      ),
    objectLock: z
      .strictObject({
        mode: z
          .enum(['governance', 'compliance'])
          .describe(
            'compliance: nobody can delete early, not even the account root; governance: users with the bypass permission can.',
          ),
        retain: duration.describe('Every object of a backup is locked for this long after it is written, e.g. "30d".'),
      })
      .optional()
      .describe('S3 Object Lock (WORM): the bucket must have been created with Object Lock enabled.'),
  })
  .describe('Backups in an S3 bucket (AWS S3, MinIO or another S3-compatible server).');
