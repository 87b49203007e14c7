// The one configuration schema: types are inferred from it and the JSON Schema is generated from it.
import { z } from 'zod';

/** Target names become parts of object keys and paths, so they are restricted. */
export const TARGET_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const DRIVER_NAMES = ['postgres', 'sqlite'] as const;
export const STORAGE_TYPES = ['local', 's3'] as const;

const prefix = z
  .string()
  .regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be empty or path segments of [A-Za-z0-9._-] each ending in "/", like "prod/"')
  .default('')
  .describe('Key prefix for every object, e.g. "prod/".');

const localStorage = z
  .strictObject({
    type: z.literal('local'),
    path: z.string().min(1).describe('Folder that holds the backups; created when missing.'),
    prefix,
    verifyUpload: z
      .enum(['checksum', 'size'])
      .default('checksum')
      .describe('After upload, re-read the stored bytes to check SHA-256 (checksum) or only their size.'),
  })
  .describe('Backups in a local folder (or a mounted volume).');

const s3Storage = z
  .strictObject({
    type: z.literal('s3'),
    bucket: z.string().min(3).max(63),
    prefix,
    endpoint: z.url().optional().describe('For MinIO and other S3-compatible stores, e.g. http://minio:9000.'),
    region: z.string().default('us-east-1'),
    forcePathStyle: z.boolean().default(false).describe('Path-style URLs (needed by most S3-compatible servers).'),
    accessKeyId: z.string().min(1).optional().describe('Omit both keys to use the AWS SDK default credential chain.'),
    secretAccessKey: z.string().min(1).optional().describe('Secret; prefer secretAccessKeyFile.'),
    secretAccessKeyFile: z.string().min(1).optional().describe('File holding the secret key (Docker secrets).'),
    sessionToken: z.string().optional(),
    serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
    sseKmsKeyId: z.string().optional(),
    storageClass: z.string().optional().describe('e.g. STANDARD_IA, GLACIER_IR.'),
    partSizeMiB: z.number().int().min(5).max(5120).default(16).describe('Multipart part size.'),
    queueSize: z.number().int().min(1).max(16).default(4).describe('Parts uploaded at once.'),
    verifyUpload: z.enum(['checksum', 'size']).default('checksum'),
  })
  .describe('Backups in an S3 bucket (AWS S3, MinIO or another S3-compatible server).');

export const storageSchema = z.discriminatedUnion('type', [localStorage, s3Storage]);

const targetName = z
  .string()
  .regex(TARGET_NAME, 'must match [a-z0-9][a-z0-9_-]{0,62} (it becomes part of object keys)');

const sqliteTarget = z
  .strictObject({
    name: targetName,
    driver: z.literal('sqlite'),
    path: z.string().min(1).describe('The live database file.'),
  })
  .describe('A SQLite database file, copied online with the SQLite backup API.');

const postgresTarget = z
  .strictObject({
    name: targetName,
    driver: z.literal('postgres'),
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    host: z.string().optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().optional(),
    database: z.string().optional(),
    password: z.string().optional().describe('Secret; prefer passwordFile.'),
    passwordFile: z.string().optional().describe('File holding the password (Docker secrets).'),
    sslmode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).optional(),
    format: z.enum(['custom', 'plain']).default('custom').describe('pg_dump output format.'),
    restoreJobs: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe('pg_restore --jobs; above 1 the dump is first written to a temporary file.'),
    binDir: z.string().optional().describe('Folder with pg_dump, pg_restore and psql; default: PATH.'),
    lockTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(300)
      .describe('Fail instead of waiting longer than this for a table lock (e.g. held by a migration).'),
    extraDumpArgs: z.array(z.string().regex(/^--?[A-Za-z]/, 'must be an option')).default([]),
  })
  .describe('A PostgreSQL database, dumped with pg_dump.');

export const targetSchema = z.discriminatedUnion('driver', [sqliteTarget, postgresTarget]);

export const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    storage: storageSchema,
    targets: z.array(targetSchema).min(1, 'needs at least one target'),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.targets.forEach((target, index) => {
      if (seen.has(target.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['targets', index, 'name'],
          message: `duplicate target name "${target.name}"`,
        });
      }
      seen.add(target.name);
    });
    if (config.storage.type === 's3') {
      const s3 = config.storage;
      if (s3.secretAccessKey !== undefined && s3.secretAccessKeyFile !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['storage', 'secretAccessKeyFile'],
          message: 'set secretAccessKey or secretAccessKeyFile, not both',
        });
      }
      const hasSecret = s3.secretAccessKey !== undefined || s3.secretAccessKeyFile !== undefined;
      if ((s3.accessKeyId === undefined) !== !hasSecret) {
        ctx.addIssue({
          code: 'custom',
          path: ['storage', 'accessKeyId'],
          message: 'accessKeyId and a secret key go together (or omit both for the default chain)',
        });
      }
    }
  });

export type LifeboatConfig = z.infer<typeof configSchema>;
export type StorageConfig = z.infer<typeof storageSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type SqliteTargetConfig = z.infer<typeof sqliteTarget>;
export type PostgresTargetConfig = z.infer<typeof postgresTarget>;
export type S3StorageConfig = z.infer<typeof s3Storage>;
export type LocalStorageConfig = z.infer<typeof localStorage>;

/** Keys whose values are secrets: redacted wherever a config is shown. */
export const SECRET_KEYS = new Set(['password', 'secretAccessKey', 'sessionToken']);
