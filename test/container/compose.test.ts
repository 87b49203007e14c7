// docker-compose.example.yml, run end to end with Docker Compose on the tests' engine: PostgreSQL, MinIO with
// its bucket, Lifeboat from the Dockerfile and a real Prometheus. The file under test is the one users copy;
// compose.stand-ins.yml only swaps in local images (no registry here) and a free port for Prometheus. The
// project folder is a temporary one holding what a user has next to the file: `secrets/` and `config/`.
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { cachedTool } from '../harness/cache.js';
import { logLines } from '../harness/cli.js';
import { waitFor } from '../harness/free-port.js';
import {
  buildLifeboatImage,
  type CommandResult,
  IMAGE_BUILD_HOOK_TIMEOUT,
  onEngine,
} from '../harness/lifeboat-image.js';

const { engine, images } = inject('docker');
const ROOT = join(import.meta.dirname, '..', '..');

interface PromRule {
  name: string;
  health: string;
  lastError?: string;
}

describe('docker-compose.example.yml with Docker Compose', { timeout: 900_000 }, () => {
  const project = `lifeboat-compose-${randomBytes(4).toString('hex')}`;
  const pgPassword = randomBytes(16).toString('hex');
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let composeBin: string;
  let upAt: number;

  function compose(args: readonly string[]): Promise<CommandResult> {
    return onEngine(
      engine,
      composeBin,
      [
        '--project-name',
        project,
        '--project-directory',
        dir,
        '--file',
        join(ROOT, 'docker-compose.example.yml'),
        '--file',
        join(ROOT, 'test', 'container', 'compose.stand-ins.yml'),
        ...args,
      ],
      { cwd: dir, env },
    );
  }

  async function composeOk(args: readonly string[]): Promise<string> {
    const result = await compose(args);
    if (result.code !== 0)
      throw new Error(`compose ${args.join(' ')}: exit ${result.code}: ${result.stderr.slice(-3000)}`);
    return result.stdout;
  }

  /** A PostgreSQL client tool in the db service, as the app user over TCP, the password from the secret. */
  async function inDb(tool: string, args: string[]): Promise<string> {
    const script = `PGPASSWORD="$(cat /run/secrets/pg_password)" exec ${tool} -h 127.0.0.1 -U app "$@"`;
    return (await composeOk(['exec', '-T', 'db', 'sh', '-c', script, tool, ...args])).trim();
  }

  function psql(database: string, sql: string): Promise<string> {
    return inDb('psql', ['-d', database, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql]);
  }

  /** Object keys in the bucket, through mc in the minio service. */
  async function bucketKeys(): Promise<string[]> {
    const listed = await composeOk([
      'exec',
      '-T',
      'minio',
      'sh',
      '-c',
      'MC_HOST_local="http://lifeboat:$(cat /run/secrets/s3_secret_key)@127.0.0.1:9000" mc ls --recursive local/backups',
    ]);
    return listed
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.trim().split(/\s+/).at(-1) ?? '');
  }

  async function prometheus(path: string): Promise<{ status: string; data: unknown }> {
    const port = (await composeOk(['port', 'prometheus', '9090'])).trim().split(':').at(-1);
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    return (await response.json()) as { status: string; data: unknown };
  }

  /** Waits for `probe`; on a timeout the error carries the service's last log lines (why it is not there). */
  async function waitWithLogs(what: string, service: string, probe: () => Promise<boolean>): Promise<void> {
    try {
      await waitFor(what, probe, 180_000);
    } catch (error) {
      const logs = await compose(['logs', '--no-color', '--tail', '20', service]);
      throw new Error(`${(error as Error).message}\n${service} logs:\n${logs.stdout}${logs.stderr}`);
    }
  }

  beforeAll(async () => {
    composeBin = cachedTool('docker-compose', process.env.LIFEBOAT_COMPOSE_BIN);
    const image = await buildLifeboatImage(engine, images);
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-compose-'));
    // What the example's header asks a user to create, and the files next to it that it mounts.
    await mkdir(join(dir, 'secrets'));
    await writeFile(join(dir, 'secrets', 'pg_password.txt'), `${pgPassword}\n`);
    await writeFile(join(dir, 'secrets', 's3_secret_key.txt'), `${randomBytes(16).toString('hex')}\n`);
    for (const file of ['pg_password.txt', 's3_secret_key.txt']) await chmod(join(dir, 'secrets', file), 0o644);
    for (const folder of ['compose', 'prometheus']) {
      await cp(join(ROOT, 'config', folder), join(dir, 'config', folder), { recursive: true });
    }
    env = {
      LIFEBOAT_TEST_POSTGRES_IMAGE: images.postgres,
      LIFEBOAT_TEST_MINIO_IMAGE: images.minio,
      LIFEBOAT_TEST_PROMETHEUS_IMAGE: images.prometheus,
      LIFEBOAT_TEST_LIFEBOAT_IMAGE: image.name,
    };
    upAt = Date.now();
    await composeOk(['up', '--detach', '--no-build', 'db', 'minio', 'minio-init']);
    await waitFor('the db service to turn healthy', async () => (await psql('app', 'SELECT 1')) === '1', 180_000);
    // About 90 MB of dump, so that the first backup takes seconds and `compose stop` lands in it.
    await psql(
      'app',
      `CREATE TABLE blob AS SELECT g AS id, md5(g::text) || repeat(md5((g * 7)::text), 6) AS payload FROM generate_series(1, 400000) g`,
    );
    await composeOk(['up', '--detach', '--no-build']);
    await waitFor(
      'pg_dump copying the table',
      async () =>
        (await psql(
          'app',
          "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lifeboat' AND query LIKE 'COPY %'",
        )) === '1',
      180_000,
    );
  }, IMAGE_BUILD_HOOK_TIMEOUT);

  afterAll(async () => {
    if (dir === undefined) return;
    await compose(['down', '--volumes', '--remove-orphans', '--timeout', '5']);
    await rm(dir, { recursive: true, force: true });
  });

  it('`compose stop lifeboat` in the middle of the start-up backup lets it finish and commit, then exits 0', async () => {
    const stopped = await compose(['stop', 'lifeboat']);
    expect(stopped.code, stopped.stderr).toBe(0);
    const logs = logLines((await composeOk(['logs', '--no-color', '--no-log-prefix', 'lifeboat'])).replace(/\r/g, ''));
    expect(logs.find((l) => l.event === 'daemon.stopped')).toMatchObject({ aborted: 0, finished: 1, clean: true });
    const end = logs.find((l) => l.event === 'backup.end');
    expect(end).toMatchObject({ result: 'success', target: 'app-db' });
    const keys = await bucketKeys();
    expect(keys.filter((k) => k.endsWith('manifest.json'))).toHaveLength(1);
    expect(keys.every((k) => k.startsWith('shop/'))).toBe(true);
    // For the README: the first `up` to the first backup committed (the 90 MB seed in between included).
    console.log(
      `compose: from \`up\` to the first backup committed: ${((Number(end?.time) - upAt) / 1000).toFixed(1)} s`,
    );
  });

  it('Prometheus scrapes Lifeboat, loads the shipped alert rules without errors, and answers the freshness query', async () => {
    await composeOk(['start', 'lifeboat']);
    const rulesFile = parse(await readFile(join(ROOT, 'config', 'prometheus', 'alerts.yml'), 'utf8')) as {
      groups: { name: string; rules: { alert: string }[] }[];
    };
    let loaded: { name: string; rules: PromRule[] }[] = [];
    await waitWithLogs('Prometheus to evaluate every rule', 'prometheus', async () => {
      const answer = await prometheus('/api/v1/rules');
      loaded = (answer.data as { groups: { name: string; rules: PromRule[] }[] }).groups;
      return loaded.length > 0 && loaded.every((g) => g.rules.every((r) => r.health !== 'unknown'));
    });
    expect(loaded.map((g) => g.name)).toEqual(rulesFile.groups.map((g) => g.name));
    expect(loaded.map((g) => g.rules.map((r) => r.name))).toEqual(
      rulesFile.groups.map((g) => g.rules.map((r) => r.alert)),
    );
    for (const rule of loaded.flatMap((g) => g.rules)) {
      expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({
        rule: rule.name,
        health: 'ok',
        error: '',
      });
    }
    let result: { metric: Record<string, string>; value: [number, string] }[] = [];
    await waitWithLogs('lifeboat_backup_last_success_timestamp_seconds in Prometheus', 'lifeboat', async () => {
      const answer = await prometheus('/api/v1/query?query=lifeboat_backup_last_success_timestamp_seconds');
      result = (answer.data as { result: typeof result }).result;
      return result.length > 0;
    });
    expect(result[0]?.metric).toMatchObject({ job: 'lifeboat', target: 'app-db' });
    const at = Number(result[0]?.value[1]);
    expect(Math.abs(at - Date.now() / 1000)).toBeLessThan(900);
    const targets = await prometheus('/api/v1/targets');
    const active = (targets.data as { activeTargets: { labels: { job: string }; health: string }[] }).activeTargets;
    expect(active.find((t) => t.labels.job === 'lifeboat')?.health).toBe('up');
  });

  it('`compose exec lifeboat lifeboat restore --point-in-time … --to postgres://…` restores into a new database', async () => {
    await inDb('createdb', ['restored']);
    const restored = await compose([
      'exec',
      '-T',
      'lifeboat',
      'lifeboat',
      'restore',
      'app-db',
      '--point-in-time',
      new Date().toISOString(),
      '--to',
      'postgres://app@db:5432/restored',
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await psql('restored', 'SELECT count(*), sum(length(payload)) FROM blob')).toBe(
      await psql('app', 'SELECT count(*), sum(length(payload)) FROM blob'),
    );
  });
});
