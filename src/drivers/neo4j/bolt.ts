// Bolt (neo4j-driver): statistics before a dump, "is it up again" after a start, queries in drills.
import type { Driver as BoltDriver } from 'neo4j-driver';
import type { TableStats } from '../../catalog/manifest.js';
import { LifeboatError } from '../../errors.js';

export interface BoltTarget {
  readonly uri: string;
  readonly user: string;
  readonly password: string | undefined;
}

export interface GraphStats {
  /** `label:<Label>` and `type:<TYPE>` entries with their counts: compared like tables after a restore. */
  readonly tables: TableStats[];
  readonly nodes: number;
  readonly relationships: number;
}

export interface ServerFacts {
  readonly version: string;
  readonly edition: string;
}

// neo4j-driver is loaded on first use: a process that never speaks Bolt does not pay its ~30 MB.
type Bolt = Pick<typeof import('neo4j-driver'), 'driver' | 'auth' | 'isInt'>;
let bolt: Bolt | undefined;

async function openBolt(target: BoltTarget): Promise<BoltDriver> {
  bolt ??= (await import('neo4j-driver')).default as unknown as Bolt;
  const neo4j = bolt;
  return neo4j.driver(target.uri, neo4j.auth.basic(target.user, target.password ?? ''), {
    connectionTimeout: 5_000,
    maxConnectionPoolSize: 2,
    logging: { level: 'error', logger: () => undefined },
  });
}

/** Runs `work` with a driver that is closed afterwards; connection failures become operator messages. */
export async function withBolt<T>(target: BoltTarget, work: (driver: BoltDriver) => Promise<T>): Promise<T> {
  const driver = await openBolt(target);
  try {
    return await work(driver);
  } catch (error) {
    throw explainBoltError(error, target);
  } finally {
    await driver.close().catch(() => undefined);
  }
}

export function explainBoltError(error: unknown, target: BoltTarget): unknown {
  if (error instanceof LifeboatError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? String(error);
  if (code === 'Neo.ClientError.Security.Unauthorized' || /authentication failure/i.test(message)) {
    return new LifeboatError(
      'AUTH',
      `neo4j: connect to ${target.uri}: authentication failed for user "${target.user}"`,
      {
        cause: error,
        hint: 'check the password (passwordFile) and user of this target',
      },
    );
  }
  if (code === 'ServiceUnavailable' || /ECONNREFUSED|Could not perform discovery|Failed to connect/i.test(message)) {
    return new LifeboatError(
      'UNREACHABLE',
      `neo4j: connect to ${target.uri}: Bolt unreachable (${firstLine(message)})`,
      {
        cause: error,
        hint: 'check the uri, and that Neo4j is running and listens for Bolt there',
      },
    );
  }
  return new LifeboatError('SOURCE', `neo4j: ${target.uri}: ${firstLine(message)}`, { cause: error });
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

export async function serverFacts(driver: BoltDriver): Promise<ServerFacts> {
  const result = await driver.executeQuery(
    'CALL dbms.components() YIELD versions, edition RETURN versions[0] AS v, edition AS e',
    {},
    { database: 'system' },
  );
  const row = result.records[0];
  return { version: String(row?.get('v') ?? ''), edition: String(row?.get('e') ?? '') };
}

/** Names of the databases the DBMS knows. */
export async function databases(driver: BoltDriver): Promise<string[]> {
  const result = await driver.executeQuery(
    'SHOW DATABASES YIELD name RETURN DISTINCT name',
    {},
    { database: 'system' },
  );
  return result.records.map((r) => String(r.get('name')));
}

/** A driver's value as a number: Bolt integers come as neo4j-driver's Integer (loaded once a driver opened). */
function isInt(value: unknown): boolean {
  return bolt?.isInt(value) === true;
}

function toNumber(value: unknown): number {
  return isInt(value) ? (value as { toNumber(): number }).toNumber() : Number(value);
}

function quote(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** Node count per label and relationship count per type (from the count store: fast on large graphs). */
export async function graphStats(driver: BoltDriver, database: string): Promise<GraphStats> {
  const run = async (cypher: string) => (await driver.executeQuery(cypher, {}, { database })).records;
  const labels = (await run('CALL db.labels() YIELD label RETURN label ORDER BY label')).map((r) =>
    String(r.get('label')),
  );
  const types = (await run('CALL db.relationshipTypes() YIELD relationshipType AS t RETURN t ORDER BY t')).map((r) =>
    String(r.get('t')),
  );
  const tables: TableStats[] = [];
  for (const label of labels) {
    const [row] = await run(`MATCH (n:${quote(label)}) RETURN count(n) AS c`);
    tables.push({ name: `label:${label}`, rows: toNumber(row?.get('c')) });
  }
  for (const type of types) {
    const [row] = await run(`MATCH ()-[r:${quote(type)}]->() RETURN count(r) AS c`);
    tables.push({ name: `type:${type}`, rows: toNumber(row?.get('c')) });
  }
  const [nodes] = await run('MATCH (n) RETURN count(n) AS c');
  const [rels] = await run('MATCH ()-[r]->() RETURN count(r) AS c');
  // Labels and types that exist in the schema but have no entities are left out, as they are after a load.
  return {
    tables: tables.filter((t) => t.rows > 0),
    nodes: toNumber(nodes?.get('c')),
    relationships: toNumber(rels?.get('c')),
  };
}

/** First column of the first row of a Cypher query, as a plain value. */
export async function queryValue(driver: BoltDriver, database: string, cypher: string): Promise<unknown> {
  const result = await driver.executeQuery(cypher, {}, { database });
  const value = result.records[0]?.get(0);
  return isInt(value) ? toNumber(value) : value;
}

/** Waits until Bolt answers and `database` is online (or rejects after `timeoutMs`, naming the last error). */
export async function waitForBolt(
  target: BoltTarget,
  timeoutMs: number,
  database = 'neo4j',
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const driver = await openBolt(target);
    try {
      const result = await driver.executeQuery(
        'SHOW DATABASES YIELD name, currentStatus WHERE name = $database RETURN currentStatus',
        { database },
        { database: 'system' },
      );
      const status = result.records.map((r) => String(r.get('currentStatus')));
      if (status.length > 0 && status.every((s) => s === 'online')) return;
      last = new Error(`database ${database} is ${status.join(', ') || 'not known yet'}`);
    } catch (error) {
      last = error;
    } finally {
      await driver.close().catch(() => undefined);
    }
    if (signal?.aborted) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const cause = explainBoltError(last ?? new Error('no answer'), target);
  throw new LifeboatError(
    'NOT_STARTED',
    `neo4j: Bolt at ${target.uri} did not answer within ${Math.round(timeoutMs / 1000)} s after the start: ${(cause as Error).message}`,
    { cause: last, hint: 'look at the Neo4j logs; start it by hand if needed' },
  );
}
