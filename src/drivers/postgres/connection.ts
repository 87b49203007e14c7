// PostgreSQL connection settings: one source for the pg client and for the environment of pg_dump/psql.
import pg from 'pg';
import type { PostgresTargetConfig } from '../../config/schema.js';
import { LifeboatError } from '../../errors.js';

export interface PgConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password: string | undefined;
  readonly sslmode: string | undefined;
}

/** Fields from the URL, overridden by explicit fields; the password from the config, else the URL. */
export function connectionFromConfig(config: PostgresTargetConfig, destinationUrl?: string): PgConnection {
  const url = destinationUrl ?? config.url;
  const parsed = url === undefined ? undefined : parseUrl(url);
  const fromFields = destinationUrl === undefined;
  return {
    host: (fromFields ? config.host : undefined) ?? parsed?.host ?? 'localhost',
    port: (fromFields ? config.port : undefined) ?? parsed?.port ?? 5432,
    user: (fromFields ? config.user : undefined) ?? parsed?.user ?? 'postgres',
    database: (fromFields ? config.database : undefined) ?? parsed?.database ?? parsed?.user ?? 'postgres',
    password: parsed?.password ?? config.password,
    sslmode: (fromFields ? config.sslmode : undefined) ?? parsed?.sslmode,
  };
}

function parseUrl(text: string) {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LifeboatError('CONFIG_INVALID', 'postgres: parse connection URL: not a valid URL', { exitCode: 2 });
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return {
    host: url.hostname === '' ? undefined : decodeURIComponent(url.hostname),
    port: url.port === '' ? undefined : Number(url.port),
    user: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    database: database === '' ? undefined : database,
    sslmode: url.searchParams.get('sslmode') ?? undefined,
  };
}

/** host:port/database, safe for messages. */
export function describeConnection(c: PgConnection): string {
  return `${c.user}@${c.host}:${c.port}/${c.database}`;
}

/** libpq environment for pg_dump, pg_restore and psql: the password never reaches argv. */
export function libpqEnv(c: PgConnection): NodeJS.ProcessEnv {
  return {
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGUSER: c.user,
    PGDATABASE: c.database,
    PGCONNECT_TIMEOUT: '10',
    PGAPPNAME: 'lifeboat',
    ...(c.password === undefined ? {} : { PGPASSWORD: c.password }),
    ...(c.sslmode === undefined ? {} : { PGSSLMODE: c.sslmode }),
  };
}

/** Connects with the pg client, turning the usual failures into messages an operator can act on. */
export async function connect(c: PgConnection): Promise<pg.Client> {
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    database: c.database,
    password: c.password,
    ssl:
      c.sslmode === undefined || c.sslmode === 'disable' || c.sslmode === 'prefer' || c.sslmode === 'allow'
        ? false
        : { rejectUnauthorized: c.sslmode === 'verify-ca' || c.sslmode === 'verify-full' },
    connectionTimeoutMillis: 10_000,
    application_name: 'lifeboat',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainConnectError(error, c);
  }
}

/** One connection for `use`, closed when it ends (however it ends). */
export async function withClient<T>(c: PgConnection, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(c);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The rows of `sql` as arrays; of its last statement when it holds several. */
export async function arrayRows(client: pg.Client, sql: string, params?: unknown[]): Promise<unknown[][]> {
  const results: pg.QueryArrayResult | pg.QueryArrayResult[] = await client.query({
    text: sql,
    rowMode: 'array',
    values: params,
  });
  return (Array.isArray(results) ? (results.at(-1) as pg.QueryArrayResult) : results).rows;
}

export function explainConnectError(error: unknown, c: PgConnection): LifeboatError {
  const err = error as NodeJS.ErrnoException & { code?: string };
  const where = describeConnection(c);
  if (err.code === '28P01' || /password authentication failed/.test(err.message)) {
    return new LifeboatError(
      'AUTH',
      `postgres: connect to ${where}: password authentication failed for user "${c.user}"`,
      {
        cause: error,
        hint: 'check the password (passwordFile) and user of this target',
      },
    );
  }
  if (err.code === '3D000') {
    return new LifeboatError('SOURCE', `postgres: connect to ${where}: database "${c.database}" does not exist`, {
      cause: error,
      hint: `create it first (createdb ${c.database}) or fix the database name`,
    });
  }
  if (
    err.code === 'ECONNREFUSED' ||
    err.code === 'ENOTFOUND' ||
    err.code === 'EHOSTUNREACH' ||
    /timeout/i.test(err.message)
  ) {
    return new LifeboatError(
      'UNREACHABLE',
      `postgres: connect to ${where}: server unreachable (${err.code ?? err.message})`,
      {
        cause: error,
        hint: 'check host and port, and that PostgreSQL is running and accepts connections',
      },
    );
  }
  return new LifeboatError('SOURCE', `postgres: connect to ${where}: ${err.message}`, { cause: error });
}

/** `name` as an SQL identifier, quoted. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
