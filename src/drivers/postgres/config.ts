// A `targets:` entry of the PostgreSQL driver.
import { z } from 'zod';
import { drillSchema, duration, postgresUrl, runSettings, targetEncryption, targetName } from '../../config/parts.js';

export const postgresTarget = z
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
      .optional()
      .describe(
        'Parallel restore. Default: into an empty destination (drills, --to a new database) one session a core ' +
          '(at most 4) loads the tables as the backup downloads, committed once it proved itself; into one that ' +
          'holds data, 1. 1: pg_restore in one transaction. Above 1: that many sessions into an empty ' +
          'destination; one that holds data gets pg_restore --jobs from a temporary file.',
      ),
    binDir: z.string().optional().describe('Folder with pg_dump, pg_restore and psql; default: PATH.'),
    lockTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(300)
      .describe('Fail instead of waiting longer than this for a table lock (e.g. held by a migration).'),
    extraDumpArgs: z.array(z.string().regex(/^--?[A-Za-z]/, 'must be an option')).default([]),
    method: z
      .enum(['logical', 'physical'])
      .default('logical')
      .describe(
        'logical: pg_dump of one database. physical: pg_basebackup of the whole cluster, with the WAL archived ' +
          'continuously (see wal:), for restores to any second.',
      ),
    wal: z
      .strictObject({
        slot: z
          .string()
          .regex(/^[a-z0-9_]{1,63}$/, 'must be a replication slot name: lower-case letters, digits, _')
          .optional()
          .describe('Replication slot that keeps WAL on the server until it is archived; default lifeboat_<target>.'),
        spool: z
          .string()
          .min(1)
          .optional()
          .describe('Local folder for WAL in flight (keep it on a volume); default $TMPDIR/lifeboat-wal/<target>.'),
        receive: z
          .boolean()
          .default(true)
          .describe('The daemon streams WAL with pg_receivewal; false when archive_command runs `lifeboat wal-push`.'),
        partialInterval: duration
          .default('10s')
          .describe('How often the segment being written is shipped as it stands: the RPO under a steady load.'),
        retainedWarning: z
          .number()
          .int()
          .min(1)
          .default(1024 ** 3)
          .describe('Bytes of WAL the slot may hold back on the server before a warning (shipping is failing).'),
      })
      .prefault({})
      .describe('Continuous WAL archiving of a physical target.'),
    drill: drillSchema
      .extend({
        pointInTimeAgo: duration
          .default('1m')
          .describe('method physical: the drill recovers to this long before it starts.'),
      })
      .optional(),
    ...targetEncryption,
    ...runSettings,
  })
  .describe('A PostgreSQL database, dumped with pg_dump, or a cluster backed up with pg_basebackup and its WAL.');

/** A drill must never restore into the live database: its scratch database is made on a server. */
export function postgresDrillToProblem(target: z.infer<typeof postgresTarget>): string | undefined {
  const to = target.drill?.to;
  if (to === undefined) return undefined;
  // A physical target's drill makes a scratch data directory in this folder (resolved like other paths).
  if (target.method === 'physical') return undefined;
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

/** The replication slot of a physical target. */
export function walSlot(target: z.infer<typeof postgresTarget>): string {
  return target.wal.slot ?? `lifeboat_${target.name.replace(/-/g, '_')}`;
}
