// The pieces of the configuration schema that every plugin shares: names, durations, prefixes, encryption,
// retention, webhooks, drills and the run settings each target inherits.
import { z } from 'zod';
import { isTimeZone } from '../scheduler/schedule.js';
import { DURATION } from './duration.js';

/** Target names become parts of object keys and paths, so they are restricted. */
export const TARGET_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Storage prefixes: segments that cannot climb out of the store ("." and ".." are refused). */
export const SAFE_PREFIX = /^((?!\.\.?\/)[A-Za-z0-9._-]+\/)*$/;

/** An http(s) URL with a host, and nothing a URL parser would have to guess at. */
export const httpUrl = (example: string) =>
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
export const postgresUrl = z
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

export const duration = z.string().regex(DURATION, 'must be a duration like "30s", "5m", "1h30m" or "7d"');

export const prefix = z
  .string()
  .regex(
    SAFE_PREFIX,
    'must be empty or path segments of [A-Za-z0-9._-] (not "." or "..") each ending in "/", like "prod/"',
  )
  .default('')
  .describe('Key prefix for every object, e.g. "prod/".');

/** An age X25519 recipient: "age1" and 58 bech32 characters. */
export const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

export const encryptionSchema = z
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

export const timezone = z.string().refine(isTimeZone, 'unknown IANA time zone (e.g. "UTC", "Europe/Berlin")');
export const count = z.number().int().min(0).max(100_000).optional();

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

export const webhookSchema = z
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

export const drillCheck = z
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

export const drillSchema = z
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
/** A rate in bytes per second: a number, or a size such as "20MiB" or "500KB" (per second). */
export const BYTE_RATE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)$/;
export const byteRate = z
  .union([z.number().int().min(1024), z.string().regex(BYTE_RATE, 'a rate like "20MiB" or "500KB" (per second)')])
  .describe('Bytes per second: a number (at least 1024) or a size such as "20MiB" (per second).');

export const rateLimitSchema = z
  .strictObject({
    upload: byteRate.optional().describe('Bytes per second written to the store (backups, copies, WAL).'),
    download: byteRate.optional().describe('Bytes per second read from the store (restores, drills, verify).'),
  })
  .describe('Caps on the bytes a run moves to and from the store.');

export const compressionSchema = z
  .strictObject({
    algorithm: z
      .enum(['gzip', 'zstd', 'none'])
      .optional()
      .describe('gzip (default; plain `gunzip` reads it), zstd (faster, smaller; `zstd -d` reads it) or none.'),
    level: z.number().int().min(1).max(19).optional().describe('gzip 1-9 (default 6), zstd 1-19 (default 3).'),
    threads: z
      .number()
      .int()
      .min(1)
      .max(64)
      .optional()
      .describe(
        'Blocks compressed at once (default: the cores Node.js may use). Memory: threads x 1 MiB (zstd 4 MiB).',
      ),
  })
  .describe('How dumps are compressed before they are (encrypted and) stored. Restores follow each manifest.');

export const prioritySchema = z
  .strictObject({
    cpu: z
      .number()
      .int()
      .min(0)
      .max(19)
      .optional()
      .describe('nice value of the dump tool (0 = as Lifeboat, 19 = lowest), so a busy host keeps its CPU.'),
    io: z
      .enum(['normal', 'idle'])
      .optional()
      .describe('I/O class of the dump tool: idle (ionice -c 3) reads only when the disk is otherwise free.'),
  })
  .describe("The dump tool's CPU and I/O priority on this host (it reads a local database's files).");

export const runSettings = {
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
  compression: compressionSchema.optional(),
  rateLimit: rateLimitSchema.optional().describe("Caps on one run's transfer to and from the store."),
  priority: prioritySchema.optional(),
};

/** A target's own encryption settings replace the storage's. */
export const targetEncryption = { encryption: encryptionSchema.optional() };

export const targetName = z
  .string()
  .regex(TARGET_NAME, 'must match [a-z0-9][a-z0-9_-]{0,62} (it becomes part of object keys)');

export const command = z.array(z.string().min(1)).min(1);
