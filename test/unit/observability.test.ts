// The shipped alert rules and Grafana dashboard: they parse, and they use only metrics the daemon exports.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LifeboatMetrics } from '../../src/metrics/metrics.js';
import { metricFamilies } from '../support/prom.js';

const root = join(import.meta.dirname, '..', '..');
const PROMETHEUS_OWN = new Set(['up']);
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Metric names an expression selects (functions, keywords, labels, durations and strings removed). */
function metricsIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = [...stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)]
    .filter((m) => m[2] === undefined)
    .map((m) => m[1] as string)
    .filter((name) => !PROMQL_WORDS.has(name.toLowerCase()));
  return [...new Set(names)];
}

async function exported(): Promise<Set<string>> {
  const metrics = new LifeboatMetrics([
    { name: 'x', intervalSeconds: 60, drillIntervalSeconds: 600, rpoObjectiveSeconds: 3600, rtoObjectiveSeconds: 60 },
  ]);
  metrics.recordRun('x', 'success', { durationSeconds: 1, storedBytes: 1, rawBytes: 2 });
  metrics.recordDrill(
    'x',
    {
      ok: true,
      finishedAt: new Date(),
      restored: true,
      timings: { download: 1, verify: 1, restore: 1, checks: 1, total: 4 },
    },
    true,
  );
  const text = await metrics.registry.metrics();
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (match?.[1] !== undefined) names.add(match[1]);
  }
  for (const family of metricFamilies(text)) names.add(family);
  return names;
}

describe('alert rules (config/prometheus/alerts.yml)', () => {
  const doc = parse(readFileSync(join(root, 'config/prometheus/alerts.yml'), 'utf8')) as {
    groups: {
      name: string;
      rules: { alert: string; expr: string; for?: string; labels: object; annotations: object }[];
    }[];
  };
  const rules = doc.groups.flatMap((g) => g.rules);

  it('has the promised alerts, each with an expression, a severity and a summary', () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'LifeboatBackupStale',
        'LifeboatBackupFailed',
        'LifeboatNoBackups',
        'LifeboatDaemonDown',
      ]),
    );
    for (const rule of rules) {
      expect(rule.expr.length).toBeGreaterThan(0);
      expect(rule.labels).toHaveProperty('severity');
      expect(rule.annotations).toHaveProperty('summary');
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smhd]$/);
      let depth = 0;
      for (const char of rule.expr) {
        depth += char === '(' ? 1 : char === ')' ? -1 : 0;
        expect(depth).toBeGreaterThanOrEqual(0);
      }
      expect(depth).toBe(0);
    }
  });

  it('refers only to metrics the daemon exports (and Prometheus’ own `up`)', async () => {
    const names = await exported();
    for (const rule of rules) {
      const used = metricsIn(rule.expr);
      expect(used.length, rule.alert).toBeGreaterThan(0);
      expect(
        used.filter((m) => !names.has(m) && !PROMETHEUS_OWN.has(m)),
        rule.alert,
      ).toEqual([]);
    }
  });

  it('the metric-name extraction itself finds names and ignores functions, labels and keywords', () => {
    expect(metricsIn('increase(a_total{x="b c"}[1d]) > 0 and on(instance) (time() - b_seconds) > 3600')).toEqual([
      'a_total',
      'b_seconds',
    ]);
    expect(metricsIn('histogram_quantile(0.5, sum by (target, le) (rate(h_bucket[5m])))')).toEqual(['h_bucket']);
  });
});

describe('Grafana dashboard (config/grafana/lifeboat.json)', () => {
  const dashboard = JSON.parse(readFileSync(join(root, 'config/grafana/lifeboat.json'), 'utf8')) as {
    uid: string;
    panels: { title: string; targets: { expr: string }[] }[];
  };

  it('uses only exported metrics in every panel, and shows freshness first', async () => {
    const names = await exported();
    expect(dashboard.uid).toBe('lifeboat');
    expect(dashboard.panels[0]?.targets[0]?.expr).toBe('lifeboat_backup_age_seconds');
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) {
        expect(
          metricsIn(target.expr).filter((m) => !names.has(m)),
          panel.title,
        ).toEqual([]);
      }
    }
  });
});
