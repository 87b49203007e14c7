// The one configuration schema: types are inferred from it and the JSON Schema is generated from it. It is
// put together here from the shared parts (./parts.ts) and each plugin's own section (its config.ts).
import { z } from 'zod';
import { neo4jDrillToProblem, neo4jTarget } from '../drivers/neo4j/config.js';
import { postgresDrillToProblem, postgresTarget } from '../drivers/postgres/config.js';
import { sqliteDrillToProblem, sqliteTarget } from '../drivers/sqlite/config.js';
import { LEVELS } from '../pipeline/compress.js';
import { scheduleProblem } from '../scheduler/schedule.js';
import { localStorage } from '../storage/local/config.js';
import { s3Storage } from '../storage/s3/config.js';
import {
  type drillCheck,
  type drillSchema,
  duration,
  type encryptionSchema,
  rateLimitSchema,
  type retentionSchema,
  runSettings,
  TARGET_NAME,
  type webhookSchema,
} from './parts.js';

export { AGE_RECIPIENT, retentionSchema, SAFE_PREFIX, TARGET_NAME } from './parts.js';

// The registry: one line per engine and one per store. Each plugin's schema lives in its own folder.
export const targetSchema = z.discriminatedUnion('driver', [sqliteTarget, postgresTarget, neo4jTarget]);
export const storageSchema = z.discriminatedUnion('type', [localStorage, s3Storage]);
const drillToProblem = {
  sqlite: sqliteDrillToProblem,
  postgres: postgresDrillToProblem,
  neo4j: neo4jDrillToProblem,
} as const;

export const DRIVER_NAMES = ['neo4j', 'postgres', 'sqlite'] as const satisfies readonly TargetConfig['driver'][];
export const STORAGE_TYPES = ['local', 's3'] as const satisfies readonly StorageConfig['type'][];

export const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    storage: storageSchema,
    stores: z
      .record(z.string().regex(TARGET_NAME, 'store names: [a-z0-9][a-z0-9_-]{0,62}'), storageSchema)
      .default({})
      .describe('Other stores by name: targets copy backups to them (`copies:`), commands use them with --store NAME.'),
    defaults: z.strictObject(runSettings).prefault({}).describe('Settings every target inherits unless it sets them.'),
    daemon: z
      .strictObject({
        concurrency: z.number().int().min(1).max(64).default(1).describe('Runs at once across all targets.'),
        shutdownGracePeriod: duration
          .default('60s')
          .describe('On SIGTERM, running work may finish within this; then it is aborted cleanly.'),
        incompleteGracePeriod: duration
          .default('24h')
          .describe('Objects without a manifest, and multipart uploads, older than this are removed by prune.'),
      })
      .prefault({}),
    lease: z
      .strictObject({
        ttl: duration
          .default('60s')
          .describe(
            "Every backup, prune and live restore holds its target's lease in the store, renewed every third of " +
              'this; a holder that died loses it after this long, and the next run takes over.',
          ),
      })
      .prefault({})
      .describe('One process at a time per target and store, across hosts (a lease object in the store).'),
    metrics: z
      .strictObject({
        enabled: z.boolean().default(true),
        listen: z
          .string()
          .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. "0.0.0.0:9464"')
          .default('0.0.0.0:9464')
          .describe(
            'Address of /metrics, /healthz and /readyz (port 0 picks a free port). All interfaces by default, ' +
              'so that Prometheus in another container can scrape it: use 127.0.0.1:9464, auth or tls to restrict.',
          ),
        auth: z
          .strictObject({
            bearerToken: z.string().min(1).optional().describe('Secret; prefer bearerTokenFile.'),
            bearerTokenFile: z.string().min(1).optional().describe('File holding the token Prometheus sends.'),
            username: z.string().min(1).optional().describe('Basic auth user (with password or passwordFile).'),
            password: z.string().min(1).optional().describe('Secret; prefer passwordFile.'),
            passwordFile: z.string().min(1).optional().describe('File holding the basic auth password.'),
          })
          .refine(
            (auth) =>
              [auth.bearerToken, auth.bearerTokenFile, auth.username].filter((v) => v !== undefined).length === 1,
            'set one of bearerTokenFile (or bearerToken), or username with passwordFile (or password)',
          )
          .refine(
            (auth) =>
              (auth.username === undefined) === (auth.password === undefined && auth.passwordFile === undefined) &&
              !(auth.password !== undefined && auth.passwordFile !== undefined),
            'username goes with one of password or passwordFile',
          )
          .optional()
          .describe('Required credentials for /metrics; /healthz and /readyz stay open for probes.'),
        tls: z
          .strictObject({
            certFile: z.string().min(1).describe('PEM certificate (chain) file.'),
            keyFile: z.string().min(1).describe('PEM private key file.'),
          })
          .optional()
          .describe('Serve HTTPS instead of HTTP.'),
      })
      .prefault({}),
    rateLimit: rateLimitSchema
      .optional()
      .describe('Caps shared by every run of this process at once (each target may also set its own).'),
    targets: z.array(targetSchema).min(1, 'needs at least one target'),
  })
  .superRefine((config, ctx) => {
    const checkSchedule = (settings: RunSettings, path: (string | number)[]) => {
      if (settings.schedule === undefined) return;
      const problem = scheduleProblem(settings.schedule, settings.timezone ?? config.defaults.timezone ?? 'UTC');
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', path: [...path, 'schedule'], message: `invalid cron pattern: ${problem}` });
      }
    };
    checkSchedule(config.defaults, ['defaults']);
    const checkLevel = (settings: RunSettings, path: (string | number)[]) => {
      const algorithm = settings.compression?.algorithm ?? config.defaults.compression?.algorithm ?? 'gzip';
      const level = settings.compression?.level;
      if (level === undefined) return;
      const problem = compressionLevelProblem(algorithm, level);
      if (problem !== undefined)
        ctx.addIssue({ code: 'custom', path: [...path, 'compression', 'level'], message: problem });
    };
    checkLevel(config.defaults, ['defaults']);
    const checkCopies = (settings: RunSettings, path: (string | number)[]) => {
      settings.copies?.forEach((copy, index) => {
        if (config.stores[copy.store] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'copies', index, 'store'],
            message: `no store "${copy.store}" under stores: (configured: ${Object.keys(config.stores).join(', ') || 'none'})`,
          });
        }
      });
    };
    checkCopies(config.defaults, ['defaults']);
    const seen = new Set<string>();
    config.targets.forEach((target, index) => {
      checkCopies(target, ['targets', index]);
      checkLevel(target, ['targets', index]);
      checkSchedule(target, ['targets', index]);
      if (target.drill?.schedule !== undefined) {
        checkSchedule({ schedule: target.drill.schedule, timezone: target.timezone }, ['targets', index, 'drill']);
      }
      const problem = (drillToProblem[target.driver] as (t: typeof target) => string | undefined)(target);
      if (problem !== undefined)
        ctx.addIssue({ code: 'custom', path: ['targets', index, 'drill', 'to'], message: problem });
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

/** A level the algorithm does not have, said plainly; undefined when fine. */
export function compressionLevelProblem(algorithm: 'gzip' | 'zstd' | 'none', level: number): string | undefined {
  if (algorithm === 'none') return undefined;
  const range = LEVELS[algorithm];
  if (level < range.min || level > range.max) {
    return `${algorithm} levels are ${range.min}-${range.max} (default ${range.default}), not ${level}`;
  }
  return undefined;
}

export type LifeboatConfig = z.infer<typeof configSchema>;
export type DrillConfig = z.infer<typeof drillSchema>;
export type DrillCheckConfig = z.infer<typeof drillCheck>;
export type RunSettings = z.infer<z.ZodObject<typeof runSettings>>;
export type RetentionConfig = z.infer<typeof retentionSchema>;
export type WebhookConfig = z.infer<typeof webhookSchema>;
export type StorageConfig = z.infer<typeof storageSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type SqliteTargetConfig = z.infer<typeof sqliteTarget>;
export type PostgresTargetConfig = z.infer<typeof postgresTarget>;
export type Neo4jTargetConfig = z.infer<typeof neo4jTarget>;
export type S3StorageConfig = z.infer<typeof s3Storage>;
export type EncryptionConfig = z.infer<typeof encryptionSchema>;
export type LocalStorageConfig = z.infer<typeof localStorage>;

/** Keys whose values are secrets: redacted wherever a config is shown. */
export const SECRET_KEYS = new Set(['password', 'secretAccessKey', 'sessionToken', 'bearerToken', 'identities']);
