// Copies of committed backups to other stores (3-2-1): the artifacts streamed across and proven against the
// manifest, read back from the copy, then the manifest written last there too. The primary is only read.
import { text } from 'node:stream/consumers';
import { deleteBackup } from '../catalog/catalog.js';
import { type Manifest, manifestKey } from '../catalog/manifest.js';
import { describeError, LifeboatError } from '../errors.js';
import { type LeaseOptions, withLease } from '../lease/lease.js';
import type { Logger } from '../log.js';
import { DigestTap } from '../pipeline/digest-tap.js';
import type { Storage } from '../storage/storage.js';
import { compareDigest, storedDigest } from '../verify/verify.js';

const ATTEMPTS = 3;

export interface CopyOptions {
  readonly source: Storage;
  readonly copy: Storage;
  /** The copy's name under `stores:`, for messages and metrics. */
  readonly store: string;
  readonly manifest: Manifest;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** Wait between attempts (tests shorten it). */
  readonly retryDelayMs?: number;
  /**
   * Each attempt holds the target's lease in the copy store, so that no prune of that store (another daemon,
   * `lifeboat --store NAME prune`) runs while the copy is half written.
   */
  readonly lease?: LeaseOptions;
}

/**
 * Copies one committed backup, trying up to three times. Resolves once the copy is committed (its manifest
 * written last); rejects, having removed what it wrote, when every attempt failed. The source is never written.
 */
export async function copyBackup(options: CopyOptions): Promise<void> {
  const { manifest, store, logger } = options;
  const log = logger.child({ target: manifest.target, id: manifest.id, store });
  for (let attempt = 1; ; attempt += 1) {
    try {
      const { lease } = options;
      await (lease === undefined
        ? copyOnce(options)
        : withLease(options.copy, manifest.target, { ...lease, signal: options.signal }, (signal) =>
            copyOnce({ ...options, signal }),
          ));
      log.info({ event: 'copy.end', result: 'success', attempt }, 'backup copied');
      return;
    } catch (error) {
      await deleteBackup(options.copy, manifest.target, manifest.id).catch(() => undefined);
      const last = attempt >= ATTEMPTS || options.signal?.aborted === true;
      log[last ? 'error' : 'warn'](
        { event: 'copy.end', result: last ? 'failure' : 'retry', attempt, error: describeError(error) },
        last ? 'copy failed' : 'copy failed, trying again',
      );
      if (last) {
        throw new LifeboatError(
          'COPY_FAILED',
          `copy ${manifest.target}/${manifest.id} to store ${store}: ${describeError(error)} (after ${attempt} attempts; the backup itself is intact)`,
          { cause: error, hint: error instanceof LifeboatError ? error.hint : undefined },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, (options.retryDelayMs ?? 1000) * attempt));
    }
  }
}

async function copyOnce({ source, copy, manifest, signal }: CopyOptions): Promise<void> {
  for (const artifact of manifest.artifacts) {
    const tap = new DigestTap();
    const body = await source.get(artifact.key, { signal });
    body.once('error', (error) => tap.destroy(error));
    await copy.put(artifact.key, body.pipe(tap), { signal, readBack: true });
    const problems = compareDigest(artifact.key, 'stored', artifact, tap.digest);
    // What the copy store holds, read back: the bytes that went out are not proof of what arrived.
    if (problems.length === 0)
      problems.push(...compareDigest(artifact.key, 'stored', artifact, await storedDigest(copy, artifact.key, signal)));
    if (problems.length > 0) throw new LifeboatError('INTEGRITY', problems.join('; '));
  }
  // The same manifest bytes, written last: the copy exists for list and restore only once it is whole.
  const key = manifestKey(manifest.target, manifest.id);
  const bytes = Buffer.from(await text(await source.get(key, { signal })));
  await copy.put(key, bytes, { signal, contentType: 'application/json' });
}
