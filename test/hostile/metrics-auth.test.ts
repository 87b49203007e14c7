// The metrics endpoint behind a bearer token, basic auth and TLS (finding 19), on a real daemon.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { startDaemon, writeConfig } from '../harness/cli.js';
import { selfSignedCert } from '../harness/tls.js';

async function daemonWith(metrics: Record<string, unknown>) {
  const { dir, path } = await writeConfig({
    storage: { type: 'local', path: './store' },
    metrics: { listen: '127.0.0.1:0', ...metrics },
    targets: [{ name: 'app', driver: 'sqlite', path: './app.db', schedule: '0 0 1 1 *', catchUp: false }],
  });
  new Database(join(dir, 'app.db')).close();
  return { dir, path };
}

describe('metrics endpoint access', () => {
  it('requires the bearer token for /metrics and leaves the probes open', async () => {
    const { dir, path } = await daemonWith({ auth: { bearerTokenFile: './token' } });
    await writeFile(join(dir, 'token'), 's3cr3t-token\n');
    const daemon = await startDaemon(path);
    try {
      expect((await fetch(`${daemon.url}/metrics`)).status).toBe(401);
      const wrong = await fetch(`${daemon.url}/metrics`, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const right = await fetch(`${daemon.url}/metrics`, { headers: { authorization: 'Bearer s3cr3t-token' } });
      expect(right.status).toBe(200);
      expect(await right.text()).toContain('lifeboat_backups_damaged{target="app"} 0');
      expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    } finally {
      const stopped = await daemon.stop();
      expect(stopped.stderr).not.toContain('s3cr3t-token');
    }
  });

  it('takes basic auth, and serves HTTPS with the configured certificate', async () => {
    const { dir, path } = await daemonWith({
      auth: { username: 'prometheus', passwordFile: './password' },
      tls: { certFile: './cert.pem', keyFile: './key.pem' },
    });
    await writeFile(join(dir, 'password'), 'pa55word\n');
    selfSignedCert(dir);
    const daemon = await startDaemon(path);
    const ca = readFileSync(join(dir, 'cert.pem'));
    const get = (auth?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          `${daemon.url}/metrics`,
          { ca, headers: auth === undefined ? {} : { authorization: auth } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      expect(daemon.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await get()).toBe(401);
      expect(await get(`Basic ${Buffer.from('prometheus:wrong').toString('base64')}`)).toBe(401);
      expect(await get(`Basic ${Buffer.from('prometheus:pa55word').toString('base64')}`)).toBe(200);
    } finally {
      await daemon.stop();
    }
  });
});
