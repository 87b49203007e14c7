// Writes deploy/kubernetes/prometheusrule.yaml from the one source of the alert rules,
// config/prometheus/alerts.yml (`npm run rules`); a test fails when the two differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

const source = new URL('../../config/prometheus/alerts.yml', import.meta.url);
const target = new URL('../../deploy/kubernetes/prometheusrule.yaml', import.meta.url);
const { groups } = parse(readFileSync(source, 'utf8')) as { groups: unknown[] };
const rule = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: { name: 'lifeboat', labels: { 'app.kubernetes.io/name': 'lifeboat' } },
  spec: { groups },
};
const header =
  '# Generated from config/prometheus/alerts.yml by `npm run rules`: edit that file, not this one.\n' +
  '# Prometheus Operator: the alert rules of docker-compose.example.yml, for the ServiceMonitor\'s job "lifeboat".\n';
writeFileSync(target, header + stringify(rule, { lineWidth: 0 }));
process.stdout.write(`wrote ${target.pathname}\n`);
