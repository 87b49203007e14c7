// `lifeboat backup [TARGET...]`: one backup per target; prints the new ids.

import type { Manifest } from '../catalog/manifest.js';
import { encryptionFor } from '../config/encryption.js';
import { runBackup } from '../core/run-backup.js';
import { copyBackup } from '../core/run-copy.js';
import { LifeboatError } from '../errors.js';
import { leaseOptions, withLease } from '../lease/lease.js';
import { effectiveSettings } from '../scheduler/settings.js';
import { storageForRun } from '../storage/throttled-storage.js';
import { type CommandContext, selectTargets } from './context.js';
import { startProgress } from './progress.js';

export async function backupCommand(
  ctx: CommandContext,
  names: string[],
  options: { json?: boolean },
): Promise<number> {
  const targets = selectTargets(ctx.config, names);
  const verifyUpload = ctx.config.storage.verifyUpload;
  const results: Manifest[] = [];
  let failed = 0;
  for (const target of targets) {
    const progress = startProgress(`backup ${target.name}:`);
    const settings = effectiveSettings(ctx.config, target);
    // The target's rate limits and the process's (the lease's small writes pass them untouched).
    const storage = storageForRun(ctx.storage, ctx.config, target);
    try {
      // Held from the dump to the last copy: no other process backs up or prunes this target meanwhile.
      const lease = { ...leaseOptions(ctx.config, 'lifeboat backup', ctx.logger), signal: ctx.signal };
      await withLease(ctx.storage, target.name, lease, async (signal) => {
        const manifest = await runBackup({
          storage,
          compression: settings.compression,
          priority: settings.priority,
          target,
          logger: ctx.logger,
          verifyUpload,
          signal,
          onProgress: (bytes) => progress.update(bytes),
          encryption: encryptionFor(ctx.config, target),
        });
        progress.stop();
        results.push(manifest);
        if (!options.json) process.stdout.write(`${manifest.id}\t${target.name}\n`);
        // The copies: each its own failure, none touching the committed backup.
        for (const { store } of settings.copies) {
          try {
            await copyBackup({
              source: storage,
              copy: storageForRun(await ctx.store(store), ctx.config, target),
              store,
              manifest,
              logger: ctx.logger,
              signal,
              lease: leaseOptions(ctx.config, 'lifeboat backup', ctx.logger),
            });
            if (!options.json) process.stdout.write(`${manifest.id}\t${target.name}\tcopied to ${store}\n`);
          } catch (error) {
            failed += 1;
            const hint = error instanceof LifeboatError && error.hint !== undefined ? `\nTry: ${error.hint}` : '';
            process.stderr.write(`Error: ${(error as Error).message}${hint}\n`);
          }
        }
      });
    } catch (error) {
      progress.stop();
      failed += 1;
      const hint = error instanceof LifeboatError && error.hint !== undefined ? `\nTry: ${error.hint}` : '';
      process.stderr.write(`Error: ${(error as Error).message}${hint}\n`);
      if (ctx.signal.aborted) break;
    }
  }
  if (options.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return failed === 0 ? 0 : 1;
}
