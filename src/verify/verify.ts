// Verification: re-reads stored bytes and compares size and SHA-256 with the manifest. Returns results.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Artifact, Manifest } from '../catalog/manifest.js';
import { describeError } from '../errors.js';
import { type Digest, DigestTap } from '../pipeline/digest-tap.js';
import type { Storage } from '../storage/storage.js';

export interface ArtifactCheck {
  readonly key: string;
  readonly ok: boolean;
  /** What is wrong, naming the artifact; empty when ok. */
  readonly problems: readonly string[];
}

export interface VerifyResult {
  readonly target: string;
  readonly id: string;
  readonly ok: boolean;
  readonly verifiedAt: string;
  readonly artifacts: readonly ArtifactCheck[];
}

/** Compares a computed digest with what the manifest promised for `key`. */
export function compareDigest(key: string, what: 'stored' | 'raw', expected: Digest, actual: Digest): string[] {
  const problems: string[] = [];
  if (expected.size !== actual.size) {
    problems.push(`${key}: ${what} size ${actual.size} bytes, manifest says ${expected.size}`);
  }
  if (expected.sha256 !== actual.sha256) {
    problems.push(`${key}: ${what} SHA-256 ${actual.sha256}, manifest says ${expected.sha256}`);
  }
  return problems;
}

/**
 * Reads one artifact, checking stored size and SHA-256 and, after decompression, raw size and SHA-256.
 * `consumeRaw`, when given, receives the decompressed bytes (for a driver's own check or a restore).
 */
export async function checkArtifact(
  storage: Storage,
  artifact: Artifact,
  consumeRaw?: (raw: Readable) => Promise<void>,
  signal?: AbortSignal,
): Promise<ArtifactCheck> {
  const storedTap = new DigestTap();
  const rawTap = new DigestTap();
  const problems: string[] = [];
  try {
    const body = await storage.get(artifact.key, { signal });
    const stages: NodeJS.ReadWriteStream[] = [storedTap];
    if (artifact.compression === 'gzip') stages.push(createGunzip());
    stages.push(rawTap);
    const reading = pipeline([body, ...stages] as never, { signal });
    if (consumeRaw !== undefined) {
      await Promise.all([reading, consumeRaw(rawTap)]);
    } else {
      rawTap.resume();
      await reading;
    }
    problems.push(...compareDigest(artifact.key, 'stored', artifact, storedTap.digest));
    if (problems.length === 0) {
      problems.push(
        ...compareDigest(artifact.key, 'raw', { size: artifact.rawSize, sha256: artifact.rawSha256 }, rawTap.digest),
      );
    }
  } catch (error) {
    // A damaged byte usually breaks decompression first: say whether the stored bytes differ too.
    const stored = await storedDigest(storage, artifact.key, signal).catch(() => undefined);
    if (stored !== undefined) problems.push(...compareDigest(artifact.key, 'stored', artifact, stored));
    problems.push(`${artifact.key}: ${describeError(error)}`);
  }
  return { key: artifact.key, ok: problems.length === 0, problems };
}

/** Size and SHA-256 of the stored bytes of one object, without decompressing them. */
export async function storedDigest(storage: Storage, key: string, signal?: AbortSignal): Promise<Digest> {
  const tap = new DigestTap();
  tap.resume();
  await pipeline(await storage.get(key, { signal }), tap, { signal });
  return tap.digest;
}

/** Verifies every artifact of a backup. */
export async function verifyBackup(
  storage: Storage,
  manifest: Manifest,
  deepCheck?: (artifact: Artifact, raw: Readable) => Promise<void>,
): Promise<VerifyResult> {
  const artifacts: ArtifactCheck[] = [];
  for (const artifact of manifest.artifacts) {
    artifacts.push(
      await checkArtifact(storage, artifact, deepCheck === undefined ? undefined : (raw) => deepCheck(artifact, raw)),
    );
  }
  return {
    target: manifest.target,
    id: manifest.id,
    ok: artifacts.every((a) => a.ok),
    verifiedAt: new Date().toISOString(),
    artifacts,
  };
}
