// The rules every restore follows, whatever the engine: the core owns them, drivers only move bytes.
import type { Readable } from 'node:stream';
import type { Driver, RestoreOptions } from '../drivers/driver.js';
import { describeError, LifeboatError } from '../errors.js';

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
