// S3 over TLS with a private CA (storage.caFile) and server-side encryption passed through (SSE-S3 and
// SSE-KMS), against a real MinIO started here with a certificate made in the test and a KMS key.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeConfig } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { minioBinary } from '../harness/minio.js';
import { selfSignedCert } from '../harness/tls.js';
import { waitForCondition } from '../hostile/hostile-support.js';

const user = 'tls-admin';
const password = 'tls-admin-secret';

describe('S3 over TLS with a private CA, and server-side encryption', () => {
  let dir: string;
  let child: ChildProcess;
  let endpoint: string;
  let ca: string;
  let client: S3Client;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-tls-'));
    const certs = join(dir, 'certs');
    await mkdir(certs);
    ca = selfSignedCert(certs, 'public.crt', 'private.key').certFile;
    const port = await freePort();
    endpoint = `https://127.0.0.1:${port}`;
    child = spawn(
      minioBinary(),
      [
        'server',
        join(dir, 'data'),
        '--address',
        `127.0.0.1:${port}`,
        '--console-address',
        `127.0.0.1:${await freePort()}`,
        '--certs-dir',
        certs,
        '--quiet',
      ],
      {
        env: {
          ...process.env,
          MINIO_ROOT_USER: user,
          MINIO_ROOT_PASSWORD: password,
          MINIO_BROWSER: 'off',
          MINIO_KMS_SECRET_KEY: `lifeboat-key:${randomBytes(32).toString('base64')}`,
        },
        stdio: 'ignore',
      },
    );
    const pem = readFileSync(ca);
    await waitForCondition(
      () =>
        new Promise<boolean>((resolve) => {
          const req = request(`${endpoint}/minio/health/ready`, { ca: pem }, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
          });
          req.on('error', () => resolve(false));
          req.end();
        }),
      60_000,
    );
    client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: user, secretAccessKey: password },
      requestHandler: { httpsAgent: new Agent({ ca: pem }) },
    });
    await client.send(new CreateBucketCommand({ Bucket: 'tls' }));
  });

  afterAll(async () => {
    client?.destroy();
    child?.kill('SIGTERM');
    await new Promise((resolve) => (child?.exitCode !== null ? resolve(undefined) : child.once('close', resolve)));
    await rm(dir, { recursive: true, force: true });
  });

  async function config(extra: Record<string, unknown>) {
    const made = await writeConfig({
      storage: {
        type: 's3',
        bucket: 'tls',
        endpoint,
        forcePathStyle: true,
        accessKeyId: user,
        secretAccessKey: password,
        ...extra,
      },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db' }],
    });
    const db = new Database(join(made.dir, 'app.db'));
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES ('tls')");
    db.close();
    return made;
  }

  it('refuses an untrusted certificate with a hint, and works with storage.caFile', async () => {
    const untrusted = await config({ prefix: 'no-ca/' });
    const refused = await runCli(['--config', untrusted.path, 'backup', 'app']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/self-signed certificate|unable to verify/i);
    expect(refused.stderr).toContain('Try: the TLS certificate of');
    expect(refused.stderr).toContain('storage.caFile');

    const trusted = await config({ prefix: 'ca/', caFile: ca });
    const backup = await runCli(['--config', trusted.path, 'backup', 'app']);
    expect(backup.code, backup.stderr).toBe(0);
    const restored = await runCli(['--config', trusted.path, 'restore', 'app', '--to', join(trusted.dir, 'r.db')]);
    expect(restored.code, restored.stderr).toBe(0);
    const check = await runCli(['--config', trusted.path, 'config', 'check']);
    expect(check.stderr).not.toContain('plain HTTP');
  });

  it('passes server-side encryption through: SSE-S3 and SSE-KMS with a key id', async () => {
    for (const [prefix, sse, expected] of [
      ['sse-s3/', { serverSideEncryption: 'AES256' }, 'AES256'],
      ['sse-kms/', { serverSideEncryption: 'aws:kms', sseKmsKeyId: 'lifeboat-key' }, 'aws:kms'],
    ] as const) {
      const { path } = await config({ prefix, caFile: ca, ...sse });
      const backup = await runCli(['--config', path, 'backup', 'app']);
      expect(backup.code, backup.stderr).toBe(0);
      const keys = (await client.send(new ListObjectsV2Command({ Bucket: 'tls', Prefix: prefix }))).Contents ?? [];
      expect(keys.length).toBe(2);
      for (const object of keys) {
        const head = await client.send(new HeadObjectCommand({ Bucket: 'tls', Key: object.Key }));
        expect(head.ServerSideEncryption, object.Key).toBe(expected);
        if (expected === 'aws:kms') expect(head.SSEKMSKeyId).toContain('lifeboat-key');
      }
      expect((await runCli(['--config', path, 'verify', 'app'])).code).toBe(0);
    }
  });
});
