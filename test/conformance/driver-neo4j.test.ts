// The driver contract for Neo4j: a real Community server and the real neo4j-admin (stop-start dumps), and
// stand-in admin commands that exit 0 having written nothing or half of a real dump.
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { configSchema, type TargetConfig } from '../../src/config/schema.js';
import { createKnownGraph, type Neo4jServer, startNeo4j } from '../harness/neo4j.js';
import { describeDriver } from './driver-suite.js';

let server: Neo4jServer;
let dir: string;

const parse = (admin?: string[]) =>
  configSchema.parse({
    storage: { type: 'local', path: '/unused' },
    targets: [
      {
        name: 'graph',
        driver: 'neo4j',
        uri: server.uri,
        user: server.user,
        password: server.password,
        offline: 'stop-start',
        exec: admin === undefined ? server.exec : { ...server.exec, admin },
        startTimeout: '120s',
      },
    ],
  }).targets[0] as TargetConfig;

beforeAll(async () => {
  server = await startNeo4j();
  await createKnownGraph(server, 300);
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-conformance-neo4j-'));
}, 300_000);

afterAll(async () => {
  await server?.stop();
});

/** A neo4j-admin whose `database dump` is replaced by `body` ("$@" runs the real one); the rest is real. */
async function standInAdmin(name: string, body: string): Promise<string[]> {
  const script = join(dir, name);
  const real = server.exec.admin.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  await writeFile(
    script,
    `#!/bin/sh\nreal() { ${real} "$@"; }\ncase "$1 $2" in "database dump") ;; *) real "$@"; exit $?;; esac\n${body}\n`,
  );
  await chmod(script, 0o755);
  return [script];
}

describeDriver('neo4j', {
  target: () => parse(),
  tools: ['java'],
  // Each dump stops and starts a real JVM server, and a scratch place is a server of its own, which takes one
  // restore: loaded, checked, started.
  timeoutMs: 300_000,
  scratchTakesRestoreAgain: false,
  async brokenTool(kind) {
    const body =
      kind === 'empty'
        ? 'exit 0'
        : 'TMP=$(mktemp); real "$@" > "$TMP" || exit 1; SIZE=$(stat -c %s "$TMP"); head -c $((SIZE / 2)) "$TMP"; rm -f "$TMP"; exit 0';
    return parse(await standInAdmin(`admin-${kind}`, body));
  },
});
