// The container files agree with the code, in seconds and with no engine: config path, port, health
// endpoint, entry point, and the compose example's config, secrets and Prometheus wiring. test/container/
// builds and runs them for real.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDuration } from '../../src/config/duration.js';
import { resolveConfigPath } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { LifeboatMetrics } from '../../src/metrics/metrics.js';
import { startHealthServer } from '../../src/metrics/server.js';

const root = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const instructions = dockerfile
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const compose = parse(readFileSync(join(root, 'docker-compose.example.yml'), 'utf8')) as {
  services: Record<string, Record<string, unknown>>;
  configs: Record<string, { content?: string; file?: string }>;
  secrets: Record<string, { file: string }>;
};

function instruction(name: string): string[] {
  return instructions.filter((line) => line.startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());
}

const defaults = configSchema.parse({
  storage: { type: 'local', path: 'x' },
  targets: [{ name: 'a', driver: 'sqlite', path: 'a.db' }],
});
const defaultPort = defaults.metrics.listen.split(':').at(-1) as string;

describe('Dockerfile', () => {
  const env = Object.fromEntries(
    instruction('ENV')
      .join(' ')
      .split(/\s+/)
      .map((pair) => pair.split('=') as [string, string]),
  );

  it('runs `lifeboat daemon` as a non-root user on a current even-numbered Node LTS, multi-stage', () => {
    expect(instruction('ENTRYPOINT')).toEqual(['["lifeboat"]']);
    expect(instruction('CMD')).toEqual(['["daemon"]']);
    const user = instruction('USER').at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    // FROM ${NODE_IMAGE} AS build, then FROM ${DEBIAN_IMAGE} with the build stage's Node copied in.
    const args = Object.fromEntries(
      instruction('ARG').map((arg) => {
        const [name, value] = arg.split('=') as [string, string | undefined];
        return [name, value?.replace(/^"|"$/g, '')];
      }),
    );
    const froms = instruction('FROM').map((from) =>
      from.replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? ''),
    );
    expect(froms).toHaveLength(2);
    const major = Number(/^node:(\d+)-(\w+)/.exec(froms[0] ?? '')?.[1]);
    expect(major % 2).toBe(0);
    expect(major).toBeGreaterThanOrEqual(22);
    expect(froms[0]).toMatch(/ AS build$/);
    const debian = /^node:\d+-(\w+)/.exec(froms[0] ?? '')?.[1];
    expect(froms[1]).toBe(`debian:${debian}-slim`);
    expect(instruction('COPY')).toContain('--from=build /usr/local/bin/node /usr/local/bin/node');
  });

  it('points LIFEBOAT_CONFIG at the path the compose example mounts the config to', () => {
    const mounted = (compose.services.lifeboat?.configs as { target: string }[] | undefined)?.[0]?.target;
    expect(resolveConfigPath(undefined, { LIFEBOAT_CONFIG: env.LIFEBOAT_CONFIG })).toBe(mounted);
    expect(mounted).toBe('/etc/lifeboat/lifeboat.yaml');
  });

  it('exposes the default metrics port and health-checks the endpoint the daemon serves', async () => {
    expect(instruction('EXPOSE')).toEqual([defaultPort]);
    const check = instruction('HEALTHCHECK')[0] ?? '';
    const url = /(http:\/\/127\.0\.0\.1:(\d+)(\/\w+))/.exec(check);
    expect(url?.[2]).toBe(defaultPort);
    const server = await startHealthServer({
      listen: '127.0.0.1:0',
      registry: new LifeboatMetrics([]).registry,
      alive: () => true,
      readiness: async () => ({ ready: true, detail: 'ready' }),
    });
    try {
      const response = await fetch(`${server.url}${url?.[3]}`);
      expect(response.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('installs the tools the drivers call and copies only files that exist', () => {
    expect(dockerfile).toMatch(/postgresql-client-\$v/);
    expect(dockerfile).toMatch(/ARG PG_MAJORS="(\d+ )*18"/);
    expect(dockerfile).toContain('sqlite3');
    for (const copy of instruction('COPY').filter((c) => !c.startsWith('--from'))) {
      const sources = copy.split(/\s+/).slice(0, -1);
      for (const source of sources) expect(existsSync(join(root, source)), source).toBe(true);
    }
  });
});

describe('docker-compose.example.yml', () => {
  const lifeboat = compose.services.lifeboat ?? {};
  const config = configSchema.parse(
    parse(readFileSync(join(root, compose.configs.lifeboat?.file ?? 'missing'), 'utf8')),
  );

  it('runs Lifeboat hardened: read-only root, a tmpfs for /tmp, no new privileges, secrets from files', () => {
    expect(lifeboat.read_only).toBe(true);
    expect(lifeboat.tmpfs).toEqual(['/tmp']);
    expect(lifeboat.security_opt).toContain('no-new-privileges:true');
    expect(lifeboat.command).toEqual(['daemon']);
    const secrets = lifeboat.secrets as string[];
    for (const name of secrets) expect(compose.secrets[name]?.file).toMatch(/^\.\/secrets\//);
    const files = [
      config.storage.type === 's3' ? config.storage.secretAccessKeyFile : undefined,
      ...config.targets.map((t) => (t.driver === 'postgres' ? t.passwordFile : undefined)),
    ];
    for (const file of files) expect(secrets.map((s) => `/run/secrets/${s}`)).toContain(file);
  });

  it('holds a valid Lifeboat config whose metrics port Prometheus scrapes, with the shipped rules', () => {
    expect(config.metrics.listen.endsWith(`:${defaultPort}`)).toBe(true);
    expect(lifeboat.expose).toEqual([defaultPort]);
    const prometheus = parse(compose.configs.prometheus?.content ?? '') as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const job = prometheus.scrape_configs.find((j) => j.job_name === 'lifeboat');
    expect(job?.static_configs[0]?.targets).toEqual([`lifeboat:${defaultPort}`]);
    const mounts = compose.services.prometheus?.volumes as string[];
    const rules = mounts.map((m) => m.split(':')).find(([, target]) => target === prometheus.rule_files[0]);
    expect(rules?.[0]).toBe('./config/prometheus/alerts.yml');
    expect(existsSync(join(root, rules?.[0] ?? 'missing'))).toBe(true);
  });

  it('gives a running backup longer to finish than the daemon’s own grace period', () => {
    const stop = parseDuration(String(lifeboat.stop_grace_period));
    expect(stop).toBeGreaterThan(parseDuration(config.daemon.shutdownGracePeriod));
  });
});
