// Verification: re-reads stored bytes and compares size and SHA-256 with the manifest. Returns results.

import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Artifact, Manifest } from '../catalog/manifest.js';
import { now } from '../clock.js';
import { describeError, IntegrityError, LifeboatError } from '../errors.js';
import { collectAlong } from '../memory.js';
import { AgeDecrypter } from '../pipeline/age.js';
import { decompressor } from '../pipeline/compress.js';
import { type Digest, DigestTap } from '../pipeline/digest-tap.js';
import type { Storage } from '../storage/storage.js';

export interface ArtifactCheck {
  readonly key: string;
  readonly ok: boolean;
  /** What is wrong, naming the artifact; empty when ok. */
  readonly problems: readonly string[];
  /**
   * Set when the store could not be read to the end (network, permissions, a stalled connection): the check
   * did not finish, which says nothing about the backup's bytes. `problems` then holds the same text.
   */
  readonly readError?: unknown;
  /** Set when the consumer of the raw bytes (a restore, a driver's deep check) failed on intact bytes. */
  readonly consumeError?: unknown;
  /** Every byte was read and matched the manifest (so a consumer that failed, failed on proven bytes). */
  readonly proven?: boolean;
  /** What was not checked, e.g. the content of an encrypted artifact when no identity was given. */
  readonly note?: string;
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

export interface CheckOptions {
  /**
   * Receives the decompressed bytes (a driver's own check, or a restore). Their end is gated: the stream
   * fails instead of ending when the stored or raw size or SHA-256 differ from the manifest, so a consumer
   * that commits only on a clean end never commits unproven bytes.
   */
  readonly consumeRaw?: (raw: Readable) => Promise<void>;
  readonly signal?: AbortSignal;
  /** Hears the running count of raw bytes (progress lines). */
  readonly onRawBytes?: (rawBytes: number) => void;
  /** age identities that open encrypted artifacts. Without them only the stored bytes can be checked. */
  readonly identities?: readonly string[];
}

/** Reads one artifact, checking stored size and SHA-256 and, after decompression, raw size and SHA-256. */
export async function checkArtifact(
  storage: Storage,
  artifact: Artifact,
  options: CheckOptions = {},
): Promise<ArtifactCheck> {
  const { key } = artifact;
  const { signal } = options;
  const result = (problems: string[], extra: Partial<ArtifactCheck> = {}): ArtifactCheck => ({
    key,
    ok: problems.length === 0,
    problems,
    ...extra,
  });
  if (artifact.encryption !== undefined && (options.identities ?? []).length === 0) {
    if (options.consumeRaw !== undefined) throw missingIdentity(artifact);
    // The content needs the key; the stored bytes can still be proven against the manifest.
    const stored = await storedDigest(storage, key, signal).then(
      (digest) => ({ digest }),
      (error: unknown) => ({ error }),
    );
    if ('error' in stored) {
      if (stored.error instanceof LifeboatError && stored.error.code === 'NOT_FOUND') {
        return result([`${key}: missing from the store`]);
      }
      return result([`${key}: ${describeError(stored.error)}`], { readError: stored.error });
    }
    return result(compareDigest(key, 'stored', artifact, stored.digest), {
      note: 'encrypted: stored size and SHA-256 checked; the content check needs encryption.identityFile',
    });
  }
  let body: Readable;
  try {
    body = await storage.get(key, { signal });
  } catch (error) {
    if (error instanceof LifeboatError && error.code === 'NOT_FOUND') return result([`${key}: missing from the store`]);
    return result([`${key}: ${describeError(error)}`], { readError: error });
  }
  // Where the first failure arose: in the store's stream (a read error), in a decoder (decryption or
  // decompression: bytes that do not decode), or further down (the consumer stopping, a gate); the pipeline
  // then sends that error to every other stream too.
  let failedFirst: 'body' | 'decoder' | 'downstream' | undefined;
  let readError: unknown;
  body.once('error', (error) => {
    failedFirst ??= 'body';
    if (failedFirst === 'body') readError = error;
  });
  const storedTap = new DigestTap();
  let proven = false;
  const rawTap = new DigestTap(options.onRawBytes, (raw) => {
    const found = compareDigest(key, 'stored', artifact, storedTap.digest);
    if (found.length === 0) found.push(...compareDigest(key, 'raw', rawDigest(artifact), raw));
    proven = found.length === 0;
    return proven ? undefined : new IntegrityError(found.join('; '));
  });
  const decoding = decoders(artifact, options.identities);
  const stages = [storedTap, ...decoding, rawTap];
  for (const stage of stages) {
    (stage as unknown as Readable).once('error', () => {
      failedFirst ??= decoding.includes(stage as NodeJS.ReadWriteStream) ? 'decoder' : 'downstream';
    });
  }
  const reading = pipeline([body, ...stages] as never, { signal });
  if (options.consumeRaw === undefined) rawTap.resume();
  // A consumer that fails before it read the bytes to their end (a destination refused before the download)
  // stops the download too: a paused pipeline would otherwise wait for ever, or the process end as if done.
  const consuming =
    options.consumeRaw === undefined
      ? Promise.resolve()
      : options.consumeRaw(rawTap).catch((error: unknown) => {
          if (!rawTap.destroyed) rawTap.destroy(new Error('the reader of the bytes stopped'));
          throw error;
        });
  // Both settle before the result: a restore has stopped its tool and removed its partial files by then.
  const [read, consumed] = await Promise.allSettled([reading as Promise<void>, consuming]);
  if (readError !== undefined) {
    return result([`${key}: read from ${storage.location}: ${describeError(readError)}`], { readError });
  }
  if (read.status === 'rejected' && read.reason instanceof IntegrityError) {
    return result(read.reason.message.split('; '));
  }
  if (read.status === 'rejected' && read.reason instanceof LifeboatError && read.reason.code === 'DECRYPT_KEY') {
    // A key that opens nothing is the configuration's problem, not the backup's.
    throw new LifeboatError('DECRYPT_KEY', `${key}: ${read.reason.message}`, { hint: read.reason.hint });
  }
  if (consumed.status === 'rejected' && (read.status === 'fulfilled' || consumed.reason !== read.reason)) {
    // Both failed, the decoder first: a damaged byte that broke decompression makes the consumer fail too.
    // Damaged stored bytes are the backup's fault. (A consumer that failed first on bytes that decode, a
    // restore tool's own error, costs no second download.)
    if (read.status === 'rejected' && failedFirst === 'decoder' && !signal?.aborted) {
      const damaged = await storedProblems(storage, artifact, storedTap, signal);
      if (damaged.length > 0) return result([...damaged, `${key}: ${describeError(read.reason)}`]);
    }
    return result([`${key}: ${describeError(consumed.reason)}`], { consumeError: consumed.reason, proven });
  }
  if (read.status === 'rejected') {
    const error = read.reason;
    if (signal?.aborted) return result([`${key}: ${describeError(error)}`], { readError: error });
    // A damaged byte usually breaks decompression before the digests are known: say whether the stored
    // bytes differ too (they were read to the end when the stored tap finished).
    return result([...(await storedProblems(storage, artifact, storedTap, signal)), `${key}: ${describeError(error)}`]);
  }
  return result([]);
}

/** How the stored bytes differ from the manifest: from the tap when it read them all, else read again. */
async function storedProblems(
  storage: Storage,
  artifact: Artifact,
  storedTap: DigestTap,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const stored = storedTap.writableFinished
    ? storedTap.digest
    : await storedDigest(storage, artifact.key, signal).catch(() => undefined);
  return stored === undefined ? [] : compareDigest(artifact.key, 'stored', artifact, stored);
}

function rawDigest(artifact: Artifact): Digest {
  return { size: artifact.rawSize, sha256: artifact.rawSha256 };
}

/**
 * The stages that turn an artifact's stored bytes back into the raw dump: decryption (with `identities`)
 * when it is encrypted, then decompression.
 */
export function decoders(artifact: Artifact, identities: readonly string[] = []): NodeJS.ReadWriteStream[] {
  const stages: NodeJS.ReadWriteStream[] = [];
  if (artifact.encryption !== undefined) {
    if (identities.length === 0) throw missingIdentity(artifact);
    stages.push(new AgeDecrypter(identities));
  }
  const decompressing = decompressor(artifact.compression);
  if (decompressing !== undefined) stages.push(decompressing);
  return stages;
}

/** An encrypted artifact and no key to open it: a configuration problem, not a damaged backup. */
export function missingIdentity(artifact: Artifact): LifeboatError {
  return new LifeboatError(
    'DECRYPT_KEY',
    `${artifact.key} is encrypted (age, for ${artifact.encryption?.recipients.join(', ')}) and no identity is configured`,
    { exitCode: 2, hint: 'set encryption.identityFile to the age key file (age-keygen) these backups were made for' },
  );
}

/** Size and SHA-256 of the stored bytes of one object, without decompressing them. */
export async function storedDigest(storage: Storage, key: string, signal?: AbortSignal): Promise<Digest> {
  // A read-back after an upload is a long stream too: what its reads leave behind is collected as a backup's
  // own is. A 10.9 GB zstd backup to MinIO, RSS sampled each second: its read-back of 2.6 GB rose to 200 and
  // 172 MB without these collections (the upload to 196 and 186), to 149 and 165 MB with them.
  const tap = new DigestTap(collectAlong());
  tap.resume();
  await pipeline(await storage.get(key, { signal }), tap, { signal });
  return tap.digest;
}

/** Verifies every artifact of a backup. */
export async function verifyBackup(
  storage: Storage,
  manifest: Manifest,
  deepCheck?: (artifact: Artifact, raw: Readable) => Promise<void>,
  identities?: readonly string[],
): Promise<VerifyResult> {
  const artifacts: ArtifactCheck[] = [];
  for (const artifact of manifest.artifacts) {
    artifacts.push(
      await checkArtifact(storage, artifact, {
        identities,
        // Without a key an encrypted artifact's content cannot be read: its stored bytes are still checked.
        consumeRaw:
          deepCheck === undefined || (artifact.encryption !== undefined && (identities ?? []).length === 0)
            ? undefined
            : (raw) => deepCheck(artifact, raw),
      }),
    );
  }
  return {
    target: manifest.target,
    id: manifest.id,
    ok: artifacts.every((a) => a.ok),
    verifiedAt: now().toISOString(),
    artifacts,
  };
}
