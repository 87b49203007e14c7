// The rules every restore follows, whatever the engine: the core owns them, drivers only move bytes.
import type { Readable } from 'node:stream';
import type { Manifest } from '../catalog/manifest.js';
import type { DestinationState, Driver, RestoreOptions } from '../drivers/driver.js';
import { describeError, LifeboatError } from '../errors.js';
import { measureRoom, type Room } from '../free-space.js';

/**
 * The room a restore of `backup` into `destination` (which holds what `found` says) needs on local disk, and
 * has, when the driver lands the backup there first; undefined when it streams. The artifacts are restored
 * one at a time, each one's file removed before the next: the largest is what needs room.
 */
export async function measureLanding(
  driver: Driver,
  destination: string | undefined,
  found: DestinationState,
  backup: Manifest,
): Promise<Room | undefined> {
  const landing = driver.landing?.(destination, found);
  if (landing === undefined) return undefined;
  return measureRoom({ ...landing, bytes: Math.max(0, ...backup.artifacts.map((a) => a.rawSize)) });
}

/**
 * Restores `raw` into `destination` (undefined: the target itself): a destination that holds data is replaced
 * only when forced, an aborted restore stops before the driver starts, and a failure that is not one of
 * Lifeboat's own errors is told as the driver's.
 */
export async function restoreInto(
  driver: Driver,
  raw: Readable,
  destination: string | undefined,
  options: RestoreOptions,
): Promise<void> {
  const state = await driver.inspectDestination(destination);
  if (state.hasData && !options.force) {
    // The bytes are not read: checkArtifact stops the download when this rejects.
    throw new LifeboatError(
      'DESTINATION_NOT_EMPTY',
      `${driver.name}: restore into ${state.description}: it holds data (${state.detail})`,
      { hint: 'add --force to replace it, or --to another destination' },
    );
  }
  options.signal?.throwIfAborted();
  try {
    await driver.restore(raw, destination, { ...options, found: state });
  } catch (error) {
    if (error instanceof LifeboatError || options.signal?.aborted) throw error;
    throw new LifeboatError(
      'RESTORE_FAILED',
      `${driver.name}: restore into ${state.description}: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  }
}
