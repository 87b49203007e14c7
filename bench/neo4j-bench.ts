// `npm run bench:neo4j`: a stop-start backup of a Neo4j graph (default 1 million nodes, 1 million
// relationships) on a throwaway real server to MinIO: downtime, dump rate, sizes, then a drill. Prints figures.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../test/harness/cli.js';
import { startMinio } from '../test/harness/minio.js';
import { cypher, startNeo4j } from '../test/harness/neo4j.js';
import { s3StorageInline } from '../test/harness/s3.js';

const NODES = Number(process.env.LIFEBOAT_BENCH_NODES ?? 1_000_000);

function lifeboat(config: string, args: string[]) {
  return runCli(['--config', config, ...args]);
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'lifeboat-neo4j-bench-'));
  const [server, minio] = await Promise.all([startNeo4j(), startMinio()]);
  try {
    process.stdout.write(`bench: creating ${NODES} nodes and ${NODES} relationships\n`);
    const t0 = performance.now();
    for (let start = 1; start <= NODES; start += 20_000) {
      await cypher(
        server,
        `UNWIND range($start, $end) AS i
         CREATE (:Account {uid: i, name: 'account ' + i, balance: i * 1.5, opened: date('2000-01-01') + duration({days: i % 9000}), flags: ['a', 'b']})`,
        { start, end: Math.min(NODES, start + 19_999) },
      );
    }
    await cypher(server, 'CREATE INDEX account_uid IF NOT EXISTS FOR (a:Account) ON (a.uid)');
    await cypher(server, 'CALL db.awaitIndexes(300)');
    for (let start = 1; start <= NODES; start += 20_000) {
      await cypher(
        server,
        `MATCH (a:Account) WHERE a.uid >= $start AND a.uid <= $end
         MATCH (b:Account {uid: (a.uid * 7919) % $n + 1})
         CREATE (a)-[:PAID {amount: a.uid % 1000}]->(b)`,
        { start, end: Math.min(NODES, start + 19_999), n: NODES },
      );
    }
    process.stdout.write(`bench: graph created in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    const s3 = minio.server;
    const config = join(work, 'lifeboat.yaml');
    await writeFile(join(work, 'pw'), server.password);
    await writeFile(
      config,
      stringify({
        storage: s3StorageInline(s3),
        targets: [
          {
            name: 'graph',
            driver: 'neo4j',
            uri: server.uri,
            passwordFile: join(work, 'pw'),
            exec: server.exec,
            drill: { to: join(work, 'scratch') },
          },
        ],
      }),
    );
    const started = performance.now();
    const backup = await lifeboat(config, ['backup', '--json']);
    const wall = (performance.now() - started) / 1000;
    if (backup.code !== 0) throw new Error(`backup failed:\n${backup.stderr}`);
    const [manifest] = JSON.parse(backup.stdout) as {
      source: { downtimeSeconds: number; offlineSeconds: { stop: number; dump: number; start: number } };
      stats: { nodes: number; relationships: number };
      artifacts: { size: number; rawSize: number }[];
    }[];
    if (manifest === undefined) throw new Error('no manifest');
    const raw = manifest.artifacts[0]?.rawSize ?? 0;
    const stored = manifest.artifacts[0]?.size ?? 0;
    const downtime = manifest.source.downtimeSeconds;
    const parts = manifest.source.offlineSeconds;
    process.stdout.write(
      `\nbackup of ${manifest.stats.nodes} nodes, ${manifest.stats.relationships} relationships (stop-start):\n` +
        `  wall ${wall.toFixed(1)} s, downtime ${downtime.toFixed(1)} s = stop ${parts.stop.toFixed(1)} s + dump ${parts.dump.toFixed(1)} s ` +
        `+ start until Bolt answers ${parts.start.toFixed(1)} s\n` +
        `  dump ${(raw / 1e6).toFixed(1)} MB (neo4j-admin's own compressed format), stored ${(stored / 1e6).toFixed(1)} MB; ` +
        `dump rate ${(raw / 1e6 / parts.dump).toFixed(1)} MB/s, ${Math.round(manifest.stats.nodes / parts.dump)} nodes/s\n`,
    );
    const drill = await lifeboat(config, ['drill', '--json']);
    const [record] = JSON.parse(drill.stdout) as { ok: boolean; timings: Record<string, number>; failure?: unknown }[];
    process.stdout.write(
      `drill: ${record?.ok ? 'passed' : `FAILED ${JSON.stringify(record?.failure)}`}; ` +
        Object.entries(record?.timings ?? {})
          .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
          .join(', ') +
        '\n',
    );
  } finally {
    await Promise.all([server.stop(), minio.stop()]);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
