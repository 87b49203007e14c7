#!/usr/bin/env node
// The test harness's service manager for its Neo4j server, in the role `neo4j start` / `neo4j stop` (or
// systemctl) plays on a real host: `start` launches the real Community server (org.neo4j.server.
// CommunityEntryPoint from the jars in LIB) in the background and returns; `stop` ends it and waits.
// Usage: neo4j-service.mjs start|stop LIB   (NEO4J_HOME and NEO4J_CONF from the environment)
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [action, lib] = process.argv.slice(2);
const home = process.env.NEO4J_HOME;
const conf = process.env.NEO4J_CONF ?? (home === undefined ? undefined : join(home, 'conf'));
if (home === undefined || conf === undefined || lib === undefined || !['start', 'stop'].includes(action ?? '')) {
  process.stderr.write('usage: NEO4J_HOME=... neo4j-service.mjs start|stop LIB\n');
  process.exit(2);
}
const pidFile = join(home, 'run', 'test-server.pid');

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

if (action === 'start') {
  if (existsSync(pidFile) && alive(Number(readFileSync(pidFile, 'utf8')))) {
    process.stdout.write('already running\n');
    process.exit(0);
  }
  const out = openSync(join(home, 'logs', 'console.log'), 'a');
  const child = spawn(
    'java',
    [
      '--add-opens=java.base/java.nio=ALL-UNNAMED',
      '--add-opens=java.base/java.io=ALL-UNNAMED',
      '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
      '--add-opens=java.base/java.lang=ALL-UNNAMED',
      '-Xmx512m',
      '-cp',
      `${lib}/*`,
      'org.neo4j.server.CommunityEntryPoint',
      `--home-dir=${home}`,
      `--config-dir=${conf}`,
      '--console-mode',
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  writeFileSync(pidFile, String(child.pid));
  child.unref();
  process.stdout.write(`started ${child.pid}\n`);
} else {
  if (!existsSync(pidFile)) {
    process.stdout.write('not running\n');
    process.exit(0);
  }
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (alive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 120_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) {
    process.stderr.write(`neo4j ${pid} did not stop within 120 s\n`);
    process.exit(1);
  }
  rmSync(pidFile, { force: true });
  process.stdout.write(`stopped ${pid}\n`);
}
