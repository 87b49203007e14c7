// The one configuration schema: types are inferred from it and the JSON Schema is generated from it.
import { z } from 'zod';
import { isTimeZone, scheduleProblem } from '../scheduler/schedule.js';
import { DURATION } from './duration.js';

/** Target names become parts of object keys and paths, so they are restricted. */
export const TARGET_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const DRIVER_NAMES = ['neo4j', 'postgres', 'sqlite'] as const;
export const STORAGE_TYPES = ['local', 's3'] as const;

/** Storage prefixes: segments that cannot climb out of the store ("." and ".." are refused). */
export const SAFE_PREFIX = /^((?!\.\.?\/)[A-Za-z0-9._-]+\/)*$/;

/** An http(s) URL with a host, and nothing a URL parser would have to guess at. */
const httpUrl = (example: string) =>
  z.string().refine((text) => {
    if (/\s/.test(text)) return false;
    try {
      const url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, `must be an http:// or https:// URL with a host, like "${example}"`);

/** A postgres:// URL that parses (libpq would refuse the rest later, with less to go on). */
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
  .refine((text) => {
    try {
      new URL(text);
      return !/\s/.test(text);
    } catch {
      return false;
    }
  }, 'is not a valid URL (like "postgres://user@host:5432/db"; escape special characters in the password as %XX)');

const duration = z.string().regex(DURATION, 'must be a duration like "30s", "5m", "1h30m" or "7d"');

const prefix = z
  .string()
  .regex(
    SAFE_PREFIX,
    'must be empty or path segments of [A-Za-z0-9._-] (not "." or "..") each ending in "/", like "prod/"',
  )
  .default('')
  .describe('Key prefix for every object, e.g. "prod/".');

/** An age X25519 recipient: "age1" and 58 bech32 characters. */
export const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

const encryptionSchema = z
  .strictObject({
    recipients: z
      .array(z.string().regex(AGE_RECIPIENT, 'must be an age X25519 recipient (age1…, from age-keygen -y)'))
      .optional()
      .describe('Public keys new backups are encrypted for (any one of them opens a backup).'),
    recipientsFile: z.string().min(1).optional().describe('File of recipients, one per line (# comments).'),
    identityFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'age identity file (AGE-SECRET-KEY-1…, several lines after a key rotation): needed only to restore, ' +
          'verify contents and drill. A daemon that only backs up should not have it.',
      ),
    identities: z
      .array(z.string())
      .optional()
      .describe('Filled in from identityFile when the config is loaded; prefer identityFile.'),
  })
  .refine(
    (e) => !(e.recipients !== undefined && e.recipientsFile !== undefined),
    'set recipients or recipientsFile, not both',
  )
  .describe('Client-side encryption in the age v1 format: backups anyone can open with `age -d -i key.txt`.');

const localStorage = z
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

const s3Storage = z
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
    partSizeMiB: z.number().int().min(5).max(5120).default(16).describe('Multipart part size.'),
    queueSize: z.number().int().min(1).max(16).default(4).describe('Parts uploaded at once.'),
    verifyUpload: z.enum(['checksum', 'size']).default('checksum'),
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

export const storageSchema = z.discriminatedUnion('type', [localStorage, s3Storage]);

const timezone = z.string().refine(isTimeZone, 'unknown IANA time zone (e.g. "UTC", "Europe/Berlin")');
const count = z.number().int().min(0).max(100_000).optional();

export const retentionSchema = z
  .strictObject({
    last: count.describe('Keep the newest N backups.'),
    daily: count.describe('Keep the newest backup of each of the newest N days that have backups.'),
    weekly: count.describe('Likewise for ISO weeks (Monday to Sunday).'),
    monthly: count.describe('Likewise for calendar months.'),
    yearly: count.describe('Likewise for calendar years.'),
    timezone: timezone.optional().describe("Time zone of day/week/month/year boundaries (default: the schedule's)."),
  })
  .describe('GFS retention in the sense of `restic forget`; a backup kept by any rule stays.');

const webhookSchema = z
  .strictObject({
    url: httpUrl('https://hooks.example.com/T000')
      .optional()
      .describe('Receives a JSON POST; may hold a token, so it is redacted when shown.'),
    urlFile: z.string().min(1).optional().describe('File holding the URL (Docker secrets).'),
    on: z
      .array(z.enum(['failure', 'success']))
      .min(1)
      .default(['failure'])
      .describe('Which run results are sent.'),
    timeout: duration.default('10s'),
    retries: z.number().int().min(0).max(10).default(2),
  })
  .refine((hook) => (hook.url === undefined) !== (hook.urlFile === undefined), 'set exactly one of url or urlFile')
  .describe('A webhook told about runs; its failure never fails a backup.');

const drillCheck = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$/, 'must be a short name of letters, digits, " ._-"'),
    sql: z
      .string()
      .min(1)
      .optional()
      .describe('SQL (SQLite, PostgreSQL) run on the restored copy; the first column of the first row is compared.'),
    cypher: z.string().min(1).optional().describe('Cypher (Neo4j) run on the scratch server, likewise.'),
    expect: z
      .string()
      .regex(
        /^\s*(=|==|!=|>=|<=|>|<)\s*(-?\d+(\.\d+)?|manifest)\s*$/,
        'must be a comparison like ">= 1000", "= 0" or "= manifest"',
      )
      .describe('"<op> <number>" or "= manifest" (equal to the row count the manifest recorded for `table`).'),
    table: z
      .string()
      .optional()
      .describe('For "= manifest": the table as named in the manifest stats (default: taken from "FROM <table>").'),
  })
  .refine((check) => (check.sql === undefined) !== (check.cypher === undefined), 'set exactly one of sql or cypher')
  .describe('A query on the restored copy with an expectation; a failing check fails the drill.');

const drillSchema = z
  .strictObject({
    schedule: z
      .string()
      .optional()
      .describe('Cron pattern of scheduled drills (the daemon runs them; `lifeboat drill` runs them now).'),
    to: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Scratch place: SQLite, a folder for the temporary copy (default: the system temp folder); PostgreSQL, a ' +
          'postgres:// URL of the server (and a maintenance database) where lifeboat_drill_<id> is created and ' +
          "dropped (default: the target's own server); Neo4j with access exec, a folder for the scratch server's " +
          'home (default: the system temp folder). Neo4j with access docker drills in a new volume: not set.',
      ),
    checks: z.array(drillCheck).default([]),
    objectives: z
      .strictObject({
        rpo: duration.optional().describe('Recovery point objective: the newest backup may be at most this old.'),
        rto: duration.optional().describe('Recovery time objective: download + verify + restore + checks within this.'),
      })
      .prefault({}),
    window: duration.default('30d').describe('Window for the worst RPO (longest gap between backups) in a drill.'),
  })
  .describe('Scheduled test restores into a scratch place, with checks and measured RPO/RTO.');

/** Scheduling and retention settings: per target, with defaults under `defaults:`. */
const runSettings = {
  schedule: z
    .string()
    .optional()
    .describe(
      'Cron pattern, 5 fields or 6 with seconds first, e.g. "0 3 * * *"; the daemon runs only scheduled targets.',
    ),
  timezone: timezone.optional().describe('IANA time zone of the schedule (default UTC).'),
  jitter: duration.optional().describe('Random delay up to this before each scheduled run, to spread targets.'),
  timeout: duration.optional().describe('A run taking longer is aborted and counts as failed (default 12h).'),
  retries: z.number().int().min(0).max(20).optional().describe('Retries of a failed run (default 2).'),
  retryDelay: duration.optional().describe('First retry delay, doubled each time (default 1m).'),
  catchUp: z
    .boolean()
    .optional()
    .describe('At start-up, run once when a due time passed while the daemon was down (default true).'),
  retention: retentionSchema.optional(),
  webhooks: z.array(webhookSchema).optional().describe('Targets get the webhooks of `defaults` and their own.'),
  copies: z
    .array(
      z.strictObject({
        store: z.string().describe('A name under `stores:`.'),
        retention: retentionSchema.optional().describe("The copy's own retention (default: the target's)."),
      }),
    )
    .optional()
    .describe('Second (third...) copies: each committed backup is copied to these stores, verified, committed there.'),
};

/** A target's own encryption settings replace the storage's. */
const targetEncryption = { encryption: encryptionSchema.optional() };

const targetName = z
  .string()
  .regex(TARGET_NAME, 'must match [a-z0-9][a-z0-9_-]{0,62} (it becomes part of object keys)');

const sqliteTarget = z
  .strictObject({
    name: targetName,
    driver: z.literal('sqlite'),
    path: z.string().min(1).describe('The live database file.'),
    drill: drillSchema.optional(),
    ...targetEncryption,
    ...runSettings,
  })
  .describe('A SQLite database file, copied online with the SQLite backup API.');

const postgresTarget = z
  .strictObject({
    name: targetName,
    driver: z.literal('postgres'),
    url: postgresUrl.optional(),
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
    drill: drillSchema.optional(),
    ...targetEncryption,
    ...runSettings,
  })
  .describe('A PostgreSQL database, dumped with pg_dump.');

const command = z.array(z.string().min(1)).min(1);

const neo4jTarget = z
  .strictObject({
    name: targetName,
    driver: z.literal('neo4j'),
    database: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9.-]{0,62}$/, 'must be a Neo4j database name')
      .default('neo4j')
      .describe('The database to dump ("neo4j", a named one, or "system").'),
    uri: z
      .string()
      .regex(/^(bolt|neo4j)(\+s|\+ssc)?:\/\//, 'must be a bolt:// or neo4j:// URI')
      .default('bolt://localhost:7687')
      .describe('Bolt address: statistics before the dump, and "is it up again" after it.'),
    user: z.string().default('neo4j'),
    password: z.string().optional().describe('Secret; prefer passwordFile.'),
    passwordFile: z.string().optional().describe('File holding the password (Docker secrets).'),
    offline: z
      .enum(['stop-start', 'assume', 'online'])
      .default('stop-start')
      .describe(
        'stop-start: stop the DBMS for the dump and start it again (Community); assume: it is already stopped; ' +
          'online: Enterprise, stop only the database through Cypher while the DBMS runs.',
      ),
    access: z.enum(['exec', 'docker']).default('exec').describe('How neo4j-admin is reached.'),
    exec: z
      .strictObject({
        admin: command.default(['neo4j-admin']).describe('The neo4j-admin command, as an argument array.'),
        stop: command.default(['neo4j', 'stop']).describe('Stops the DBMS (waits until it is stopped).'),
        start: command.default(['neo4j', 'start']).describe('Starts the DBMS (Lifeboat then waits for Bolt).'),
        console: command
          .default(['neo4j', 'console'])
          .describe(
            'Runs a DBMS in the foreground: drills start scratch servers with it ({home}, {conf} are filled in).',
          ),
        home: z.string().optional().describe('NEO4J_HOME for the commands.'),
        conf: z.string().optional().describe('NEO4J_CONF (folder of neo4j.conf) for the commands.'),
      })
      .prefault({}),
    docker: z
      .strictObject({
        socket: z.string().default('/var/run/docker.sock'),
        container: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a container name or id')
          .describe('Name or id of the Neo4j container.'),
        dataPath: z
          .string()
          .regex(/^\/[^\0]*$/, 'must be an absolute path')
          .default('/data')
          .describe(
            "Where the image keeps its data (the official image's /data); drills mount a scratch volume there.",
          ),
        network: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a network name or id')
          .optional()
          .describe(
            "Network for drills' scratch containers, which Lifeboat must reach; default: the Neo4j container's first.",
          ),
      })
      .optional(),
    startTimeout: duration.default('180s').describe('How long to wait for Bolt after starting the DBMS again.'),
    drill: drillSchema.optional(),
    ...targetEncryption,
    ...runSettings,
  })
  .superRefine((target, ctx) => {
    if (target.access === 'docker' && target.docker === undefined) {
      ctx.addIssue({ code: 'custom', path: ['docker'], message: 'required when access is "docker"' });
    }
    if (target.access === 'docker' && target.drill?.to !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['drill', 'to'],
        message: 'not used with access "docker": drills load into a new Docker volume and a throwaway container',
      });
    }
    if (target.password !== undefined && target.passwordFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'set password or passwordFile, not both' });
    }
  })
  .describe('A Neo4j database, dumped with neo4j-admin database dump (Community: with the DBMS stopped).');

export const targetSchema = z.discriminatedUnion('driver', [sqliteTarget, postgresTarget, neo4jTarget]);

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
      checkSchedule(target, ['targets', index]);
      if (target.drill?.schedule !== undefined) {
        checkSchedule({ schedule: target.drill.schedule, timezone: target.timezone }, ['targets', index, 'drill']);
      }
      const problem = drillTargetProblem(target);
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

/** A drill must never restore into the live database. */
function drillTargetProblem(
  target: z.infer<typeof sqliteTarget> | z.infer<typeof postgresTarget> | z.infer<typeof neo4jTarget>,
): string | undefined {
  const to = target.drill?.to;
  if (to === undefined) return undefined;
  if (target.driver === 'neo4j') {
    return target.exec.home !== undefined && to.replace(/\/+$/, '') === target.exec.home.replace(/\/+$/, '')
      ? 'is the live NEO4J_HOME; give a folder for scratch servers'
      : undefined;
  }
  if (target.driver === 'sqlite') {
    return to.replace(/\/+$/, '') === target.path
      ? 'is the live database file; give a folder for scratch copies'
      : undefined;
  }
  if (!/^postgres(ql)?:\/\//.test(to)) return 'must be a postgres:// URL of the server to restore drills into';
  const server = (url: string) => {
    try {
      const u = new URL(url);
      return { host: u.hostname, port: u.port || '5432', db: decodeURIComponent(u.pathname.slice(1)) };
    } catch {
      return undefined;
    }
  };
  const scratch = server(to);
  if (scratch === undefined) return 'is not a valid URL';
  const live = target.url === undefined ? undefined : server(target.url);
  const liveHost = target.host ?? live?.host;
  const livePort = String(target.port ?? live?.port ?? '5432');
  const liveDb = target.database ?? live?.db;
  if (scratch.db !== '' && scratch.db === liveDb && scratch.host === liveHost && scratch.port === livePort) {
    return (
      `is the live database "${liveDb}": drills restore into a scratch database lifeboat_drill_<id> created ` +
      'on that server; point the URL at a maintenance database such as /postgres'
    );
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
