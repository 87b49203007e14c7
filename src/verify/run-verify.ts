// `verify`: checks stored backups against their manifests and records each result beside the manifest.
import type { Manifest } from '../catalog/manifest.js';
import { backupPrefix } from '../catalog/manifest.js';
import type { TargetConfig } from '../config/schema.js';
import { createDriver } from '../drivers/create-driver.js';
import type { Storage } from '../storage/storage.js';
import { type VerifyResult, verifyBackup } from './verify.js';

/** Verifies one backup (with the driver's deep check where it has one) and stores the result. */
export async function verifyAndRecord(
  storage: Storage,
  target: TargetConfig,
  manifest: Manifest,
  identities?: readonly string[],
): Promise<VerifyResult> {
  const driver = await createDriver(target);
  const deep = driver.checkDump?.bind(driver);
  let deepProblems: string[] = [];
  const result = await verifyBackup(
    storage,
    manifest,
    deep === undefined
      ? undefined
      : async (artifact, raw) => {
          deepProblems = (await deep(raw)).map((p) => `${artifact.key}: ${p}`);
        },
    identities,
  );
  // The record holds text: the error objects behind a problem are already told in `problems`.
  const artifacts = result.artifacts.map(({ readError: _read, consumeError: _consume, ...a }) => a);
  const merged: VerifyResult =
    deepProblems.length === 0
      ? { ...result, artifacts }
      : {
          ...result,
          ok: false,
          artifacts: artifacts.map((a, i) =>
            i === 0 ? { ...a, ok: false, problems: [...a.problems, ...deepProblems] } : a,
          ),
        };
  // Manifests are never rewritten: each verification is its own object beside the manifest.
  const stamp = merged.verifiedAt.replace(/[-:]/g, '');
  await storage
    .put(
      `${backupPrefix(manifest.target, manifest.id)}verify-${stamp}.json`,
      Buffer.from(`${JSON.stringify(merged, null, 2)}\n`),
      {
        contentType: 'application/json',
      },
    )
    .catch(() => undefined);
  return merged;
}
