// `verifyUpload: store` against the real MinIO: the store checks each part's SHA-256 as it arrives and the
// object's is compared with that of the bytes sent, so no download proves a backup. A proxy that breaks every
// download shows that none happens (and that the read-back of `checksum` does); an object changed behind the
// backup's back, or a store that keeps no checksum, are caught or fall back to reading back.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { configSchema, type S3StorageConfig, type TargetConfig } from '../../src/config/schema.js';
import { runBackup } from '../../src/core/run-backup.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { logLines, runCli, writeConfig } from '../harness/cli.js';
import { randomPrefix, s3Client, s3Keys, s3StorageInline } from '../harness/s3.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { randomDatabase } from './hostile-support.js';

const s3 = inject('s3');

describe('verifyUpload: store', () => {
  let proxy: FaultProxy;
  let dir: string;

  const configFor = async (verifyUpload: string, prefix: string) => {
    const path = join(dir, `${verifyUpload}.yaml`);
    await writeFile(
      path,
      JSON.stringify({
        storage: { ...s3StorageInline(s3, prefix), endpoint: proxy.url, partSizeMiB: 5, verifyUpload },
        targets: [{ name: 'app', driver: 'sqlite', path: './app.db', compression: { algorithm: 'none' } }],
      }),
    );
    return path;
  };

  beforeAll(async () => {
    const endpoint = new URL(s3.endpoint);
    proxy = await startFaultProxy(endpoint.hostname, Number(endpoint.port));
    ({ dir } = await writeConfig({}));
    randomDatabase(join(dir, 'app.db'), 12_000);
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it('proves a multipart backup without downloading it; the read-back of checksum needs the download', async () => {
    const prefix = randomPrefix('store');
    const store = await configFor('store', prefix);
    const readBack = await configFor('checksum', randomPrefix('readback'));
    // Every download of more than 1 MB breaks: the uploads' answers are a few hundred bytes each.
    proxy.setFault({ kind: 'reset', direction: 'down', bytes: 1024 * 1024 });
    const backup = await runCli(['--config', store, 'backup', 'app', '--json']);
    const failed = await runCli(['--config', readBack, 'backup', 'app']);
    proxy.setFault({ kind: 'none' });
    expect(backup.code, backup.stderr).toBe(0);
    expect(logLines(backup.stderr).find((l) => l.event === 'backup.end')).toMatchObject({ verified: 'store' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/ECONNRESET|socket hang up|aborted/);
    expect(proxy.injected()).toBeGreaterThan(0);

    // What the store keeps: the SHA-256 of the 5 MiB parts, in order, which the backup compared.
    const [manifest] = JSON.parse(backup.stdout) as { artifacts: { key: string; size: number; sha256: string }[] }[];
    const artifact = manifest?.artifacts[0];
    expect(artifact?.size).toBeGreaterThan(10 * 1024 * 1024);
    const head = await s3Client(s3).send(
      new HeadObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${artifact?.key}`, ChecksumMode: 'ENABLED' }),
    );
    expect(head.ChecksumSHA256).toMatch(new RegExp(`-${Math.ceil((artifact?.size ?? 0) / (5 * 1024 * 1024))}$`));
    // And the backup is whole: verify reads it all, a restore gives back the rows.
    const verify = await runCli(['--config', store, 'verify', 'app']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const restored = await runCli(['--config', store, 'restore', 'app', '--to', join(dir, 'restored.db')]);
    expect(restored.code, restored.stderr).toBe(0);
    const db = new Database(join(dir, 'restored.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(12_000);
    db.close();
  });

  describe('what the store holds is not what was sent', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          lines.push(
            ...chunk
              .toString()
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as Record<string, unknown>),
          );
          callback();
        },
      }),
    );
    const setUp = (prefix: string) => {
      const config = configSchema.parse({
        storage: { ...s3StorageInline(s3, prefix), partSizeMiB: 5, verifyUpload: 'store' },
        targets: [{ name: 'app', driver: 'sqlite', path: join(dir, 'app.db'), compression: { algorithm: 'none' } }],
      });
      return { real: new S3Storage(config.storage as S3StorageConfig), target: config.targets[0] as TargetConfig };
    };
    /** The real store, with some of its methods replaced. */
    const seenThrough = (real: S3Storage, replaced: Partial<Storage>): Storage =>
      new Proxy(real, {
        get(store, name) {
          if (name in replaced) return replaced[name as keyof Storage];
          const value = Reflect.get(store, name, store);
          return typeof value === 'function' ? value.bind(store) : value;
        },
      });

    it('fails the backup when the object was changed after its upload, and leaves nothing', async () => {
      const prefix = randomPrefix('changed');
      const { real, target } = setUp(prefix);
      const storedChecksum = async (key: string) => {
        // Someone else writes the key between the upload and the check: same size, other bytes.
        const size = (await real.head(key))?.size ?? 0;
        await s3Client(s3).send(
          new PutObjectCommand({
            Bucket: s3.bucket,
            Key: `${prefix}${key}`,
            Body: Buffer.alloc(size, 1),
            ChecksumAlgorithm: 'SHA256',
          }),
        );
        return real.storedChecksum?.(key);
      };
      const storage = seenThrough(real, { storedChecksum });
      const backup = runBackup({ storage, target, logger, verifyUpload: 'store' });
      await expect(backup).rejects.toMatchObject({ name: 'BackupFailedError', stage: 'confirm', cleanedUp: true });
      const error = await backup.catch((e: unknown) => e as { cause?: { code?: string; message?: string } });
      expect(error.cause?.code).toBe('INTEGRITY');
      expect(error.cause?.message).toMatch(/the store's SHA-256 .* is not that of the bytes sent/);
      expect(await s3Keys(s3, prefix)).toEqual([]);
    });

    it('reads the object back instead when the store keeps no SHA-256 of it, and says so', async () => {
      const prefix = randomPrefix('nochecksum');
      const { real, target } = setUp(prefix);
      let downloads = 0;
      const storage = seenThrough(real, {
        storedChecksum: async (key) => {
          const kept = await real.storedChecksum?.(key);
          return kept === undefined ? undefined : { size: kept.size, sha256: undefined };
        },
        get: (key, options) => {
          downloads += 1;
          return real.get(key, options);
        },
      });
      lines.length = 0;
      const manifest = await runBackup({ storage, target, logger, verifyUpload: 'store' });
      expect(downloads).toBe(1);
      expect(lines.find((l) => l.event === 'backup.verify_fallback')).toMatchObject({ level: 40 });
      expect(lines.find((l) => l.event === 'backup.end')).toMatchObject({ verified: 'read-back' });
      expect(await s3Keys(s3, prefix)).toContain(`${prefix}${manifest.artifacts[0]?.key}`);
    });
  });
});
