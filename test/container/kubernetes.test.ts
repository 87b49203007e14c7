// The Kubernetes manifests (deploy/kubernetes) against the Kubernetes API's schemas, strict
// (kubernetes-validate, from PyPI), and the Prometheus Operator's objects against the operator's CRD schemas
// (@kubernetes-models/prometheus-operator: types and required fields; it lets unknown fields through). Each
// validator is shown to refuse a broken copy, so a pass means something. And the manifests agree with the
// rest: the config is a valid Lifeboat config, the PrometheusRule is config/prometheus/alerts.yml, the
// ports, paths and user are the image's. Nothing here ran on a real cluster (see README).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseDuration } from '../../src/config/duration.js';
import { configSchema } from '../../src/config/schema.js';
import { cachedTool } from '../harness/cache.js';
import { captured } from '../harness/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DIR = join(ROOT, 'deploy', 'kubernetes');
/** The oldest Kubernetes still commonly run, and the newest the validator knows. */
const VERSIONS = ['1.31.0', '1.37.0'];

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
} & Record<
  string,
  // biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML, read field by field below
  any
>;

const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
const manifests = new Map<string, Manifest>(
  kustomization.resources.map((file) => [file, parse(readFileSync(join(DIR, file), 'utf8')) as Manifest]),
);
const byKind = (kind: string): Manifest => {
  const found = [...manifests.values()].find((m) => m.kind === kind);
  if (found === undefined) throw new Error(`no ${kind} in deploy/kubernetes`);
  return found;
};

async function validate(files: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(validator, ['--strict', ...VERSIONS.flatMap((v) => ['-k', v]), ...files], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { code, stdout, stderr } = await captured(child);
  return { code, output: stdout + stderr };
}

let validator: string;

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  let scratch: string;

  beforeAll(async () => {
    validator = cachedTool('kubernetes-validate', process.env.LIFEBOAT_KUBERNETES_VALIDATE);
    scratch = await mkdtemp(join(tmpdir(), 'lifeboat-k8s-'));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('the core objects pass the Kubernetes schemas, strict, and a misspelled field does not', async () => {
    const core = [...manifests].filter(([, m]) => !m.apiVersion.startsWith('monitoring.coreos.com/'));
    expect(core.map(([, m]) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Secret', 'Service']);
    const result = await validate(core.map(([file]) => join(DIR, file)));
    expect(result.output).not.toMatch(/ERROR|WARN|FATAL/);
    expect(result.code, result.output).toBe(0);
    expect(result.output.match(/passed for resource/g)).toHaveLength(core.length * VERSIONS.length);
    // The same Deployment with `replica` for `replicas`: refused.
    const broken = structuredClone(byKind('Deployment'));
    broken.spec.replica = broken.spec.replicas;
    delete broken.spec.replicas;
    await writeFile(join(scratch, 'broken.yaml'), stringify(broken));
    const refused = await validate([join(scratch, 'broken.yaml')]);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain("'replica' was unexpected");
  });

  it('the ServiceMonitor and the PrometheusRule pass the Prometheus Operator’s schemas, and broken ones do not', () => {
    expect(() => new ServiceMonitor(byKind('ServiceMonitor') as never).validate()).not.toThrow();
    expect(() => new PrometheusRule(byKind('PrometheusRule') as never).validate()).not.toThrow();
    const monitor = structuredClone(byKind('ServiceMonitor'));
    monitor.spec.endpoints[0].port = 9464;
    expect(() => new ServiceMonitor(monitor as never).validate()).toThrow(/endpoints\/0\/port must be string/);
    const rule = structuredClone(byKind('PrometheusRule'));
    delete rule.spec.groups[0].rules[0].expr;
    expect(() => new PrometheusRule(rule as never).validate()).toThrow(/must have required property expr/);
  });

  it('the PrometheusRule holds exactly the rules of config/prometheus/alerts.yml (`npm run rules`)', () => {
    const source = parse(readFileSync(join(ROOT, 'config', 'prometheus', 'alerts.yml'), 'utf8')) as { groups: unknown };
    expect(byKind('PrometheusRule').spec.groups).toEqual(source.groups);
  });

  it('one daemon: one replica, Recreate, and a grace period longer than the daemon’s own', () => {
    const deployment = byKind('Deployment');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    const config = configSchema.parse(parse(byKind('ConfigMap').data['lifeboat.yaml']));
    const grace = deployment.spec.template.spec.terminationGracePeriodSeconds * 1000;
    expect(grace).toBeGreaterThan(parseDuration(config.daemon.shutdownGracePeriod));
  });

  it('runs the image as its Dockerfile and the compose example do: user, paths, port, probes, hardening', () => {
    const deployment = byKind('Deployment');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.securityContext.capabilities.drop).toEqual(['ALL']);
    // The config where LIFEBOAT_CONFIG points, the secrets where the config reads them, /tmp writable.
    expect(dockerfile).toContain('LIFEBOAT_CONFIG=/etc/lifeboat/lifeboat.yaml');
    const mounts = Object.fromEntries(
      container.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]),
    );
    expect(mounts).toEqual({ '/etc/lifeboat': 'config', '/run/secrets': 'secrets', '/tmp': 'tmp' });
    const config = configSchema.parse(parse(byKind('ConfigMap').data['lifeboat.yaml']));
    const secret = byKind('Secret');
    const files = [
      config.storage.type === 's3' ? config.storage.secretAccessKeyFile : undefined,
      ...config.targets.map((t) => (t.driver === 'postgres' ? t.passwordFile : undefined)),
    ].filter((f) => f !== undefined);
    expect(files.sort()).toEqual(
      Object.keys(secret.stringData)
        .map((key) => `/run/secrets/${key}`)
        .sort(),
    );
    // The metrics port: the config's, the container's, the Service's, the ServiceMonitor's.
    const port = Number(config.metrics.listen.split(':').at(-1));
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: port }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    const service = byKind('Service');
    expect(service.metadata.name).toBe('lifeboat'); // the job label of the scrape, which the rules match
    expect(service.spec.ports).toEqual([{ name: 'metrics', port, targetPort: 'metrics' }]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    const monitor = byKind('ServiceMonitor');
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
  });

  it('the compose example and the ConfigMap hold the same Lifeboat config', () => {
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.example.yml'), 'utf8')) as {
      configs: { lifeboat: { file: string } };
    };
    const composeConfig = parse(readFileSync(join(ROOT, compose.configs.lifeboat.file), 'utf8'));
    expect(parse(byKind('ConfigMap').data['lifeboat.yaml'])).toEqual(composeConfig);
  });
});
