// A `targets:` entry of the PostgreSQL driver.
import { z } from 'zod';
import { drillSchema, postgresUrl, runSettings, targetEncryption, targetName } from '../../config/parts.js';

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

/** A drill must never restore into the live database: its scratch database is made on a server. */
export function postgresDrillToProblem(target: z.infer<typeof postgresTarget>): string | undefined {
  const to = target.drill?.to;
  if (to === undefined) return undefined;
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
