// MinIO users with IAM policies, made with MinIO's own client (mc, built by scripts/install-test-servers.sh),
// for the least-privilege tests.
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedTool } from './cache.js';
import type { S3Server } from './minio.js';

export function mcBinary(): string {
  return cachedTool('mc', process.env.LIFEBOAT_MC_BIN);
}

/** Creates user `name` on the suite's MinIO with an IAM policy of `statements`; returns its keys. */
export async function minioUser(
  s3: S3Server,
  name: string,
  statements: { Effect: 'Allow' | 'Deny'; Action: string[]; Resource: string[] }[],
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const config = await mkdtemp(join(tmpdir(), 'lifeboat-mc-'));
  const env = { ...process.env, MC_CONFIG_DIR: config };
  const mc = (args: string[]) => execFileSync(mcBinary(), ['--quiet', ...args], { env, stdio: 'pipe' });
  mc(['alias', 'set', 'suite', s3.endpoint, s3.accessKeyId, s3.secretAccessKey]);
  const accessKeyId = `${name}-${Math.random().toString(36).slice(2, 8)}`;
  const secretAccessKey = `${accessKeyId}-secret-key`;
  mc(['admin', 'user', 'add', 'suite', accessKeyId, secretAccessKey]);
  const policy = join(config, 'policy.json');
  await writeFile(policy, JSON.stringify({ Version: '2012-10-17', Statement: statements }));
  mc(['admin', 'policy', 'create', 'suite', accessKeyId, policy]);
  mc(['admin', 'policy', 'attach', 'suite', accessKeyId, '--user', accessKeyId]);
  return { accessKeyId, secretAccessKey };
}
