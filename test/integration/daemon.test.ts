// The daemon end to end with real SQLite files and a local store: scheduled runs, retention after each backup,
// metrics and health read back over HTTP, webhooks to a real HTTP server, catch-up and a clean stop.

import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { logLines, runCli, startDaemon, writeConfig } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { parseSamples, sampleValue } from '../support/prom.js';

interface Hook {
  readonly path: string;
  readonly body: Record<string, unknown>;
}

describe('lifeboat daemon (sqlite, local store)', () => {
  let hooks: Hook[];
  let server: Server;
  let hookBase: string;

  beforeAll(async () => {
    hooks = [];
    server = createServer((request, response) => {
      let text = '';
      request.on('data', (c: Buffer) => {
        text += c.toString();
      });
      request.on('end', () => {
        hooks.push({ path: request.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
        response.writeHead(request.url === '/broken' ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hookBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  function makeDatabase(path: string): void {
    const db = new Database(path);
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    db.prepare('INSERT INTO notes (body) VALUES (?)').run('hello');
    db.close();
  }

  it('backs up on schedule, prunes after each backup, serves metrics and health, calls webhooks, stops cleanly', async () => {
    const closedPort = await freePort();
    const { dir, path } = await writeConfig({
      storage: { type: 'local', path: './store' },
      defaults: {
        schedule: '* * * * * *',
        retries: 0,
        retention: { last: 2 },
        webhooks: [
          { url: `${hookBase}/hook?token=s3cr3t`, on: ['success', 'failure'], retries: 0 },
          { url: `${hookBase}/broken`, on: ['failure'], retries: 1 },
          { url: `http://127.0.0.1:${closedPort}/nobody`, on: ['success'], retries: 0, timeout: '1s' },
        ],
      },
      metrics: { listen: '127.0.0.1:0' },
      targets: [
        { name: 'shop', driver: 'sqlite', path: './shop.db' },
        { name: 'gone', driver: 'sqlite', path: './missing.db', schedule: '*/2 * * * * *' },
      ],
    });
    makeDatabase(join(dir, 'shop.db'));
    const daemon = await startDaemon(path);
    const metrics = async () => parseSamples(await (await fetch(`${daemon.url}/metrics`)).text());
    // Four backups, and the prune after the fourth: a run is counted before the prune that follows it.
    await expect
      .poll(
        async () => {
          const now = await metrics();
          const runs = sampleValue(now, 'lifeboat_backup_runs_total', { target: 'shop', result: 'success' }) ?? 0;
          const deleted = sampleValue(now, 'lifeboat_retention_deleted_total', { target: 'shop' }) ?? 0;
          return runs >= 4 && deleted >= 2;
        },
        {
          timeout: 20_000,
          interval: 250,
        },
      )
      .toBe(true);

    const samples = await metrics();
    const shop = { target: 'shop' };
    expect(sampleValue(samples, 'lifeboat_backups_stored', shop)).toBe(2);
    expect(sampleValue(samples, 'lifeboat_retention_deleted_total', shop)).toBeGreaterThanOrEqual(2);
    expect(sampleValue(samples, 'lifeboat_backup_last_success', shop)).toBe(1);
    expect(sampleValue(samples, 'lifeboat_backup_age_seconds', shop)).toBeLessThan(5);
    expect(sampleValue(samples, 'lifeboat_backup_schedule_interval_seconds', shop)).toBe(1);
    expect(sampleValue(samples, 'lifeboat_backup_last_size_bytes', shop)).toBeGreaterThan(0);
    expect(sampleValue(samples, 'lifeboat_backup_last_raw_size_bytes', shop)).toBe(8192);
    expect(sampleValue(samples, 'lifeboat_backup_stored_bytes', shop)).toBeGreaterThan(0);
    const lastSuccess = sampleValue(samples, 'lifeboat_backup_last_success_timestamp_seconds', shop) ?? 0;
    expect(Math.abs(Date.now() / 1000 - lastSuccess)).toBeLessThan(10);
    expect(sampleValue(samples, 'lifeboat_backup_runs_total', { target: 'gone', result: 'failure' })).toBeGreaterThan(
      0,
    );
    expect(sampleValue(samples, 'lifeboat_backup_last_success', { target: 'gone' })).toBe(0);
    expect(sampleValue(samples, 'lifeboat_backups_stored', { target: 'gone' })).toBe(0);
    expect(sampleValue(samples, 'lifeboat_backup_age_seconds', { target: 'gone' })).toBeUndefined();
    expect(sampleValue(samples, 'lifeboat_webhook_failures_total', shop)).toBeGreaterThan(0);
    expect(sampleValue(samples, 'lifeboat_backup_duration_seconds_count', { ...shop, result: 'success' })).toBe(
      sampleValue(samples, 'lifeboat_backup_runs_total', { ...shop, result: 'success' }),
    );
    expect(samples.find((s) => s.name === 'lifeboat_build_info')?.labels.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(sampleValue(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    const health = await fetch(`${daemon.url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    const ready = await fetch(`${daemon.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toContain('storage local:');

    const result = await daemon.stop();
    expect(result.code).toBe(0);
    // Listed once stopped: while running, a backup may be committed and not yet pruned.
    const listed = await runCli(['--config', path, 'list', 'shop', '--json']);
    expect((JSON.parse(listed.stdout) as unknown[]).length).toBe(2);
    const logs = logLines(result.stderr);
    const ends = logs.filter((l) => l.event === 'backup.end' && l.target === 'shop' && l.result === 'success');
    expect(ends.length).toBeGreaterThanOrEqual(4);
    for (const end of ends) {
      expect(end).toMatchObject({ id: expect.any(String), bytes: expect.any(Number), durationMs: expect.any(Number) });
    }
    expect(logs.some((l) => l.event === 'backup.end' && l.target === 'gone' && l.result === 'failure')).toBe(true);
    expect(logs.some((l) => l.event === 'webhook.failed' && l.host === `127.0.0.1:${closedPort}`)).toBe(true);
    expect(logs.find((l) => l.event === 'daemon.stopped')).toMatchObject({ clean: true, aborted: 0 });
    expect(result.stderr).not.toContain('s3cr3t');

    const success = hooks.find((h) => h.path.startsWith('/hook') && h.body.result === 'success');
    expect(success?.body).toMatchObject({ event: 'backup', target: 'shop', id: expect.stringMatching(/^\d{8}T/) });
    expect(success?.body.text).toMatch(/^lifeboat: backup of shop succeeded in /);
    const failure = hooks.find((h) => h.path.startsWith('/hook') && h.body.result === 'failure');
    expect(failure?.body).toMatchObject({ target: 'gone', result: 'failure' });
    expect(String(failure?.body.error)).toContain('missing.db');
    expect(failure?.body.text).toMatch(/^lifeboat: backup of gone FAILED after /);
    // The failing /broken hook was retried once per failure and never turned a success into a failure.
    expect(hooks.filter((h) => h.path === '/broken').length).toBeGreaterThanOrEqual(2);
    expect(hooks.some((h) => h.path === '/broken' && h.body.target === 'shop')).toBe(false);
  });

  it('catches up once at start when a due time passed while it was down, and not when none did', async () => {
    const { dir, path } = await writeConfig({
      storage: { type: 'local', path: './store' },
      defaults: { schedule: '0 3 * * *' },
      metrics: { listen: '127.0.0.1:0' },
      targets: [{ name: 'nightly', driver: 'sqlite', path: './n.db' }],
    });
    makeDatabase(join(dir, 'n.db'));
    const first = await startDaemon(path);
    await expect
      .poll(async () => (await runCli(['--config', path, 'list', 'nightly', '--json'])).stdout, { timeout: 15_000 })
      .toMatch(/"id"/);
    const firstRun = await first.stop();
    expect(firstRun.code).toBe(0);
    const firstStart = logLines(firstRun.stderr).find((l) => l.event === 'daemon.start');
    expect(firstStart?.targets).toEqual([expect.objectContaining({ target: 'nightly', catchUp: true })]);
    expect(logLines(firstRun.stderr).filter((l) => l.event === 'backup.start')).toEqual([
      expect.objectContaining({ reason: 'catch-up', target: 'nightly' }),
    ]);

    const second = await startDaemon(path);
    const samples = parseSamples(await (await fetch(`${second.url}/metrics`)).text());
    expect(sampleValue(samples, 'lifeboat_backups_stored', { target: 'nightly' })).toBe(1);
    const secondRun = await second.stop();
    const secondStart = logLines(secondRun.stderr).find((l) => l.event === 'daemon.start');
    expect(secondStart?.targets).toEqual([expect.objectContaining({ target: 'nightly', catchUp: false })]);
    expect(logLines(secondRun.stderr).filter((l) => l.event === 'backup.start')).toEqual([]);
  });

  it('refuses to start without any scheduled target, and names the problem', async () => {
    const { path } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'a', driver: 'sqlite', path: './a.db' }],
    });
    const result = await runCli(['--config', path, 'daemon']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Error: targets: no target has a schedule');
    expect(result.stderr).toContain('Try: set `schedule:` on a target');
  });

  it('fails to start with a clear error when the metrics port is taken', async () => {
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const { path } = await writeConfig({
        storage: { type: 'local', path: './store' },
        defaults: { schedule: '0 3 * * *', catchUp: false },
        metrics: { listen: `127.0.0.1:${port}` },
        targets: [{ name: 'a', driver: 'sqlite', path: './a.db' }],
      });
      const result = await runCli(['--config', path, 'daemon']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Error: metrics: listen on 127.0.0.1:${port}: EADDRINUSE`);
      expect(result.stderr).toContain('Try: another process uses that port');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('lifeboat daemon drills', () => {
  it('runs drills on their schedule, exports their metrics, and reads the last one back after a restart', async () => {
    const config = (drillSchedule: string) => ({
      storage: { type: 'local', path: './store' },
      defaults: { schedule: '* * * * * *', retention: { last: 3 } },
      metrics: { listen: '127.0.0.1:0' },
      targets: [
        {
          name: 'shop',
          driver: 'sqlite',
          path: './shop.db',
          drill: {
            schedule: drillSchedule,
            to: './scratch',
            objectives: { rpo: '1h', rto: '10m' },
            checks: [{ name: 'notes', sql: 'SELECT count(*) FROM notes', expect: '= manifest' }],
          },
        },
        {
          name: 'bad',
          driver: 'sqlite',
          path: './shop.db',
          drill: {
            schedule: drillSchedule,
            to: './scratch',
            checks: [{ name: 'impossible', sql: 'SELECT count(*) FROM notes', expect: '< 0' }],
          },
        },
      ],
    });
    const { dir, path } = await writeConfig(config('*/2 * * * * *'));
    const db = new Database(join(dir, 'shop.db'));
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('a'), ('b')");
    db.close();
    const daemon = await startDaemon(path);
    const metrics = async () => parseSamples(await (await fetch(`${daemon.url}/metrics`)).text());
    const shop = { target: 'shop' };
    await expect
      .poll(async () => sampleValue(await metrics(), 'lifeboat_drill_runs_total', { ...shop, result: 'success' }), {
        timeout: 20_000,
        interval: 250,
      })
      .toBeGreaterThanOrEqual(2);
    await expect
      .poll(
        async () => sampleValue(await metrics(), 'lifeboat_drill_runs_total', { target: 'bad', result: 'failure' }),
        {
          timeout: 10_000,
          interval: 250,
        },
      )
      .toBeGreaterThanOrEqual(1);
    const samples = await metrics();
    expect(sampleValue(samples, 'lifeboat_drill_last_success', { target: 'bad' })).toBe(0);
    expect(sampleValue(samples, 'lifeboat_drill_last_success', shop)).toBe(1);
    expect(sampleValue(samples, 'lifeboat_drill_runs_total', { ...shop, result: 'failure' })).toBe(0);
    expect(sampleValue(samples, 'lifeboat_drill_last_rto_seconds', shop)).toBeGreaterThan(0);
    expect(sampleValue(samples, 'lifeboat_drill_last_stage_seconds', { ...shop, stage: 'restore' })).toBeGreaterThan(0);
    expect(sampleValue(samples, 'lifeboat_rpo_objective_seconds', shop)).toBe(3600);
    expect(sampleValue(samples, 'lifeboat_rto_objective_seconds', shop)).toBe(600);
    expect(sampleValue(samples, 'lifeboat_drill_schedule_interval_seconds', shop)).toBe(2);
    expect(sampleValue(samples, 'lifeboat_rpo_seconds', shop)).toBeLessThan(5);
    const first = await daemon.stop();
    expect(first.code).toBe(0);
    const ends = logLines(first.stderr).filter((l) => l.event === 'drill.end' && l.target === 'shop');
    expect(ends.length).toBeGreaterThanOrEqual(2);
    expect(ends.every((l) => l.result === 'success')).toBe(true);
    expect(logLines(first.stderr).find((l) => l.event === 'drill.end' && l.target === 'bad')).toMatchObject({
      result: 'failure',
      stage: 'checks',
      error: 'check impossible failed: got 2, expected < 0',
    });
    expect(readdirSync(join(dir, 'scratch'))).toEqual([]);
    const lastDrillAt = sampleValue(samples, 'lifeboat_drill_last_timestamp_seconds', shop) ?? 0;

    await writeFile(path, stringify(config('0 0 1 1 *')));
    const again = await startDaemon(path);
    const after = parseSamples(await (await fetch(`${again.url}/metrics`)).text());
    expect(sampleValue(after, 'lifeboat_drill_last_timestamp_seconds', shop)).toBeGreaterThanOrEqual(lastDrillAt);
    expect(sampleValue(after, 'lifeboat_drill_last_success', shop)).toBe(1);
    expect(sampleValue(after, 'lifeboat_drill_runs_total', { ...shop, result: 'success' })).toBe(0);
    expect((await again.stop()).code).toBe(0);
  });
});
